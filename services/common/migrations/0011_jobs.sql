-- The jobservice's truth: every job is a row (type, parameters, status, attempts, times, its log); the Redis
-- stream only carries job ids to whichever worker is free. A row is claimed by one UPDATE ... WHERE
-- status = 'pending', so a job id delivered twice runs once per attempt. Cron schedules are rows too; the
-- job a schedule fires for one tick is unique on (schedule_id, tick), so several jobservice processes
-- (or two leaders overlapping for a moment) fire each tick exactly once.

CREATE TABLE schedules (
    id          bigserial PRIMARY KEY,
    type        text NOT NULL,              -- the job type it fires (GARBAGE_COLLECTION, PURGE_AUDIT_LOG, ...)
    vendor_id   bigint NOT NULL DEFAULT 0,  -- a policy's id for per-policy schedules; 0 for system jobs
    cron        text NOT NULL,              -- Harbor's six fields, seconds first
    kind        text NOT NULL,              -- Harbor's schedule.type: Hourly, Daily, Weekly, Custom
    parameters  jsonb NOT NULL DEFAULT '{}',
    last_tick   timestamptz,                -- the newest tick fired
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (type, vendor_id)
);

CREATE TABLE jobs (
    id             bigserial PRIMARY KEY,
    type           text NOT NULL,
    parameters     jsonb NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'success', 'error', 'stopped')),
    trigger        text NOT NULL DEFAULT 'MANUAL' CHECK (trigger IN ('MANUAL', 'SCHEDULE', 'EVENT')),
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after      timestamptz NOT NULL DEFAULT now(),   -- not before (a retry's backoff)
    enqueued_at    timestamptz,                          -- last handed to the stream
    stop_requested boolean NOT NULL DEFAULT false,
    worker         text,                                 -- the worker running (or that last ran) it
    heartbeat_at   timestamptz,                          -- refreshed while running; stale = worker gone
    error          text NOT NULL DEFAULT '',
    result         jsonb NOT NULL DEFAULT '{}',          -- what the job reports (counts, bytes freed)
    schedule_id    bigint REFERENCES schedules (id) ON DELETE SET NULL,
    tick           timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX jobs_schedule_tick ON jobs (schedule_id, tick) WHERE schedule_id IS NOT NULL;
CREATE INDEX jobs_due ON jobs (run_after) WHERE status = 'pending';
CREATE INDEX jobs_running ON jobs (heartbeat_at) WHERE status = 'running';
CREATE INDEX jobs_by_type ON jobs (type, id DESC);

CREATE TABLE job_logs (
    id      bigserial PRIMARY KEY,
    job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    level   text NOT NULL,
    message text NOT NULL
);
CREATE INDEX job_logs_by_job ON job_logs (job_id, id);

-- A job type's queue, paused by an administrator (the dashboard's pause/resume): its jobs wait as pending.
CREATE TABLE job_queues (
    type       text PRIMARY KEY,
    paused     boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
