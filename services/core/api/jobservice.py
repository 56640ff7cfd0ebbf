"""Harbor's job service dashboard: /jobservice/pools, /jobservice/pools/{pool_id}/workers,
/jobservice/queues and PUT .../{job_type}, /jobservice/jobs/{job_id} (stop) and .../log, /schedules and
/schedules/{job_type}/paused, in Harbor's shapes (WorkerPool, Worker, JobQueue, ScheduleTask,
SchedulerStatus)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from services.common.jobs.pools import PoolState, WorkerState
from services.core.api.body import read_object
from services.core.api.common import API, harbor_time, page_headers, path_int
from services.core.api.system_jobs import render_log
from services.core.errors import BadRequest
from services.core.jobs.monitor import QUEUE_ACTIONS, JobMonitor
from services.core.listing import clean_text, parse_page
from services.core.security.middleware import principal_of


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else harbor_time(value)


def render_pool(pool: PoolState) -> dict[str, Any]:
    return {
        "pid": pool.pid,
        "worker_pool_id": pool.id,
        "start_at": harbor_time(pool.started_at),
        "heartbeat_at": harbor_time(pool.heartbeat_at),
        "concurrency": pool.concurrency,
        "host": pool.host,
    }


def render_worker(pool_id: str, worker: WorkerState) -> dict[str, Any]:
    return {
        "id": worker.id,
        "pool_id": pool_id,
        "job_name": worker.job_type,
        "job_id": "" if worker.job_id is None else str(worker.job_id),
        "start_at": _time(worker.started_at),
        "check_in": worker.check_in,
        "checkin_at": _time(worker.checkin_at),
    }


class JobMonitorApi:
    def __init__(self, monitor: JobMonitor) -> None:
        self._monitor = monitor

    def routes(self) -> list[web.RouteDef]:
        jobservice, job = f"{API}/jobservice", f"{API}/jobservice/jobs/{{job_id}}"
        return [
            web.get(f"{jobservice}/pools", self.pools, allow_head=False),
            web.get(f"{jobservice}/pools/{{pool_id}}/workers", self.workers, allow_head=False),
            web.get(f"{jobservice}/queues", self.queues, allow_head=False),
            web.put(f"{jobservice}/queues/{{job_type}}", self.act_on_queue),
            web.put(job, self.stop),
            web.get(f"{job}/log", self.log, allow_head=False),
            web.get(f"{API}/schedules", self.schedules, allow_head=False),
            web.get(f"{API}/schedules/{{job_type}}/paused", self.scheduler_paused, allow_head=False),
        ]

    async def pools(self, request: web.Request) -> web.Response:
        pools = await self._monitor.pools(principal_of(request))
        return web.json_response([render_pool(p) for p in pools])

    async def workers(self, request: web.Request) -> web.Response:
        pool_id = clean_text(request.match_info["pool_id"], "pool_id")
        workers = await self._monitor.workers(principal_of(request), pool_id)
        return web.json_response([render_worker(pool, w) for pool, w in workers])

    async def queues(self, request: web.Request) -> web.Response:
        queues = await self._monitor.queues(principal_of(request))
        return web.json_response(
            [
                {"job_type": q.job_type, "count": q.count, "latency": int(q.latency_s), "paused": q.paused}
                for q in queues
            ]
        )

    async def act_on_queue(self, request: web.Request) -> web.Response:
        job_type = clean_text(request.match_info["job_type"], "job_type")
        action = (await read_object(request)).get("action")
        if action not in QUEUE_ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(QUEUE_ACTIONS)}")
        await self._monitor.act_on_queue(principal_of(request), job_type, action)
        return web.Response(status=200)

    async def stop(self, request: web.Request) -> web.Response:
        # Harbor's body: {"action": "stop"}, the one action a job takes.
        data = await read_object(request) if request.can_read_body else {}
        if data.get("action", "stop") != "stop":
            raise BadRequest("action must be stop")
        await self._monitor.stop(principal_of(request), path_int(request, "job_id"))
        return web.Response(status=200)

    async def log(self, request: web.Request) -> web.Response:
        lines = await self._monitor.log(principal_of(request), path_int(request, "job_id"))
        return web.Response(text=render_log(lines), content_type="text/plain")

    async def schedules(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        schedules, total = await self._monitor.schedules(principal_of(request), page)
        body = [
            {
                "id": s.id,
                "vendor_type": s.type,
                "vendor_id": s.vendor_id,
                "cron": s.cron,
                "update_time": _time(s.updated_at),
            }
            for s in schedules
        ]
        return web.json_response(body, headers=page_headers(request, page, total))

    async def scheduler_paused(self, request: web.Request) -> web.Response:
        job_type = clean_text(request.match_info["job_type"], "job_type")
        return web.json_response({"paused": await self._monitor.scheduler_paused(principal_of(request), job_type)})
