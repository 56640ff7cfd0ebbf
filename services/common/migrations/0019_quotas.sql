-- Project quotas (Harbor's /quotas). A project's usage is the bytes of the distinct blobs and manifests its
-- artifacts reference (the rule of services/core/statistics/store.py): `project_blobs` holds each digest a
-- project references once, and `quotas.used` their sum. Both change in the transaction of every change that
-- alters them, whichever process or statement makes it (a push, a copy, a delete, a repository's cascade, a
-- GC sweep): the triggers below keep them, so no caller can forget to.
--
-- Concurrency. A digest's row is the lock of "this project references it": a charge takes the rows it finds
-- FOR SHARE (pushes sharing a base layer do not wait for each other) and inserts the others; a release takes
-- its rows FOR UPDATE, so it waits for every charge holding one to commit, and only then, in a new statement
-- whose snapshot sees what they committed, deletes the rows nothing references any more. The one row every
-- push of a project writes, `quotas`, is written once per transaction by a deferred trigger at commit: it is
-- held for the commit alone, not for the push's statements, so twenty pushes into one project do not queue
-- behind each other.
-- The limit is checked in that same update, against the limit in force when the push commits (a change of
-- the limit takes the row's lock too).

-- Which project an artifact and a blob reference belong to, kept on the rows themselves: a release runs
-- after a repository's (or an artifact's) cascade, when the rows that would say it are gone.
ALTER TABLE artifacts ADD COLUMN project_id bigint;
ALTER TABLE artifact_blobs ADD COLUMN project_id bigint;

UPDATE artifacts a SET project_id = p.id
    FROM repositories r JOIN projects p ON p.name = split_part(r.name, '/', 1)
    WHERE r.id = a.repository_id;
UPDATE artifact_blobs ab SET project_id = a.project_id FROM artifacts a WHERE a.id = ab.artifact_id;

-- A release asks "does anything else of the project still reference this digest?".
CREATE INDEX artifacts_project_digest ON artifacts (project_id, digest);
-- Replaces the index on digest alone: GC's reference checks (digest first) use this one as they did that.
CREATE INDEX artifact_blobs_digest_project ON artifact_blobs (digest, project_id);
DROP INDEX artifact_blobs_digest;

CREATE TABLE quotas (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    -- Bytes, -1 unlimited. A limit below the usage is allowed (as Harbor): pushes that add are refused.
    hard        bigint NOT NULL DEFAULT -1 CHECK (hard >= -1),
    used        bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_blobs (
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    digest      text NOT NULL,
    size        bigint NOT NULL,
    PRIMARY KEY (project_id, digest)
);

INSERT INTO quotas (project_id) SELECT id FROM projects;
INSERT INTO project_blobs (project_id, digest, size)
    SELECT ab.project_id, b.digest, b.size FROM artifact_blobs ab JOIN blobs b ON b.digest = ab.digest
        WHERE ab.project_id IS NOT NULL
    UNION SELECT a.project_id, a.digest, a.size FROM artifacts a WHERE a.project_id IS NOT NULL
    ON CONFLICT DO NOTHING;
UPDATE quotas q SET used = s.bytes
    FROM (SELECT project_id, sum(size) AS bytes FROM project_blobs GROUP BY project_id) s
    WHERE q.project_id = s.project_id;

-- Every project has its quota row from its first transaction (unlimited; core sets the limit it was
-- created with in that same transaction).
CREATE FUNCTION berth_quota_for_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quotas (project_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER projects_quota AFTER INSERT ON projects FOR EACH ROW EXECUTE FUNCTION berth_quota_for_project();

-- The project of a new row, unless the writer gave it.
CREATE FUNCTION berth_artifact_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.project_id IS NULL THEN
        SELECT p.id INTO NEW.project_id FROM repositories r JOIN projects p ON p.name = split_part(r.name, '/', 1)
            WHERE r.id = NEW.repository_id;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER artifacts_project BEFORE INSERT ON artifacts FOR EACH ROW EXECUTE FUNCTION berth_artifact_project();

CREATE FUNCTION berth_artifact_blob_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.project_id IS NULL THEN
        SELECT a.project_id INTO NEW.project_id FROM artifacts a WHERE a.id = NEW.artifact_id;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER artifact_blobs_project BEFORE INSERT ON artifact_blobs
    FOR EACH ROW EXECUTE FUNCTION berth_artifact_blob_project();

-- The bytes a transaction has added to (or, negative, taken from) a project's usage so far: a
-- transaction-local setting, applied to `quotas` once, at commit, by berth_quota_apply.
CREATE FUNCTION berth_quota_pending(project bigint, bytes bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    key text := 'berth.quota_pending_' || project;
BEGIN
    PERFORM set_config(key, (COALESCE(NULLIF(current_setting(key, true), ''), '0')::bigint + bytes)::text, true);
END;
$$;

-- Charge: the projects now reference these digests (distinct pairs). Each pair ends either inserted by this
-- transaction (it was not there) or locked FOR SHARE (it was); a pair a release deleted between the two
-- steps goes round again. Two statements when nothing races (one when every digest is new).
CREATE FUNCTION berth_quota_charge(want_p bigint[], want_d text[], want_s bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    new_p bigint[];
    new_d text[];
    new_s bigint[];
    held_p bigint[];
    held_d text[];
    r record;
BEGIN
    FOR attempt IN 1..100 LOOP
        WITH added AS (
            INSERT INTO project_blobs (project_id, digest, size)
            SELECT * FROM unnest(want_p, want_d, want_s) ORDER BY 1, 2
            ON CONFLICT DO NOTHING RETURNING project_id, digest, size)
        SELECT array_agg(project_id), array_agg(digest), array_agg(size) INTO new_p, new_d, new_s FROM added;
        IF new_p IS NOT NULL THEN
            FOR r IN SELECT project_id, sum(size) AS bytes FROM unnest(new_p, new_s) AS n(project_id, size)
                     GROUP BY project_id LOOP
                PERFORM berth_quota_pending(r.project_id, r.bytes::bigint);
            END LOOP;
            IF cardinality(new_p) = cardinality(want_p) THEN
                RETURN;
            END IF;
            SELECT array_agg(w.project_id), array_agg(w.digest), array_agg(w.size) INTO want_p, want_d, want_s
                FROM unnest(want_p, want_d, want_s) AS w(project_id, digest, size)
                WHERE NOT EXISTS (SELECT 1 FROM unnest(new_p, new_d) AS n(project_id, digest)
                    WHERE n.project_id = w.project_id AND n.digest = w.digest);
        END IF;
        -- The others were there: lock them, so a release waits for this transaction.
        SELECT array_agg(x.project_id), array_agg(x.digest) INTO held_p, held_d FROM (
            SELECT pb.project_id, pb.digest FROM project_blobs pb JOIN unnest(want_p, want_d) AS w(project_id, digest)
                ON pb.project_id = w.project_id AND pb.digest = w.digest
            ORDER BY pb.project_id, pb.digest FOR SHARE OF pb) x;
        IF cardinality(held_p) IS NOT DISTINCT FROM cardinality(want_p) THEN
            RETURN;
        END IF;
        -- Some went meanwhile (a release committed): insert those again.
        SELECT array_agg(w.project_id), array_agg(w.digest), array_agg(w.size) INTO want_p, want_d, want_s
            FROM unnest(want_p, want_d, want_s) AS w(project_id, digest, size)
            WHERE NOT EXISTS (SELECT 1 FROM unnest(held_p, held_d) AS h(project_id, digest)
                WHERE h.project_id = w.project_id AND h.digest = w.digest);
    END LOOP;
    RAISE EXCEPTION 'project references of % digests kept changing under this transaction', cardinality(want_d);
END;
$$;

-- Release: these projects may no longer reference these digests; those nothing references lose
-- their row. Locking first and deleting in a second statement is what lets a racing charge win: the
-- DELETE's snapshot is taken after the lock was granted, so it sees every reference committed before.
CREATE FUNCTION berth_quota_release(want_p bigint[], want_d text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    PERFORM 1 FROM project_blobs pb JOIN unnest(want_p, want_d) AS w(project_id, digest)
        ON pb.project_id = w.project_id AND pb.digest = w.digest
        ORDER BY pb.project_id, pb.digest FOR UPDATE OF pb;
    FOR r IN WITH gone AS (
            DELETE FROM project_blobs pb USING unnest(want_p, want_d) AS w(project_id, digest)
            WHERE pb.project_id = w.project_id AND pb.digest = w.digest
                AND NOT EXISTS (SELECT 1 FROM artifact_blobs ab WHERE ab.digest = pb.digest AND ab.project_id = pb.project_id)
                AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.project_id = pb.project_id AND a.digest = pb.digest)
            RETURNING pb.project_id, pb.size)
        SELECT project_id, sum(size) AS bytes FROM gone GROUP BY project_id LOOP
        PERFORM berth_quota_pending(r.project_id, -r.bytes::bigint);
    END LOOP;
END;
$$;

CREATE FUNCTION berth_quota_artifacts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM berth_quota_charge(array_agg(project_id), array_agg(digest), array_agg(size))
        FROM (SELECT DISTINCT ON (project_id, digest) project_id, digest, size FROM added
              WHERE project_id IS NOT NULL) d
        HAVING count(*) > 0;
    RETURN NULL;
END;
$$;
CREATE TRIGGER artifacts_quota_added AFTER INSERT ON artifacts REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION berth_quota_artifacts_added();

CREATE FUNCTION berth_quota_blobs_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM berth_quota_charge(array_agg(project_id), array_agg(digest), array_agg(size))
        FROM (SELECT DISTINCT n.project_id, b.digest, b.size FROM added n JOIN blobs b ON b.digest = n.digest
              WHERE n.project_id IS NOT NULL) d
        HAVING count(*) > 0;
    RETURN NULL;
END;
$$;
CREATE TRIGGER artifact_blobs_quota_added AFTER INSERT ON artifact_blobs REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION berth_quota_blobs_added();

CREATE FUNCTION berth_quota_references_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM berth_quota_release(array_agg(project_id), array_agg(digest))
        FROM (SELECT DISTINCT project_id, digest FROM removed WHERE project_id IS NOT NULL) d
        HAVING count(*) > 0;
    RETURN NULL;
END;
$$;
CREATE TRIGGER artifacts_quota_removed AFTER DELETE ON artifacts REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_quota_references_removed();
CREATE TRIGGER artifact_blobs_quota_removed AFTER DELETE ON artifact_blobs REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION berth_quota_references_removed();

-- The usage, at commit: the first of a transaction's changed project_blobs rows of a project applies the
-- transaction's net change to that project (berth_quota_pending), once; the others find nothing pending.
-- SQLSTATE BQ403 with DETAIL "<adding> <used before> <limit>" (bytes) when an addition would take the usage
-- past the limit; services/common/quota.py turns it into Harbor's message.
CREATE FUNCTION berth_quota_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    project bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.project_id ELSE OLD.project_id END;
    key text := 'berth.quota_pending_' || project;
    pending bigint := NULLIF(current_setting(key, true), '')::bigint;
    q record;
BEGIN
    IF pending IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(key, '', true);
    IF pending = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE quotas SET used = used + pending WHERE project_id = project RETURNING hard, used INTO q;
    IF FOUND AND pending > 0 AND q.hard >= 0 AND q.used > q.hard THEN
        RAISE EXCEPTION 'the storage quota of project % is exceeded', project
            USING ERRCODE = 'BQ403', DETAIL = format('%s %s %s', pending, q.used - pending, q.hard);
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER project_blobs_quota AFTER INSERT OR DELETE ON project_blobs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION berth_quota_apply();
