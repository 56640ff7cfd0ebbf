"""Replication executions, as Harbor's replication controller runs them: starting one submits a REPLICATION
job (the jobservice copies each artifact as a task); executions and tasks are read from their rows; a stop
is the job's stop. Harbor's `replication` resource: the sysadmin, or a system robot granted it. No aiohttp
here."""

from __future__ import annotations

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.jobs.models import REPLICATION, Job
from services.common.jobs.replication import ReplicationParams
from services.common.jobs.submit import JobSubmitter
from services.common.rbac import Action
from services.core.errors import NotFound, PreconditionFailed
from services.core.jobs.service import stop_job
from services.core.listing import Page
from services.core.replication import execution_store, store
from services.core.replication.execution_models import ExecutionFilter, TaskCounts, TaskView
from services.core.replication.models import PolicyNotFound
from services.core.security.access import require_system

log = structlog.get_logger()

RESOURCE = "replication"
# Named here: inside the class, `list` is the method.
Executions = tuple[list[tuple[Job, TaskCounts]], int]
Tasks = tuple[list[TaskView], int]


class ReplicationExecutionService:
    def __init__(self, db: Database, submitter: JobSubmitter) -> None:
        self._db = db
        self._submitter = submitter

    async def start(self, principal: Principal, policy_id: int) -> int:
        require_system(principal, RESOURCE, Action.CREATE, "start replications")
        policy = await store.policy(self._db.pool, policy_id)
        if policy is None:
            raise PolicyNotFound(f"replication policy {policy_id} not found")
        if not policy.fields.enabled:
            raise PreconditionFailed(f"the policy {policy_id} is disabled: enable it to run it")
        params = ReplicationParams(policy_id=policy_id, trigger="manual", operator=principal.name)
        job_id = await self._submitter.submit(REPLICATION, params.to_json())
        log.info("replication_started", policy_id=policy_id, execution_id=job_id, by=principal.name)
        return job_id

    async def list(
        self, principal: Principal, where: ExecutionFilter, page: Page
    ) -> tuple[list[tuple[Job, TaskCounts]], int]:
        require_system(principal, RESOURCE, Action.LIST, "list replication executions")
        jobs, total = await execution_store.executions(self._db.pool, where, page.size, page.offset)
        return [(job, await execution_store.counts(self._db.pool, job.id)) for job in jobs], total

    async def _execution(self, execution_id: int) -> Job:
        job = await execution_store.execution(self._db.pool, execution_id)
        if job is None:
            raise NotFound(f"replication execution {execution_id} not found")
        return job

    async def get(self, principal: Principal, execution_id: int) -> tuple[Job, TaskCounts]:
        require_system(principal, RESOURCE, Action.READ, "read replication executions")
        job = await self._execution(execution_id)
        return job, await execution_store.counts(self._db.pool, job.id)

    async def stop(self, principal: Principal, execution_id: int) -> None:
        require_system(principal, RESOURCE, Action.CREATE, "stop replications")
        await stop_job(self._db, principal, await self._execution(execution_id), "replication execution")

    async def tasks(
        self, principal: Principal, execution_id: int, status: str | None, resource_type: str | None, page: Page
    ) -> Tasks:
        require_system(principal, RESOURCE, Action.LIST, "list replication tasks")
        job = await self._execution(execution_id)
        return await execution_store.tasks(self._db.pool, job.id, status, resource_type, page.size, page.offset)

    async def task_log(self, principal: Principal, execution_id: int, task_id: int) -> str:
        require_system(principal, RESOURCE, Action.READ, "read replication logs")
        job = await self._execution(execution_id)
        text = await execution_store.task_log(self._db.pool, job.id, task_id)
        if text is None:
            raise NotFound(f"execution {execution_id} contains no task with ID {task_id}")
        return text
