"""/api/v2.0/retentions: Harbor's RetentionPolicy (as given, ids assigned), RetentionMetadata, and its runs
as RetentionExecution / RetentionExecutionTask; a task's log is text."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.jobs.models import Job
from services.core.api.body import no_unknown_fields, opt_bool, opt_str, read_object
from services.core.api.common import API, harbor_time, page_headers, path_int
from services.core.errors import BadRequest
from services.core.listing import parse_page
from services.core.retention.models import Task
from services.core.retention.service import RetentionService
from services.core.security.middleware import principal_of

RETENTION = f"{API}/retentions/{{id}}"
EXECUTION = f"{RETENTION}/executions/{{eid}}"
# Harbor's task manager statuses and their codes.
_STATUS = {"pending": "Pending", "running": "Running", "success": "Success", "error": "Error", "stopped": "Stopped"}
_CODES = {"Pending": 0, "Running": 1, "Stopped": 2, "Error": 3, "Success": 3}


def render_execution(job: Job) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "policy_id": int(job.parameters.get("policy_id", 0)),
        "start_time": harbor_time(job.started_at or job.created_at),
        "status": _STATUS[job.status],
        "trigger": job.trigger,
        "dry_run": bool(job.parameters.get("dry_run", False)),
    }
    if job.finished_at is not None:  # absent until it ends (Harbor's schema has no null)
        body["end_time"] = harbor_time(job.finished_at)
    return body


def render_task(job: Job, task: Task) -> dict[str, Any]:
    status = task.status
    body: dict[str, Any] = {
        "id": task.id,
        "execution_id": job.id,
        "repository": task.repository,
        "job_id": str(job.id),
        "status": status,
        "status_code": _CODES[status],
        "status_revision": 0,
        "start_time": harbor_time(task.started_at),
        "total": task.total,
        "retained": task.retained,
    }
    if task.finished_at is not None:
        body["end_time"] = harbor_time(task.finished_at)
    return body


class RetentionApi:
    def __init__(self, retention: RetentionService) -> None:
        self._retention = retention

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/retentions/metadatas", self.metadatas, allow_head=False),
            web.post(f"{API}/retentions", self.create),
            web.get(RETENTION, self.get, allow_head=False),
            web.put(RETENTION, self.update),
            web.delete(RETENTION, self.delete),
            web.post(f"{RETENTION}/executions", self.run),
            web.get(f"{RETENTION}/executions", self.executions, allow_head=False),
            web.patch(EXECUTION, self.operate),
            web.get(f"{EXECUTION}/tasks", self.tasks, allow_head=False),
            web.get(f"{EXECUTION}/tasks/{{tid}}", self.task_log, allow_head=False),
        ]

    async def metadatas(self, request: web.Request) -> web.Response:
        return web.json_response(self._retention.metadata(principal_of(request)))

    async def create(self, request: web.Request) -> web.Response:
        policy_id = await self._retention.create(principal_of(request), await read_object(request))
        return web.Response(status=201, headers={"Location": f"{API}/retentions/{policy_id}"})

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(await self._retention.get(principal_of(request), path_int(request, "id")))

    async def update(self, request: web.Request) -> web.Response:
        await self._retention.update(principal_of(request), path_int(request, "id"), await read_object(request))
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._retention.delete(principal_of(request), path_int(request, "id"))
        return web.Response(status=200)

    async def run(self, request: web.Request) -> web.Response:
        data = await read_object(request) if request.can_read_body else {}
        no_unknown_fields(data, frozenset({"dry_run"}), what="retention execution request")
        policy_id = path_int(request, "id")
        job_id = await self._retention.run(principal_of(request), policy_id, bool(opt_bool(data, "dry_run")))
        return web.Response(status=201, headers={"Location": f"{API}/retentions/{policy_id}/executions/{job_id}"})

    async def executions(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        jobs, total = await self._retention.executions(principal_of(request), path_int(request, "id"), page)
        return web.json_response([render_execution(j) for j in jobs], headers=page_headers(request, page, total))

    async def operate(self, request: web.Request) -> web.Response:
        data = await read_object(request)
        no_unknown_fields(data, frozenset({"action"}), what="retention execution operation")
        if opt_str(data, "action") != "stop":
            raise BadRequest('action must be "stop"')
        await self._retention.stop(principal_of(request), path_int(request, "id"), path_int(request, "eid"))
        return web.Response(status=200)

    async def tasks(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        job, tasks, total = await self._retention.tasks(
            principal_of(request), path_int(request, "id"), path_int(request, "eid"), page
        )
        return web.json_response([render_task(job, t) for t in tasks], headers=page_headers(request, page, total))

    async def task_log(self, request: web.Request) -> web.Response:
        text = await self._retention.task_log(
            principal_of(request), path_int(request, "id"), path_int(request, "eid"), path_int(request, "tid")
        )
        return web.Response(text=text, content_type="text/plain")
