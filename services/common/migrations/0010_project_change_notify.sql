-- A project deleted or renamed clears every lookup cache (registry and core, channel 'berth_registry'): the
-- registry caches each project's id, which tokens are checked against (services/registry/token_auth.py), and
-- an id must never outlive its project, whatever deleted it (core's API refuses to delete a project that
-- holds repositories; SQL by hand does not). A payload that is not a repository id means "drop everything";
-- projects change rarely enough for that.
CREATE FUNCTION berth_notify_project_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', 'project');
    RETURN NULL;
END;
$$;

CREATE TRIGGER projects_change_notify AFTER UPDATE OF name OR DELETE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_project_change();
