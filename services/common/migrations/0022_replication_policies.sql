-- Harbor's replication policies (Administration › Replications): what to copy between this registry and a
-- registry endpoint (migration 0021), in one direction. Push mode names a destination (src_registry_id
-- NULL: the source is this registry), pull mode a source (dest_registry_id NULL). An endpoint a policy
-- names cannot be deleted (Harbor's 412): the foreign keys refuse it.
CREATE TABLE replication_policies (
    id                           bigserial PRIMARY KEY,
    name                         text NOT NULL UNIQUE,
    description                  text NOT NULL DEFAULT '',
    creator                      text NOT NULL DEFAULT '',
    src_registry_id              bigint REFERENCES registries (id) ON DELETE RESTRICT,
    dest_registry_id             bigint REFERENCES registries (id) ON DELETE RESTRICT,
    dest_namespace               text NOT NULL DEFAULT '',
    -- -1: Harbor's legacy mode (the destination namespace replaces the first path component only).
    dest_namespace_replace_count integer NOT NULL DEFAULT -1,
    -- manual, scheduled (with cron, six fields) or event_based.
    trigger_type                 text NOT NULL DEFAULT 'manual',
    cron                         text NOT NULL DEFAULT '',
    -- Harbor's ReplicationFilter list as given: [{type, value, decoration}].
    filters                      jsonb NOT NULL DEFAULT '[]',
    replicate_deletion           boolean NOT NULL DEFAULT false,
    override                     boolean NOT NULL DEFAULT false,
    enabled                      boolean NOT NULL DEFAULT true,
    -- KB/s per task; 0: no limit.
    speed                        integer NOT NULL DEFAULT 0,
    copy_by_chunk                boolean NOT NULL DEFAULT false,
    single_active_replication    boolean NOT NULL DEFAULT false,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    CHECK ((src_registry_id IS NULL) <> (dest_registry_id IS NULL))
);
