"""SQL for tag retention policies, their runs (RETENTION jobs) and their tasks. `$n` parameters only."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.jobs import store as jobs_store
from services.common.jobs.models import RETENTION, Job
from services.core.retention.models import StoredPolicy, Task


async def create_policy(ex: Executor, project_id: int, document: dict[str, Any]) -> int | None:
    """The new policy's id; None when the project has one already."""
    value: int | None = await ex.fetchval(
        "INSERT INTO retention_policies (project_id, policy) VALUES ($1, $2::jsonb)"
        " ON CONFLICT (project_id) DO NOTHING RETURNING id",
        project_id,
        json.dumps(document),
    )
    return value


async def policy(ex: Executor, policy_id: int) -> StoredPolicy | None:
    row = await ex.fetchrow(
        "SELECT id, project_id, policy::text AS policy FROM retention_policies WHERE id = $1", policy_id
    )
    return None if row is None else StoredPolicy(row["id"], row["project_id"], json.loads(row["policy"]))


async def update_policy(ex: Executor, policy_id: int, document: dict[str, Any]) -> None:
    await ex.execute(
        "UPDATE retention_policies SET policy = $2::jsonb, updated_at = now() WHERE id = $1",
        policy_id,
        json.dumps(document),
    )


async def delete_policy(ex: Executor, policy_id: int) -> None:
    await ex.execute("DELETE FROM retention_policies WHERE id = $1", policy_id)


async def executions(ex: Executor, policy_id: int, limit: int, offset: int) -> tuple[list[Job], int]:
    """The policy's runs, newest first."""
    where = "type = $1 AND parameters->>'policy_id' = $2"
    ids = await ex.fetch(
        f"SELECT id FROM jobs WHERE {where} ORDER BY id DESC LIMIT $3 OFFSET $4",
        RETENTION,
        str(policy_id),
        limit,
        offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM jobs WHERE {where}", RETENTION, str(policy_id))
    jobs = [job for r in ids if (job := await jobs_store.get(ex, r["id"])) is not None]
    return jobs, int(total)


async def execution(ex: Executor, policy_id: int, job_id: int) -> Job | None:
    job = await jobs_store.get(ex, job_id)
    if job is None or job.type != RETENTION or str(job.parameters.get("policy_id")) != str(policy_id):
        return None
    return job


def _task(r: asyncpg.Record) -> Task:
    return Task(
        id=r["id"],
        job_id=r["job_id"],
        repository=r["repository"],
        status=r["status"],
        total=r["total"],
        retained=r["retained"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
    )


_TASK_COLUMNS = "id, job_id, repository, status, total, retained, started_at, finished_at"


async def tasks(ex: Executor, job_id: int, limit: int, offset: int) -> tuple[list[Task], int]:
    rows = await ex.fetch(
        f"SELECT {_TASK_COLUMNS} FROM retention_tasks WHERE job_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        job_id,
        limit,
        offset,
    )
    total = await ex.fetchval("SELECT count(*) FROM retention_tasks WHERE job_id = $1", job_id)
    return [_task(r) for r in rows], int(total)


async def task_log(ex: Executor, job_id: int, task_id: int) -> str | None:
    value: str | None = await ex.fetchval(
        "SELECT log FROM retention_tasks WHERE job_id = $1 AND id = $2", job_id, task_id
    )
    return value
