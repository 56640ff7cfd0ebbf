"""SQL for jobs, their logs, schedules and paused queues. `$n` parameters only. Every state change is one
UPDATE guarded by the state it leaves (and, for a running job, by the worker that claimed it), so two
processes racing over one job can never both win: a delivery twice, a reaper and a late worker, a stop and
a finish."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import asyncpg

from services.common.db import Executor
from services.common.jobs.models import Job, LogLine, Schedule, Status, Trigger

_COLUMNS = (
    "id, type, parameters::text AS parameters, status, trigger, attempts, max_attempts, stop_requested, worker,"
    " error, result::text AS result, schedule_id, created_at, started_at, finished_at, updated_at"
)
# Types whose queue an administrator paused: their jobs wait.
_NOT_PAUSED = "type NOT IN (SELECT q.type FROM job_queues q WHERE q.paused)"


def _job(row: asyncpg.Record) -> Job:
    return Job(
        id=row["id"],
        type=row["type"],
        parameters=json.loads(row["parameters"]),
        status=cast(Status, row["status"]),
        trigger=cast(Trigger, row["trigger"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        stop_requested=row["stop_requested"],
        worker=row["worker"],
        error=row["error"],
        result=json.loads(row["result"]),
        schedule_id=row["schedule_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        updated_at=row["updated_at"],
    )


async def create(
    ex: Executor,
    job_type: str,
    parameters: Mapping[str, Any],
    *,
    trigger: Trigger = "MANUAL",
    max_attempts: int = 3,
    schedule_id: int | None = None,
    tick: dt.datetime | None = None,
) -> int | None:
    """The new job's id; None when the schedule already fired that tick."""
    value: int | None = await ex.fetchval(
        "INSERT INTO jobs (type, parameters, trigger, max_attempts, schedule_id, tick)"
        " VALUES ($1, $2::jsonb, $3, $4, $5, $6) ON CONFLICT (schedule_id, tick) WHERE schedule_id IS NOT NULL"
        " DO NOTHING RETURNING id",
        job_type,
        json.dumps(dict(parameters)),
        trigger,
        max_attempts,
        schedule_id,
        tick,
    )
    return value


async def get(ex: Executor, job_id: int) -> Job | None:
    row = await ex.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return None if row is None else _job(row)


async def list_by_type(ex: Executor, job_type: str, limit: int, offset: int) -> tuple[list[Job], int]:
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM jobs WHERE type = $1 ORDER BY id DESC LIMIT $2 OFFSET $3", job_type, limit, offset
    )
    total = await ex.fetchval("SELECT count(*) FROM jobs WHERE type = $1", job_type)
    return [_job(r) for r in rows], int(total)


async def list_by_policy(
    ex: Executor,
    job_type: str,
    policy_id: int,
    limit: int,
    offset: int,
    statuses: Sequence[str] | None = None,
    ascending: bool = False,
) -> tuple[list[Job], int]:
    """The jobs of one policy (parameters.policy_id: a replication or webhook policy's executions), newest
    first unless `ascending`; with `statuses`, those in one of them."""
    where = "type = $1 AND parameters->>'policy_id' = $2 AND ($3::text[] IS NULL OR status = ANY($3::text[]))"
    args = (job_type, str(policy_id), None if statuses is None else list(statuses))
    order = "ASC" if ascending else "DESC"
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY id {order} LIMIT $4 OFFSET $5", *args, limit, offset
    )
    total = await ex.fetchval(f"SELECT count(*) FROM jobs WHERE {where}", *args)
    return [_job(r) for r in rows], int(total)


async def claim(ex: Executor, job_id: int, worker: str) -> Job | None:
    """The job, now running on `worker`, if it was pending, due, not asked to stop and its queue not
    paused; None otherwise (a duplicate delivery, a job not due yet, stopped or paused meanwhile)."""
    row = await ex.fetchrow(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, worker = $2, heartbeat_at = now(),"
        " started_at = COALESCE(started_at, now()), updated_at = now()"
        f" WHERE id = $1 AND status = 'pending' AND run_after <= now() AND NOT stop_requested AND {_NOT_PAUSED}"
        f" RETURNING {_COLUMNS}",
        job_id,
        worker,
    )
    return None if row is None else _job(row)


async def heartbeat(ex: Executor, job_id: int, worker: str) -> bool | None:
    """Refreshes a running job's heartbeat: whether it was asked to stop, or None when `worker` no longer
    owns it (the reaper gave it up), in which case the worker must drop it."""
    value: bool | None = await ex.fetchval(
        "UPDATE jobs SET heartbeat_at = now() WHERE id = $1 AND worker = $2 AND status = 'running'"
        " RETURNING stop_requested",
        job_id,
        worker,
    )
    return value


async def finish(
    ex: Executor, job_id: int, worker: str, status: Status, *, error: str = "", result: Mapping[str, Any] = {}
) -> bool:
    """Ends a running job owned by `worker`; False when it no longer owns it."""
    value = await ex.fetchval(
        "UPDATE jobs SET status = $3, error = $4, result = $5::jsonb, finished_at = now(), updated_at = now()"
        " WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING id",
        job_id,
        worker,
        status,
        error,
        json.dumps(dict(result)),
    )
    return value is not None


async def retry(ex: Executor, job_id: int, worker: str, error: str, delay_s: float) -> bool:
    """Back to pending after a failed attempt, due in `delay_s`; False when `worker` no longer owns it."""
    value = await ex.fetchval(
        "UPDATE jobs SET status = 'pending', error = $3, run_after = now() + make_interval(secs => $4),"
        " enqueued_at = NULL, updated_at = now() WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING id",
        job_id,
        worker,
        error,
        delay_s,
    )
    return value is not None


async def release(ex: Executor, job_id: int, worker: str) -> bool:
    """Gives a running job back (its worker is shutting down): pending again, due now, the attempt not
    counted."""
    value = await ex.fetchval(
        "UPDATE jobs SET status = 'pending', attempts = GREATEST(attempts - 1, 0), run_after = now(),"
        " enqueued_at = NULL, updated_at = now() WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING id",
        job_id,
        worker,
    )
    return value is not None


async def due(ex: Executor, limit: int, redeliver_s: float) -> list[int]:
    """Pending jobs that are due and not handed to the stream lately (or never), marked as handed now;
    SKIP LOCKED, so several dispatchers share them. Redelivery covers a stream that lost an entry."""
    rows = await ex.fetch(
        "WITH d AS (SELECT id FROM jobs WHERE status = 'pending' AND run_after <= now() AND NOT stop_requested"
        f" AND {_NOT_PAUSED} AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $2))"
        " ORDER BY run_after, id LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE jobs j SET enqueued_at = now() FROM d WHERE j.id = d.id RETURNING j.id",
        limit,
        redeliver_s,
    )
    return sorted(r["id"] for r in rows)


async def mark_enqueued(ex: Executor, job_ids: Sequence[int]) -> None:
    await ex.execute("UPDATE jobs SET enqueued_at = now() WHERE id = ANY($1::bigint[])", list(job_ids))


async def reap(ex: Executor, timeout_s: float) -> list[tuple[int, str, str, str | None]]:
    """Running jobs whose worker stopped answering (no heartbeat for `timeout_s`): back to pending when
    attempts remain, else failed with the reason, stopped if a stop was asked. (id, type, new status,
    worker) of each."""
    rows = await ex.fetch(
        "WITH stale AS (SELECT id FROM jobs WHERE status = 'running'"
        " AND heartbeat_at < now() - make_interval(secs => $1) FOR UPDATE SKIP LOCKED)"
        " UPDATE jobs j SET status = CASE WHEN j.stop_requested THEN 'stopped'"
        "   WHEN j.attempts < j.max_attempts THEN 'pending' ELSE 'error' END,"
        " error = 'the worker ' || COALESCE(j.worker, '?') || ' stopped answering (no heartbeat for '"
        "   || $2 || ' s)',"
        " finished_at = CASE WHEN NOT j.stop_requested AND j.attempts < j.max_attempts THEN NULL ELSE now() END,"
        " run_after = now(), enqueued_at = NULL, updated_at = now()"
        " FROM stale WHERE j.id = stale.id RETURNING j.id, j.type, j.status, j.worker",
        timeout_s,
        f"{timeout_s:g}",
    )
    return [(r["id"], r["type"], r["status"], r["worker"]) for r in rows]


async def request_stop(ex: Executor, job_id: int) -> Job | None:
    """Asks a job to stop: a pending one is stopped at once, a running one when its worker next beats
    (within seconds). None when the job does not exist or has finished."""
    row = await ex.fetchrow(
        "UPDATE jobs SET stop_requested = true,"
        " status = CASE WHEN status = 'pending' THEN 'stopped' ELSE status END,"
        " finished_at = CASE WHEN status = 'pending' THEN now() ELSE finished_at END, updated_at = now()"
        f" WHERE id = $1 AND status IN ('pending', 'running') RETURNING {_COLUMNS}",
        job_id,
    )
    return None if row is None else _job(row)


async def stop_pending(ex: Executor, job_types: Sequence[str], why: str) -> list[int]:
    """Stops every pending job of the types (a queue's "stop and clean"), with `why` as its error and a
    log line; running jobs go on. The stopped jobs' ids."""
    rows = await ex.fetch(
        "WITH s AS (UPDATE jobs SET status = 'stopped', stop_requested = true, error = $2, finished_at = now(),"
        " updated_at = now() WHERE status = 'pending' AND type = ANY($1::text[]) RETURNING id)"
        " INSERT INTO job_logs (job_id, level, message) SELECT id, 'warning', $2 FROM s RETURNING job_id",
        list(job_types),
        why,
    )
    return sorted(r["job_id"] for r in rows)


async def pending_by_type(ex: Executor) -> dict[str, tuple[int, float]]:
    """Per job type with pending jobs: how many wait, and how long the longest-waiting one has been due
    (seconds; 0 when none is due yet, e.g. all wait out a retry's backoff)."""
    rows = await ex.fetch(
        "SELECT type, count(*) AS n, GREATEST(0, EXTRACT(EPOCH FROM now() - min(run_after)))::float8 AS latency"
        " FROM jobs WHERE status = 'pending' AND NOT stop_requested GROUP BY type"
    )
    return {r["type"]: (int(r["n"]), float(r["latency"])) for r in rows}


async def append_log(ex: Executor, job_id: int, level: str, message: str) -> None:
    await ex.execute("INSERT INTO job_logs (job_id, level, message) VALUES ($1, $2, $3)", job_id, level, message)


async def read_log(ex: Executor, job_id: int) -> list[LogLine]:
    rows = await ex.fetch("SELECT at, level, message FROM job_logs WHERE job_id = $1 ORDER BY id", job_id)
    return [LogLine(at=r["at"], level=r["level"], message=r["message"]) for r in rows]


# --- schedules ----------------------------------------------------------------------------------------

_SCHEDULE_COLUMNS = "id, type, vendor_id, cron, kind, parameters::text AS parameters, last_tick, created_at, updated_at"


def _schedule(row: asyncpg.Record) -> Schedule:
    return Schedule(
        id=row["id"],
        type=row["type"],
        vendor_id=row["vendor_id"],
        cron=row["cron"],
        kind=row["kind"],
        parameters=json.loads(row["parameters"]),
        last_tick=row["last_tick"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def put_schedule(
    ex: Executor, job_type: str, vendor_id: int, cron: str, kind: str, parameters: Mapping[str, Any]
) -> Schedule:
    """Creates or replaces the schedule of (type, vendor); a changed cron starts counting from now."""
    row = await ex.fetchrow(
        "INSERT INTO schedules (type, vendor_id, cron, kind, parameters, last_tick) VALUES ($1, $2, $3, $4, $5::jsonb,"
        " now()) ON CONFLICT (type, vendor_id) DO UPDATE SET cron = EXCLUDED.cron, kind = EXCLUDED.kind,"
        " parameters = EXCLUDED.parameters, last_tick = CASE WHEN schedules.cron = EXCLUDED.cron"
        " THEN schedules.last_tick ELSE now() END, updated_at = now()"
        f" RETURNING {_SCHEDULE_COLUMNS}",
        job_type,
        vendor_id,
        cron,
        kind,
        json.dumps(dict(parameters)),
    )
    assert row is not None
    return _schedule(row)


async def get_schedule(ex: Executor, job_type: str, vendor_id: int = 0) -> Schedule | None:
    row = await ex.fetchrow(
        f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE type = $1 AND vendor_id = $2", job_type, vendor_id
    )
    return None if row is None else _schedule(row)


async def delete_schedule(ex: Executor, job_type: str, vendor_id: int = 0) -> bool:
    value = await ex.fetchval(
        "DELETE FROM schedules WHERE type = $1 AND vendor_id = $2 RETURNING id", job_type, vendor_id
    )
    return value is not None


async def list_schedules(ex: Executor, limit: int | None = None, offset: int = 0) -> list[Schedule]:
    rows = await ex.fetch(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules ORDER BY id LIMIT $1 OFFSET $2", limit, offset)
    return [_schedule(r) for r in rows]


async def count_schedules(ex: Executor) -> int:
    return int(await ex.fetchval("SELECT count(*) FROM schedules"))


async def advance_schedule(ex: Executor, schedule_id: int, previous: dt.datetime | None, tick: dt.datetime) -> bool:
    """Moves the schedule's last tick from `previous` to `tick`; False when another process already did."""
    value = await ex.fetchval(
        "UPDATE schedules SET last_tick = $3 WHERE id = $1 AND last_tick IS NOT DISTINCT FROM $2 RETURNING id",
        schedule_id,
        previous,
        tick,
    )
    return value is not None


# --- queues -------------------------------------------------------------------------------------------


async def set_paused(ex: Executor, job_types: Sequence[str], paused: bool) -> None:
    """Pauses or resumes the queues. A resume hands their pending jobs over again at the dispatcher's
    next round: a worker turned each away while paused (its claim failed), and the stream entry is gone."""
    await ex.execute(
        "WITH q AS (INSERT INTO job_queues (type, paused) SELECT t, $2 FROM unnest($1::text[]) AS t"
        " ON CONFLICT (type) DO UPDATE SET paused = EXCLUDED.paused, updated_at = now())"
        " UPDATE jobs SET enqueued_at = NULL WHERE NOT $2 AND status = 'pending' AND type = ANY($1::text[])",
        list(job_types),
        paused,
    )


async def paused_types(ex: Executor) -> set[str]:
    rows = await ex.fetch("SELECT type FROM job_queues WHERE paused")
    return {r["type"] for r in rows}
