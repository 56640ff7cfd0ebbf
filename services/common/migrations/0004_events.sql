-- Events (push, pull, delete of artifacts; tags; repositories) leave through a transactional outbox: a
-- row is written in the same transaction as the change it describes, a relay publishes it to a Redis
-- stream, and it is deleted only when the consumer (core's audit log) has recorded it. So a crash of the
-- relay, of core or of Redis can delay an event but never lose it; the consumer drops duplicates by
-- event_id.
CREATE TABLE event_outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    type          text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Set when the relay has put it in the stream (and the entry id it got); NULL: not yet published.
    published_at  timestamptz,
    stream_id     text
);
CREATE INDEX event_outbox_unpublished ON event_outbox (id) WHERE published_at IS NULL;
CREATE INDEX event_outbox_published ON event_outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake the relay at commit instead of making it poll.
CREATE FUNCTION berth_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('berth_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_outbox();

-- Pull counters, merged in memory by the registry and added in batches (off the pull path).
ALTER TABLE artifacts ADD COLUMN pull_count bigint NOT NULL DEFAULT 0;
ALTER TABLE artifacts ADD COLUMN pull_time timestamptz;
ALTER TABLE repositories ADD COLUMN pull_count bigint NOT NULL DEFAULT 0;

-- Harbor's audit log. No foreign keys: the trail outlives the projects, users and artifacts it names.
-- event_id is set for entries that came through the outbox (unique: a redelivered event is written once).
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    event_id       uuid UNIQUE,
    project_id     bigint,
    operation      text NOT NULL,
    resource_type  text NOT NULL,
    resource       text NOT NULL,
    username       text NOT NULL,
    op_time        timestamptz NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (op_time DESC, id DESC);
CREATE INDEX audit_log_project_time ON audit_log (project_id, op_time DESC, id DESC);
CREATE INDEX audit_log_username ON audit_log (username, op_time DESC);
