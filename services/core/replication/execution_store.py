"""SQL for replication executions (jobs of type REPLICATION) and their tasks (migration 0023)."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.jobs import store as jobs_store
from services.common.jobs.models import REPLICATION, Job
from services.core.replication.execution_models import ExecutionFilter, TaskCounts, TaskView

_JOB_STATUS = {
    "InProgress": ("pending", "running"),
    "Succeed": ("success",),
    "Failed": ("error",),
    "Stopped": ("stopped",),
}
_TASK_COLUMNS = (
    "id, job_id, operation, resource_type, src_resource, dst_resource, status, digest, bytes, started_at, finished_at"
)
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(TaskView))


async def executions(ex: Executor, where: ExecutionFilter, limit: int, offset: int) -> tuple[list[Job], int]:
    """Executions newest first, of one policy or all."""
    args: list[Any] = [REPLICATION]
    sql = "type = $1"
    if where.policy_id is not None:
        args.append(str(where.policy_id))
        sql += f" AND parameters->>'policy_id' = ${len(args)}"
    if where.status is not None:
        args.append(list(_JOB_STATUS[where.status]))
        sql += f" AND status = ANY(${len(args)}::text[])"
    if where.trigger is not None:
        args.append(where.trigger)
        sql += f" AND COALESCE(parameters->>'trigger', 'manual') = ${len(args)}"
    n = len(args)
    rows = await ex.fetch(
        f"SELECT id FROM jobs WHERE {sql} ORDER BY id DESC LIMIT ${n + 1} OFFSET ${n + 2}", *args, limit, offset
    )
    total = await ex.fetchval(f"SELECT count(*) FROM jobs WHERE {sql}", *args)
    jobs = [job for r in rows if (job := await jobs_store.get(ex, r["id"])) is not None]
    return jobs, int(total)


async def execution(ex: Executor, job_id: int) -> Job | None:
    job = await jobs_store.get(ex, job_id)
    return job if job is not None and job.type == REPLICATION else None


async def counts(ex: Executor, job_id: int) -> TaskCounts:
    row = await ex.fetchrow(
        "SELECT count(*) AS total,"
        " count(*) FILTER (WHERE status = 'Failed') AS failed,"
        " count(*) FILTER (WHERE status = 'Succeed') AS succeed,"
        " count(*) FILTER (WHERE status IN ('Pending', 'InProgress')) AS in_progress,"
        " count(*) FILTER (WHERE status = 'Stopped') AS stopped"
        " FROM replication_tasks WHERE job_id = $1",
        job_id,
    )
    assert row is not None
    return TaskCounts(**{k: int(row[k]) for k in ("total", "failed", "succeed", "in_progress", "stopped")})


def _task(row: asyncpg.Record) -> TaskView:
    return TaskView(**{name: row[name] for name in _TASK_FIELDS})


async def tasks(
    ex: Executor, job_id: int, status: str | None, resource_type: str | None, limit: int, offset: int
) -> tuple[list[TaskView], int]:
    args: list[Any] = [job_id]
    sql = "job_id = $1"
    if status is not None:
        args.append(["Pending", "InProgress"] if status == "InProgress" else [status])
        sql += f" AND status = ANY(${len(args)}::text[])"
    if resource_type is not None:
        args.append(resource_type)
        sql += f" AND resource_type = ${len(args)}"
    n = len(args)
    rows = await ex.fetch(
        f"SELECT {_TASK_COLUMNS} FROM replication_tasks WHERE {sql} ORDER BY id LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM replication_tasks WHERE {sql}", *args)
    return [_task(r) for r in rows], int(total)


async def task_log(ex: Executor, job_id: int, task_id: int) -> str | None:
    value: str | None = await ex.fetchval(
        "SELECT log FROM replication_tasks WHERE job_id = $1 AND id = $2", job_id, task_id
    )
    return value
