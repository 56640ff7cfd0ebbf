-- Proxy-cache projects (Harbor's projects with a registry_id): pulls that miss are fetched from the
-- registry endpoint (migration 0021) and kept. Set when the project is created, never changed, as Harbor
-- does; an endpoint a proxy-cache project names cannot be deleted (RESTRICT: core answers 412).
ALTER TABLE projects ADD COLUMN registry_id bigint REFERENCES registries (id) ON DELETE RESTRICT;

-- The registry caches each proxy-cache project's endpoint (URL, credentials) next to its lookups: an
-- endpoint edited or deleted clears every lookup cache (payload 'project': drop everything, as migration
-- 0010 does for projects), so a cached endpoint never outlives its row. Only the columns the registry
-- reads: the health check's status updates must not clear the caches each time it runs.
CREATE TRIGGER registries_change_notify
    AFTER UPDATE OF type, url, insecure, ca_certificate, access_key, access_secret OR DELETE ON registries
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_project_change();
