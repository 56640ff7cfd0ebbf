"""SQL of a webhook policy's executions: the WEBHOOK job rows the jobservice made for it (migration 0024),
newest first. Each is Harbor's execution and its one task."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.db import Executor
from services.common.jobs import store as jobs_store
from services.common.jobs.models import WEBHOOK, Job, LogLine


async def executions(
    ex: Executor,
    policy_id: int,
    limit: int,
    offset: int,
    statuses: Sequence[str] | None = None,
    ascending: bool = False,
) -> tuple[list[Job], int]:
    """`statuses`: the jobs' own (pending, running, success, error, stopped); newest first unless
    `ascending`."""
    return await jobs_store.list_by_policy(ex, WEBHOOK, policy_id, limit, offset, statuses, ascending)


async def execution(ex: Executor, policy_id: int, execution_id: int) -> Job | None:
    job = await jobs_store.get(ex, execution_id)
    if job is None or job.type != WEBHOOK or str(job.parameters.get("policy_id")) != str(policy_id):
        return None
    return job


async def log(ex: Executor, job_id: int) -> list[LogLine]:
    return await jobs_store.read_log(ex, job_id)
