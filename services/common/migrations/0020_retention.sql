-- Harbor's tag retention (Policy › Tag Retention): one policy per project, kept as Harbor's RetentionPolicy
-- JSON (algorithm, rules, trigger, scope) so the API shows back exactly what it was given; the project's
-- `retention_id` metadata names it. An execution is a job (type RETENTION, parameters {policy_id, dry_run,
-- operator}); a schedule is the policy's schedules row (vendor_id = policy id). Its tasks are one row per
-- repository the policy applies to, with what was kept and removed.
CREATE TABLE retention_policies (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    policy      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A policy's executions, newest first.
CREATE INDEX jobs_retention_policy ON jobs ((parameters->>'policy_id'), id DESC) WHERE type = 'RETENTION';

CREATE TABLE retention_tasks (
    id           bigserial PRIMARY KEY,
    job_id       bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    repository   text NOT NULL,
    status       text NOT NULL DEFAULT 'Running' CHECK (status IN ('Running', 'Success', 'Error', 'Stopped')),
    total        integer NOT NULL DEFAULT 0,
    retained     integer NOT NULL DEFAULT 0,
    -- Harbor's task log: one line per artifact, what was decided and why.
    log          text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    -- A retried job redoes a repository in the same row.
    UNIQUE (job_id, repository)
);
