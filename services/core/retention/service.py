"""Tag retention rules: who may do what (Harbor's tag-retention resource in the policy's project; a project
the caller cannot see is a 404, as if the policy did not exist), one policy per project named by its
retention_id metadata, its schedule, and its runs as RETENTION jobs. No aiohttp here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database, Executor
from services.common.jobs import store as jobs_store
from services.common.jobs.models import RETENTION, Job
from services.common.jobs.retention import SCHEDULED_OPERATOR, RetentionParams
from services.common.jobs.submit import JobSubmitter
from services.common.rbac import Action, Resource
from services.common.retention import METADATA, Policy, parse_policy, policy_json
from services.core.errors import BadRequest, Conflict, NotFound, Unauthorized
from services.core.jobs.service import stop_job
from services.core.listing import Page
from services.core.projects import store as projects_store
from services.core.projects.models import ProjectRef
from services.core.projects.service import ProjectService
from services.core.retention import store
from services.core.retention.models import StoredPolicy, Task

log = structlog.get_logger()
METADATA_KEY = "retention_id"


# What a proxy-cache project keeps by default (Harbor's defaultDaysToRetentionForProxyCacheProject).
PROXY_CACHE_RETENTION_DAYS = 7


def proxy_cache_policy(project_id: int, days: int = PROXY_CACHE_RETENTION_DAYS) -> dict[str, Any]:
    """Harbor's policy.WithNDaysSinceLastPull: every repository keeps what was pulled in the last `days`,
    checked daily at midnight."""
    return {
        "algorithm": "or",
        "rules": [
            {
                "id": 1,
                "priority": 1,
                "action": "retain",
                "template": "nDaysSinceLastPull",
                "params": {"nDaysSinceLastPull": days},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
                "scope_selectors": {
                    "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
                },
            }
        ],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
        "scope": {"level": "project", "ref": project_id},
    }


class RetentionNotFound(NotFound):
    default_message = "retention policy not found"


def _parse(data: Mapping[str, Any]) -> Policy:
    try:
        return parse_policy(data)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


async def _schedule(tx: Executor, policy_id: int, policy: Policy) -> None:
    if not policy.cron:
        await jobs_store.delete_schedule(tx, RETENTION, policy_id)
        return
    params = RetentionParams(policy_id=policy_id, dry_run=False, operator=SCHEDULED_OPERATOR)
    await jobs_store.put_schedule(tx, RETENTION, policy_id, policy.cron, "Custom", params.to_json())


class RetentionService:
    def __init__(self, db: Database, projects: ProjectService, submitter: JobSubmitter) -> None:
        self._db = db
        self._projects = projects
        self._submitter = submitter

    def metadata(self, principal: Principal) -> dict[str, Any]:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to read the retention metadata")
        return METADATA

    async def _policy(self, principal: Principal, policy_id: int, action: Action) -> StoredPolicy:
        found = await store.policy(self._db.pool, policy_id)
        if found is None:
            raise RetentionNotFound(f"retention policy {policy_id} not found")
        try:
            await self._projects.resolve(principal, ProjectRef(id=found.project_id), Resource.TAG_RETENTION, action)
        except NotFound:
            raise RetentionNotFound(f"retention policy {policy_id} not found") from None
        return found

    async def create(self, principal: Principal, data: Mapping[str, Any]) -> int:
        policy = _parse(data)
        project, _ = await self._projects.resolve(
            principal, ProjectRef(id=policy.project_id), Resource.TAG_RETENTION, Action.CREATE
        )
        async with self._db.transaction() as tx:
            policy_id = await store.create_policy(tx, project.id, {})
            if policy_id is None:
                raise Conflict(f"project {project.name} has a retention policy already; change that one")
            await store.update_policy(tx, policy_id, policy_json(policy, policy_id))
            await projects_store.update_project(tx, project.id, None, {METADATA_KEY: str(policy_id)})
            await _schedule(tx, policy_id, policy)
        log.info("retention_policy_created", policy_id=policy_id, project=project.name, by=principal.name)
        return policy_id

    async def get(self, principal: Principal, policy_id: int) -> dict[str, Any]:
        found = await self._policy(principal, policy_id, Action.READ)
        return found.document

    async def update(self, principal: Principal, policy_id: int, data: Mapping[str, Any]) -> None:
        found = await self._policy(principal, policy_id, Action.UPDATE)
        policy = _parse(data)
        if policy.project_id != found.project_id:
            raise BadRequest(f"scope.ref must stay {found.project_id}: a policy does not move to another project")
        async with self._db.transaction() as tx:
            await store.update_policy(tx, policy_id, policy_json(policy, policy_id))
            await _schedule(tx, policy_id, policy)
        log.info("retention_policy_updated", policy_id=policy_id, by=principal.name)

    async def delete(self, principal: Principal, policy_id: int) -> None:
        found = await self._policy(principal, policy_id, Action.DELETE)
        async with self._db.transaction() as tx:
            await jobs_store.delete_schedule(tx, RETENTION, policy_id)
            await store.delete_policy(tx, policy_id)
            await projects_store.delete_metadata(tx, found.project_id, METADATA_KEY)
        log.info("retention_policy_deleted", policy_id=policy_id, by=principal.name)

    async def run(self, principal: Principal, policy_id: int, dry_run: bool) -> int:
        await self._policy(principal, policy_id, Action.UPDATE)
        params = RetentionParams(policy_id=policy_id, dry_run=dry_run, operator=principal.name)
        job_id = await self._submitter.submit(RETENTION, params.to_json())
        log.info("retention_run_submitted", policy_id=policy_id, job_id=job_id, dry_run=dry_run, by=principal.name)
        return job_id

    async def executions(self, principal: Principal, policy_id: int, page: Page) -> tuple[list[Job], int]:
        await self._policy(principal, policy_id, Action.LIST)
        return await store.executions(self._db.pool, policy_id, page.size, page.offset)

    async def _execution(self, policy_id: int, execution_id: int) -> Job:
        job = await store.execution(self._db.pool, policy_id, execution_id)
        if job is None:
            raise NotFound(f"retention execution {execution_id} of policy {policy_id} not found")
        return job

    async def stop(self, principal: Principal, policy_id: int, execution_id: int) -> None:
        await self._policy(principal, policy_id, Action.UPDATE)
        await stop_job(self._db, principal, await self._execution(policy_id, execution_id), "retention execution")

    async def tasks(
        self, principal: Principal, policy_id: int, execution_id: int, page: Page
    ) -> tuple[Job, list[Task], int]:
        await self._policy(principal, policy_id, Action.LIST)
        job = await self._execution(policy_id, execution_id)
        tasks, total = await store.tasks(self._db.pool, job.id, page.size, page.offset)
        return job, tasks, total

    async def task_log(self, principal: Principal, policy_id: int, execution_id: int, task_id: int) -> str:
        await self._policy(principal, policy_id, Action.READ)
        job = await self._execution(policy_id, execution_id)
        text = await store.task_log(self._db.pool, job.id, task_id)
        if text is None:
            raise NotFound(f"retention task {task_id} of execution {execution_id} not found")
        return text
