"""Harbor's system job endpoints, /system/purgeaudit and /system/gc, with the same shapes: runs as
ExecHistory, the schedule as ExecHistory with its ScheduleObj, a run's log as text."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web

from services.common.jobs.cron import next_tick
from services.common.jobs.models import Job, LogLine, Schedule
from services.core.api.body import opt_object, read_object
from services.core.api.common import API, harbor_time, page_headers, path_int
from services.core.errors import BadRequest
from services.core.jobs.service import SCHEDULE_TYPES, ScheduleRequest, SystemJobs
from services.core.listing import parse_page
from services.core.security.middleware import principal_of

# Harbor's job_status words.
STATUS = {"pending": "Pending", "running": "Running", "success": "Success", "error": "Error", "stopped": "Stopped"}


def render_run(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "job_name": job.type,
        "job_kind": job.trigger,
        "job_parameters": json.dumps(job.parameters),
        # Harbor's: the trigger as a ScheduleObj type ("Manual", "Schedule"), never null.
        "schedule": {"type": job.trigger.title()},
        "job_status": STATUS[job.status],
        "deleted": False,
        "creation_time": harbor_time(job.created_at),
        "update_time": harbor_time(job.updated_at),
    }


def render_schedule(job_type: str, schedule: Schedule | None) -> dict[str, Any]:
    if schedule is None:
        return {}
    assert schedule.created_at is not None and schedule.updated_at is not None
    return {
        "id": schedule.id,
        "job_name": job_type,
        "job_kind": "SCHEDULE",
        "job_parameters": json.dumps(schedule.parameters),
        "schedule": {
            "type": schedule.kind,
            "cron": schedule.cron,
            "next_scheduled_time": harbor_time(next_tick(schedule.cron, dt.datetime.now(dt.UTC))),
        },
        "job_status": "",
        "deleted": False,
        "creation_time": harbor_time(schedule.created_at),
        "update_time": harbor_time(schedule.updated_at),
    }


def render_log(lines: list[LogLine]) -> str:
    return "".join(f"{harbor_time(x.at)} [{x.level.upper()}] {x.message}\n" for x in lines)


async def parse_schedule(request: web.Request) -> ScheduleRequest:
    """Harbor's Schedule body: {"schedule": {"type", "cron"}, "parameters": {...}}."""
    data = await read_object(request)
    schedule = opt_object(data, "schedule")
    if schedule is None:
        raise BadRequest('schedule is required: {"schedule": {"type": "Manual"}, "parameters": {...}}')
    kind = schedule.get("type")
    if kind not in SCHEDULE_TYPES:
        raise BadRequest(f"schedule.type must be one of {', '.join(SCHEDULE_TYPES)}")
    cron = schedule.get("cron") or ""
    if not isinstance(cron, str):
        raise BadRequest("schedule.cron must be a string")
    if kind in ("Custom", "Schedule") and not cron:
        raise BadRequest(f"schedule.cron is required for schedule.type {kind}")
    return ScheduleRequest(kind=kind, cron=cron, parameters=opt_object(data, "parameters") or {})


class SystemJobsApi:
    """One system job under `path` (e.g. /system/purgeaudit), its run id parameter named `run_param`."""

    def __init__(self, jobs: SystemJobs, path: str, run_param: str) -> None:
        self._jobs = jobs
        self._path = f"{API}{path}"
        self._param = run_param

    def routes(self) -> list[web.RouteDef]:
        run = f"{self._path}/{{{self._param}}}"
        # /schedule before /{id}, which would take it (and answer 400).
        return [
            web.get(f"{self._path}/schedule", self.get_schedule, allow_head=False),
            web.post(f"{self._path}/schedule", self.set_schedule),
            web.put(f"{self._path}/schedule", self.set_schedule),
            web.get(self._path, self.history, allow_head=False),
            web.get(run, self.get, allow_head=False),
            web.put(run, self.stop),
            web.get(f"{run}/log", self.log, allow_head=False),
        ]

    async def history(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        runs, total = await self._jobs.history(principal_of(request), page)
        return web.json_response([render_run(j) for j in runs], headers=page_headers(request, page, total))

    async def get(self, request: web.Request) -> web.Response:
        job = await self._jobs.get(principal_of(request), path_int(request, self._param))
        return web.json_response(render_run(job))

    async def stop(self, request: web.Request) -> web.Response:
        await self._jobs.stop(principal_of(request), path_int(request, self._param))
        return web.Response(status=200)

    async def log(self, request: web.Request) -> web.Response:
        lines = await self._jobs.log(principal_of(request), path_int(request, self._param))
        return web.Response(text=render_log(lines), content_type="text/plain")

    async def get_schedule(self, request: web.Request) -> web.Response:
        schedule = await self._jobs.schedule(principal_of(request))
        return web.json_response(render_schedule(self._jobs.job_type, schedule))

    async def set_schedule(self, request: web.Request) -> web.Response:
        job_id = await self._jobs.set_schedule(principal_of(request), await parse_schedule(request))
        if request.method == "PUT":
            return web.Response(status=200)
        location = f"{self._path}/{job_id}" if job_id is not None else f"{self._path}/schedule"
        return web.Response(status=201, headers={"Location": location})
