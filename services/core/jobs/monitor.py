"""Harbor's job service dashboard over every job type: the worker pools and what their workers run, the
queues (pending jobs per type, how long the oldest has waited, paused or not) with stop/pause/resume, the
schedules and whether the scheduler is paused, a job's log, and stopping a job. Harbor's permissions:
jobservice-monitor List to look, Stop to act (the sysadmin, or a system robot granted them). No aiohttp."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.cron import latest_tick
from services.common.jobs.models import JOB_TYPES, SCHEDULER, LogLine, Schedule
from services.common.jobs.pools import PoolBoard, PoolState, WorkerState
from services.common.rbac import Action
from services.core.errors import BadRequest, NotFound
from services.core.jobs.service import find_job, stop_job
from services.core.listing import Page
from services.core.security.access import require_system

log = structlog.get_logger()

ALL = "all"  # Harbor's name for every pool, every queue
QueueAction = Literal["stop", "pause", "resume"]
QUEUE_ACTIONS: tuple[QueueAction, ...] = ("stop", "pause", "resume")


class PoolNotFound(NotFound):
    default_message = "worker pool not found"


class QueueNotFound(NotFound):
    default_message = "job queue not found"


@dataclass(frozen=True, slots=True)
class QueueInfo:
    job_type: str
    count: int  # jobs waiting (for SCHEDULER: schedules whose newest tick has not fired)
    latency_s: float  # how long the longest-waiting one has waited
    paused: bool


class JobMonitor:
    RESOURCE = "jobservice-monitor"

    def __init__(self, db: Database, board: PoolBoard) -> None:
        self._db = db
        self._board = board

    def _look(self, principal: Principal, what: str) -> None:
        require_system(principal, self.RESOURCE, Action.LIST, what)

    def _act(self, principal: Principal, what: str) -> None:
        require_system(principal, self.RESOURCE, Action.STOP, what)

    # --- pools and workers ----------------------------------------------------------------------------

    async def pools(self, principal: Principal) -> list[PoolState]:
        self._look(principal, "list worker pools")
        return await self._board.pools()

    async def workers(self, principal: Principal, pool_id: str) -> list[tuple[str, WorkerState]]:
        """(pool id, worker) of the pool's workers, or every pool's for `all`."""
        self._look(principal, "list workers")
        pools = await self._board.pools()
        if pool_id != ALL:
            pools = [p for p in pools if p.id == pool_id]
            if not pools:
                raise PoolNotFound(f"worker pool {pool_id!r} not found (it may have stopped)")
        return [(p.id, w) for p in pools for w in p.workers]

    # --- jobs -----------------------------------------------------------------------------------------

    async def log(self, principal: Principal, job_id: int) -> list[LogLine]:
        self._look(principal, "read job logs")
        await find_job(self._db, job_id, "job")
        return await store.read_log(self._db.pool, job_id)

    async def stop(self, principal: Principal, job_id: int) -> None:
        self._act(principal, "stop jobs")
        await stop_job(self._db, principal, await find_job(self._db, job_id, "job"), "job")

    # --- queues ---------------------------------------------------------------------------------------

    async def queues(self, principal: Principal) -> list[QueueInfo]:
        self._look(principal, "list job queues")
        return await self._queues()

    async def _queues(self) -> list[QueueInfo]:
        pool = self._db.pool
        pending = await store.pending_by_type(pool)
        paused = await store.paused_types(pool)
        types = [*JOB_TYPES, *sorted((pending.keys() | paused) - {*JOB_TYPES, SCHEDULER})]
        queues = [QueueInfo(t, *pending.get(t, (0, 0.0)), paused=t in paused) for t in types]
        waiting = self._unfired(await store.list_schedules(pool), dt.datetime.now(dt.UTC))
        oldest = min((tick for _, tick in waiting), default=None)
        latency = 0.0 if oldest is None else (dt.datetime.now(dt.UTC) - oldest).total_seconds()
        queues.append(QueueInfo(SCHEDULER, len(waiting), latency, paused=SCHEDULER in paused))
        return queues

    @staticmethod
    def _unfired(schedules: Sequence[Schedule], now: dt.datetime) -> list[tuple[Schedule, dt.datetime]]:
        """Schedules whose newest tick has passed without firing (the scheduler is paused, or no jobservice
        runs), with that tick."""
        out = []
        for schedule in schedules:
            try:
                tick = latest_tick(schedule.cron, now)
            except (ValueError, KeyError):
                continue
            if schedule.last_tick is None or tick > schedule.last_tick:
                out.append((schedule, tick))
        return out

    async def act_on_queue(self, principal: Principal, job_type: str, action: QueueAction) -> None:
        """Harbor's actionPendingJobs: stop (every pending job of the type; for the scheduler, skip the
        ticks waiting to fire), pause (its jobs wait, running ones go on) or resume; `all` for every queue."""
        self._act(principal, f"{action} job queues")
        known = [q.job_type for q in await self._queues()]
        if job_type != ALL and job_type not in known:
            raise QueueNotFound(f"no job queue {job_type[:100]!r}: the queues are {', '.join(known)}")
        types = known if job_type == ALL else [job_type]
        pool = self._db.pool
        if action == "stop":
            jobs = [t for t in types if t != SCHEDULER]
            stopped = await store.stop_pending(pool, jobs, f"stopped with its queue by {principal.name}")
            skipped = await self._skip_ticks() if SCHEDULER in types else 0
            log.info("job_queue_stopped", job_types=types, jobs=len(stopped), ticks=skipped, by=principal.name)
        else:
            await store.set_paused(pool, types, action == "pause")
            event = "job_queue_paused" if action == "pause" else "job_queue_resumed"
            log.info(event, job_types=types, by=principal.name)

    async def _skip_ticks(self) -> int:
        now = dt.datetime.now(dt.UTC)
        skipped = 0
        for schedule, tick in self._unfired(await store.list_schedules(self._db.pool), now):
            skipped += await store.advance_schedule(self._db.pool, schedule.id, schedule.last_tick, tick)
        return skipped

    # --- schedules ------------------------------------------------------------------------------------

    async def schedules(self, principal: Principal, page: Page) -> tuple[list[Schedule], int]:
        self._look(principal, "list schedules")
        pool = self._db.pool
        return await store.list_schedules(pool, page.size, page.offset), await store.count_schedules(pool)

    async def scheduler_paused(self, principal: Principal, job_type: str) -> bool:
        self._look(principal, "read the scheduler's status")
        if job_type != ALL:
            raise BadRequest(f"the scheduler's status is kept for all schedules at once: ask for {ALL!r}")
        return SCHEDULER in await store.paused_types(self._db.pool)
