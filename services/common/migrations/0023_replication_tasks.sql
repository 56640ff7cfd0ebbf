-- A replication execution is a job (type REPLICATION, parameters {policy_id, trigger, operator}); its tasks
-- are one row per artifact it copies, with Harbor's task fields and the task's own log. A retried job (its
-- worker died, or a task failed) goes on in the same rows: a task that succeeded is not copied again.
CREATE INDEX jobs_replication_policy ON jobs ((parameters->>'policy_id'), id DESC) WHERE type = 'REPLICATION';

CREATE TABLE replication_tasks (
    id            bigserial PRIMARY KEY,
    job_id        bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    operation     text NOT NULL DEFAULT 'copy',
    resource_type text NOT NULL DEFAULT 'image',
    -- repository:tag (or @digest) on each side, as Harbor shows them.
    src_resource  text NOT NULL,
    dst_resource  text NOT NULL,
    status        text NOT NULL DEFAULT 'Pending'
                  CHECK (status IN ('Pending', 'InProgress', 'Succeed', 'Failed', 'Stopped')),
    digest        text NOT NULL DEFAULT '',
    bytes         bigint NOT NULL DEFAULT 0,
    log           text NOT NULL DEFAULT '',
    started_at    timestamptz,
    finished_at   timestamptz,
    UNIQUE (job_id, src_resource, dst_resource)
);
