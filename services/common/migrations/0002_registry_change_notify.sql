-- Every change that can make a cached lookup stale (a tag moved or removed, a manifest deleted, a blob
-- unlinked, a repository removed) notifies 'berth_registry' with the repository id, from whichever process
-- makes it. Only the columns a lookup reads count (not timestamps or counters). Notifications are sent at commit, so a listener never drops an entry before the change is
-- visible. Inserts need none: the caches hold only things that exist.
CREATE FUNCTION berth_notify_registry_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'repositories' THEN
        PERFORM pg_notify('berth_registry', OLD.id::text);
    ELSE
        PERFORM pg_notify('berth_registry', OLD.repository_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER tags_change_notify AFTER UPDATE OF artifact_id, name, repository_id OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION berth_notify_registry_change();
CREATE TRIGGER artifacts_change_notify AFTER UPDATE OF digest, media_type, content, repository_id OR DELETE ON artifacts
    FOR EACH ROW EXECUTE FUNCTION berth_notify_registry_change();
CREATE TRIGGER repository_blobs_change_notify AFTER UPDATE OF digest, repository_id OR DELETE ON repository_blobs
    FOR EACH ROW EXECUTE FUNCTION berth_notify_registry_change();
CREATE TRIGGER repositories_change_notify AFTER UPDATE OF name OR DELETE ON repositories
    FOR EACH ROW EXECUTE FUNCTION berth_notify_registry_change();
