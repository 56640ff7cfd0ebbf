-- Every change to what a login's access lookup reads (services/common/identity/access_store.py: a user, a
-- robot, a project's name or visibility, a membership, a group membership) notifies 'berth_identity', so
-- the token service's and core's cache of those lookups (services/common/identity/access_cache.py) is
-- dropped at commit, in every process, whoever wrote. Row triggers, so a statement that changes nothing
-- (an LDAP login's group sync that finds the same groups, ON CONFLICT DO NOTHING) notifies nothing;
-- PostgreSQL sends one notification per transaction for identical payloads, however many rows.
CREATE FUNCTION berth_notify_identity_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_identity', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_identity_notify AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION berth_notify_identity_change();
CREATE TRIGGER robots_identity_notify AFTER INSERT OR UPDATE OR DELETE ON robots
    FOR EACH ROW EXECUTE FUNCTION berth_notify_identity_change();
CREATE TRIGGER project_members_identity_notify AFTER INSERT OR UPDATE OR DELETE ON project_members
    FOR EACH ROW EXECUTE FUNCTION berth_notify_identity_change();
CREATE TRIGGER user_group_members_identity_notify AFTER INSERT OR UPDATE OR DELETE ON user_group_members
    FOR EACH ROW EXECUTE FUNCTION berth_notify_identity_change();
CREATE TRIGGER projects_identity_notify AFTER INSERT OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION berth_notify_identity_change();
-- Project metadata and timestamps change often (every metadata PUT); only name and visibility are read.
CREATE TRIGGER projects_identity_update_notify AFTER UPDATE OF name, public ON projects
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.public IS DISTINCT FROM NEW.public)
    EXECUTE FUNCTION berth_notify_identity_change();
