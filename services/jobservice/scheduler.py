"""Cron schedules, fired by one leader among the jobservice processes (a Redis lock with an expiry, renewed
while it lives; a dead leader's lock lapses and another process takes over). Exactly once per tick even if
two leaders overlap for a moment: the job of a tick is unique on (schedule, tick) in PostgreSQL. A schedule
that missed ticks while no jobservice ran, or while an administrator paused the scheduler (the SCHEDULER
queue on the dashboard), fires its newest tick once, as cron does after a downtime."""

from __future__ import annotations

import asyncio
import datetime as dt

import redis.exceptions
import structlog
from redis.asyncio.lock import Lock

from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.cron import latest_tick
from services.common.jobs.models import SCHEDULER
from services.common.jobs.submit import JobSubmitter
from services.common.redis import RedisClient
from services.common.tasks import raise_if_cancelled
from services.jobservice.worker import DB_ERRORS

log = structlog.get_logger()
LOCK_TTL_S = 15.0
TICK_S = 1.0


class Scheduler:
    def __init__(self, name: str, db: Database, redis_client: RedisClient, submitter: JobSubmitter) -> None:
        self._name = name
        self._db = db
        self._redis = redis_client
        self._submitter = submitter
        self.leader = False

    async def fire_due(self, now: dt.datetime | None = None) -> list[int]:
        """Creates the job of every schedule whose newest tick has not fired; the new jobs' ids."""
        now = now or dt.datetime.now(dt.UTC)
        fired: list[int] = []
        if SCHEDULER in await store.paused_types(self._db.pool):
            return fired
        for schedule in await store.list_schedules(self._db.pool):
            try:
                tick = latest_tick(schedule.cron, now)
            except (ValueError, KeyError) as exc:
                log.error("schedule_cron_unreadable", schedule_id=schedule.id, cron=schedule.cron, error=str(exc))
                continue
            if schedule.last_tick is not None and tick <= schedule.last_tick:
                continue
            async with self._db.transaction() as tx:
                if not await store.advance_schedule(tx, schedule.id, schedule.last_tick, tick):
                    continue  # another process fired it
                job_id = await store.create(
                    tx, schedule.type, schedule.parameters, trigger="SCHEDULE", schedule_id=schedule.id, tick=tick
                )
            if job_id is not None:
                fired.append(job_id)
                log.info("schedule_fired", schedule_id=schedule.id, job_type=schedule.type, tick=tick.isoformat())
        if fired:
            await self._submitter.hand_over(fired)
        return fired

    async def run(self) -> None:
        lock = Lock(self._redis.client, self._redis.key("jobservice", "scheduler"), timeout=LOCK_TTL_S)
        while True:
            raise_if_cancelled()
            try:
                if self.leader:
                    self.leader = bool(await lock.reacquire())
                else:
                    self.leader = bool(await lock.acquire(blocking=False))
                    if self.leader:
                        log.info("scheduler_leader", process=self._name)
                if self.leader:
                    await self.fire_due()
            except redis.exceptions.LockError:
                self.leader = False
            except (*DB_ERRORS, redis.exceptions.RedisError) as exc:
                log.warning("scheduler_failed", error=str(exc))
            except Exception:
                log.exception("scheduler_crashed")
            await asyncio.sleep(TICK_S)
