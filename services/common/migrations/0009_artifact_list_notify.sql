-- Every change that can alter an artifact list page of core (its rows or its total) notifies
-- 'berth_registry' with the repository id at commit, from whichever process makes it, so core's list cache
-- (services/common/cache.py) stays exact: artifacts (pull counts and times too: the list shows pull_time),
-- tags, index references, blob links, label attachments, labels themselves (renamed, recoloured, deleted),
-- and repositories. The registry's lookup cache listens on the same channel and drops a little more often.
-- Statement-level triggers with transition tables: one notification per repository and statement, not per
-- row (PostgreSQL folds identical notifications of one transaction into one). Migration 0002's row
-- triggers on tags, artifacts and repositories are replaced (these fire on a superset of their changes).

DROP TRIGGER tags_change_notify ON tags;
DROP TRIGGER artifacts_change_notify ON artifacts;
DROP TRIGGER repositories_change_notify ON repositories;

-- Rows that carry repository_id themselves (artifacts, tags); `changed` is the transition table.
CREATE FUNCTION berth_notify_by_repository_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', s.id::text) FROM (SELECT DISTINCT repository_id AS id FROM changed) s;
    RETURN NULL;
END;
$$;

-- Updates: the repositories before and after (a row moved between repositories changes both lists).
CREATE FUNCTION berth_notify_by_repository_id_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', s.id::text)
        FROM (SELECT repository_id AS id FROM changed UNION SELECT repository_id FROM changed_old) s;
    RETURN NULL;
END;
$$;

-- repositories: their own id.
CREATE FUNCTION berth_notify_repository() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', s.id::text) FROM (SELECT DISTINCT id FROM changed) s;
    RETURN NULL;
END;
$$;

-- Rows that name an artifact (artifact_blobs, artifact_labels): that artifact's repository. A row deleted
-- with its artifact finds no artifact here, and needs none: the artifact's delete notified.
CREATE FUNCTION berth_notify_by_artifact_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', s.id::text)
        FROM (SELECT DISTINCT a.repository_id AS id FROM artifacts a WHERE a.id IN (SELECT artifact_id FROM changed)) s;
    RETURN NULL;
END;
$$;

-- artifact_references: the repository of the index and of the child (the same one, in practice).
CREATE FUNCTION berth_notify_by_reference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', s.id::text)
        FROM (SELECT DISTINCT a.repository_id AS id FROM artifacts a
              WHERE a.id IN (SELECT parent_id FROM changed UNION SELECT child_id FROM changed)) s;
    RETURN NULL;
END;
$$;

-- labels: every repository with an artifact carrying the label. A deleted label's attachments go first
-- (by the API, or by the cascade), and their own trigger notifies.
CREATE FUNCTION berth_notify_by_label() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_registry', s.id::text)
        FROM (SELECT DISTINCT a.repository_id AS id FROM artifact_labels al JOIN artifacts a ON a.id = al.artifact_id
              WHERE al.label_id IN (SELECT id FROM changed)) s;
    RETURN NULL;
END;
$$;

CREATE TRIGGER artifacts_insert_notify AFTER INSERT ON artifacts REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_repository_id();
CREATE TRIGGER artifacts_update_notify AFTER UPDATE ON artifacts REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_repository_id_update();
CREATE TRIGGER artifacts_delete_notify AFTER DELETE ON artifacts REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_repository_id();

CREATE TRIGGER tags_insert_notify AFTER INSERT ON tags REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_repository_id();
CREATE TRIGGER tags_update_notify AFTER UPDATE ON tags REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_repository_id_update();
CREATE TRIGGER tags_delete_notify AFTER DELETE ON tags REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_repository_id();

CREATE TRIGGER repositories_update_notify AFTER UPDATE ON repositories REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_repository();
CREATE TRIGGER repositories_delete_notify AFTER DELETE ON repositories REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_repository();

CREATE TRIGGER artifact_blobs_insert_notify AFTER INSERT ON artifact_blobs REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_artifact_id();
CREATE TRIGGER artifact_blobs_delete_notify AFTER DELETE ON artifact_blobs REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_artifact_id();

CREATE TRIGGER artifact_labels_insert_notify AFTER INSERT ON artifact_labels REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_artifact_id();
CREATE TRIGGER artifact_labels_update_notify AFTER UPDATE ON artifact_labels REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_artifact_id();
CREATE TRIGGER artifact_labels_delete_notify AFTER DELETE ON artifact_labels REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_artifact_id();

CREATE TRIGGER artifact_references_insert_notify AFTER INSERT ON artifact_references REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_reference();
CREATE TRIGGER artifact_references_update_notify AFTER UPDATE ON artifact_references REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_reference();
CREATE TRIGGER artifact_references_delete_notify AFTER DELETE ON artifact_references REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_reference();

CREATE TRIGGER labels_update_notify AFTER UPDATE ON labels REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_label();
CREATE TRIGGER labels_delete_notify AFTER DELETE ON labels REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_by_label();
