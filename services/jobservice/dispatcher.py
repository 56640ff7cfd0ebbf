"""Every jobservice process runs a dispatcher: once a second it hands due pending jobs to the stream (new
retries, jobs whose entry Redis lost, jobs submitted while Redis was away) and reaps jobs whose worker
stopped answering, so no job stays "running" after a crash (kill -9, a lost machine): it is retried while
attempts remain, else failed with the reason. Both steps are single statements under SKIP LOCKED, so any
number of processes may run them at once."""

from __future__ import annotations

import asyncio
import time

import redis.exceptions
import structlog

from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.queue import JobQueue
from services.common.tasks import raise_if_cancelled
from services.jobservice.worker import DB_ERRORS

log = structlog.get_logger()
POLL_S = 1.0
BATCH = 100
# A pending job handed to the stream this long ago and still pending was lost on the way: hand it again.
REDELIVER_S = 30.0
JANITOR_EVERY_S = 60.0


class Dispatcher:
    def __init__(self, name: str, db: Database, queue: JobQueue, *, heartbeat_timeout_s: float) -> None:
        self._name = name
        self._db = db
        self._queue = queue
        self._timeout_s = heartbeat_timeout_s

    async def tick(self) -> tuple[int, int]:
        """One round: (jobs handed to the stream, jobs reaped)."""
        handed = 0
        while ids := await store.due(self._db.pool, BATCH, REDELIVER_S):
            await self._queue.put(ids)
            handed += len(ids)
            if len(ids) < BATCH:
                break
        reaped = await store.reap(self._db.pool, self._timeout_s)
        for job_id, job_type, status, worker in reaped:
            log.warning("job_reaped", job_id=job_id, job_type=job_type, status=status, dead_worker=worker)
            await store.append_log(
                self._db.pool,
                job_id,
                "warning",
                f"worker {worker} stopped answering; the job is {'retried' if status == 'pending' else status}",
            )
        return handed, len(reaped)

    async def run(self) -> None:
        last_janitor = 0.0
        while True:
            raise_if_cancelled()
            try:
                await self.tick()
                if time.monotonic() - last_janitor > JANITOR_EVERY_S:
                    last_janitor = time.monotonic()
                    await self._queue.drop_abandoned(f"{self._name}-janitor", int(self._timeout_s * 2000))
            except (*DB_ERRORS, redis.exceptions.RedisError) as exc:
                log.warning("dispatcher_failed", error=str(exc))
            except Exception:
                # A bug here must not stop the jobservice: logged with its traceback, tried again.
                log.exception("dispatcher_crashed")
            await asyncio.sleep(POLL_S)
