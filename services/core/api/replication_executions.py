"""/api/v2.0/replication/executions[/{id}[/tasks[/{task_id}/log]]] (Harbor's ReplicationExecution and
ReplicationTask shapes): POST starts a policy, PUT stops an execution."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.jobs.models import Job
from services.common.jobs.replication import TRIGGERS
from services.core.api.body import no_unknown_fields, opt_int, read_object
from services.core.api.common import API, harbor_time, page_headers, path_id
from services.core.errors import BadRequest
from services.core.listing import parse_page
from services.core.replication.execution_models import (
    EXECUTION_STATUSES,
    TASK_STATUSES,
    ExecutionFilter,
    TaskCounts,
    TaskView,
)
from services.core.replication.executions import ReplicationExecutionService
from services.core.security.middleware import principal_of

_STATUS = {"pending": "InProgress", "running": "InProgress", "success": "Succeed", "error": "Failed"}
_STATUS["stopped"] = "Stopped"


def render_execution(job: Job, counts: TaskCounts) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "policy_id": int(job.parameters.get("policy_id", 0)),
        "status": _STATUS[job.status],
        "trigger": job.parameters.get("trigger", "manual"),
        "start_time": harbor_time(job.started_at or job.created_at),
        "status_text": job.error,
        "total": counts.total,
        "failed": counts.failed,
        "succeed": counts.succeed,
        "in_progress": counts.in_progress,
        "stopped": counts.stopped,
    }
    if job.finished_at is not None:  # Harbor's zero time would read as a time; absent until it ends
        body["end_time"] = harbor_time(job.finished_at)
    return body


def render_task(task: TaskView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id,
        "execution_id": task.job_id,
        "status": task.status,
        "job_id": str(task.job_id),
        "operation": task.operation,
        "resource_type": task.resource_type,
        "src_resource": task.src_resource,
        "dst_resource": task.dst_resource,
    }
    if task.started_at is not None:
        body["start_time"] = harbor_time(task.started_at)
    if task.finished_at is not None:
        body["end_time"] = harbor_time(task.finished_at)
    return body


def _choice(request: web.Request, key: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(key)
    if value is None or value == "":
        return None
    if value not in choices:
        raise BadRequest(f"{key} must be one of {', '.join(choices)}, not {value[:40]!r}")
    return value


class ReplicationExecutionsApi:
    def __init__(self, executions: ReplicationExecutionService) -> None:
        self._executions = executions

    def routes(self) -> list[web.RouteDef]:
        base = f"{API}/replication/executions"
        return [
            web.get(base, self.list, allow_head=False),
            web.post(base, self.start),
            web.get(f"{base}/{{id}}", self.get, allow_head=False),
            web.put(f"{base}/{{id}}", self.stop),
            web.get(f"{base}/{{id}}/tasks", self.tasks, allow_head=False),
            web.get(f"{base}/{{id}}/tasks/{{task_id}}/log", self.task_log, allow_head=False),
        ]

    async def list(self, request: web.Request) -> web.Response:
        policy = request.query.get("policy_id")
        if policy is not None and (not policy.isascii() or not policy.isdigit() or len(policy) > 18):
            raise BadRequest("policy_id must be an integer")
        where = ExecutionFilter(
            policy_id=int(policy) if policy else None,
            status=_choice(request, "status", EXECUTION_STATUSES),
            trigger=_choice(request, "trigger", TRIGGERS),
        )
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        found, total = await self._executions.list(principal_of(request), where, page)
        return web.json_response([render_execution(*x) for x in found], headers=page_headers(request, page, total))

    async def start(self, request: web.Request) -> web.Response:
        data = await read_object(request)
        no_unknown_fields(data, frozenset({"policy_id"}), what="execution")
        policy_id = opt_int(data, "policy_id")
        if not policy_id:
            raise BadRequest("policy_id (a positive integer) is required")
        execution_id = await self._executions.start(principal_of(request), policy_id)
        return web.Response(status=201, headers={"Location": f"{API}/replication/executions/{execution_id}"})

    async def get(self, request: web.Request) -> web.Response:
        job, counts = await self._executions.get(principal_of(request), path_id(request, "id"))
        return web.json_response(render_execution(job, counts))

    async def stop(self, request: web.Request) -> web.Response:
        await self._executions.stop(principal_of(request), path_id(request, "id"))
        return web.Response(status=200)

    async def tasks(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        status = _choice(request, "status", TASK_STATUSES)
        resource_type = _choice(request, "resource_type", ("image", "artifact"))
        found, total = await self._executions.tasks(
            principal_of(request), path_id(request, "id"), status, resource_type, page
        )
        return web.json_response([render_task(t) for t in found], headers=page_headers(request, page, total))

    async def task_log(self, request: web.Request) -> web.Response:
        text = await self._executions.task_log(
            principal_of(request), path_id(request, "id"), path_id(request, "task_id")
        )
        return web.Response(text=text, content_type="text/plain")
