"""A worker: takes job ids from the stream, claims each job's row, runs it with a heartbeat, and writes
how it ended. At least once: a job whose attempt failed is retried with exponential backoff until its
attempts are spent; one whose worker died is retried by the reaper (services.jobservice.dispatcher); a
stop request is seen at the next heartbeat and cancels the job; a shutdown gives the running job back."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
import redis.exceptions
import structlog

from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.models import Job, backoff_seconds
from services.common.jobs.pools import WorkerState
from services.common.jobs.queue import JobQueue
from services.common.tasks import background, raise_if_cancelled
from services.jobservice.context import JobContext, JobFailed, JobRegistry

log = structlog.get_logger()
TAKE_BLOCK_MS = 1000
FAILURE_PAUSE_S = 1.0
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Worker:
    def __init__(
        self,
        name: str,
        db: Database,
        queue: JobQueue,
        jobs: JobRegistry,
        *,
        heartbeat_seconds: float,
        on_end: Mapping[str, Callable[[Job], Awaitable[None]]] | None = None,
    ) -> None:
        """`on_end`: per job type, what to call once a job of that type has ended here (succeeded, failed
        for good or stopped; not when it waits for a retry or goes back at shutdown)."""
        self.name = name
        self._db = db
        self._queue = queue
        self._jobs = jobs
        self._heartbeat_s = heartbeat_seconds
        self._on_end = on_end or {}
        # The running job, for the dashboard: its context (check-ins) and when it started here.
        self._context: JobContext | None = None
        self._started_at: dt.datetime | None = None

    def state(self) -> WorkerState:
        context = self._context
        if context is None:
            return WorkerState(self.name, None, "", None, "", None)
        return WorkerState(
            self.name, context.job.id, context.job.type, self._started_at, context.check_in, context.checkin_at
        )

    async def run(self) -> None:
        while True:
            raise_if_cancelled()
            try:
                entries = await self._queue.take(self.name, TAKE_BLOCK_MS)
                for entry_id, job_id in entries:
                    if job_id is None:
                        log.warning("job_entry_malformed", entry=entry_id.decode(errors="replace"))
                    else:
                        await self.run_one(job_id)
                    await self._queue.ack(entry_id)
            except (*DB_ERRORS, redis.exceptions.RedisError) as exc:
                # Nothing is lost: the rows say what is pending, the dispatcher hands it over again.
                log.warning("worker_failed", worker=self.name, error=str(exc))
                await asyncio.sleep(FAILURE_PAUSE_S)
            except Exception:
                # A bug must not take the worker down; the job's row is reaped if it was left running.
                log.exception("worker_crashed", worker=self.name)
                await asyncio.sleep(FAILURE_PAUSE_S)

    async def run_one(self, job_id: int) -> None:
        job = await store.claim(self._db.pool, job_id, self.name)
        if job is None:
            return  # delivered twice, not due yet, stopped or paused meanwhile: the row decides
        context = JobContext(job, self._db)
        self._context, self._started_at = context, dt.datetime.now(dt.UTC)
        try:
            await self._run(context)
        finally:
            self._context = self._started_at = None
        hook = self._on_end.get(job.type)
        if hook is not None:
            ended = await store.get(self._db.pool, job.id)
            if ended is not None and ended.finished:
                await hook(ended)

    async def _run(self, context: JobContext) -> None:
        job, pool = context.job, self._db.pool
        function = self._jobs.get(job.type)
        if function is None:
            await store.finish(pool, job.id, self.name, "error", error=f"no job type {job.type[:100]!r} here")
            return
        log.info("job_started", job_id=job.id, job_type=job.type, attempt=job.attempts, worker=self.name)
        task = asyncio.create_task(function(context))
        why_cancelled: list[str] = []

        async def beat() -> None:
            while True:
                raise_if_cancelled()
                await asyncio.sleep(self._heartbeat_s)
                try:
                    answer = await store.heartbeat(pool, job.id, self.name)
                except DB_ERRORS as exc:
                    log.warning("job_heartbeat_failed", job_id=job.id, error=str(exc))
                    continue
                if answer is None or answer:
                    why_cancelled.append("lost" if answer is None else "stop")
                    task.cancel()
                    return

        try:
            async with background(beat()):
                await task
        except asyncio.CancelledError:
            if not why_cancelled:
                # The jobservice is stopping: the job goes back to pending for another worker.
                await asyncio.shield(store.release(pool, job.id, self.name))
                log.info("job_released", job_id=job.id, job_type=job.type, worker=self.name)
                raise
            if why_cancelled[0] == "stop":
                await store.finish(pool, job.id, self.name, "stopped", error="stopped on request")
                await context.log("stopped on request", level="warning")
                log.info("job_stopped", job_id=job.id, job_type=job.type)
            else:
                log.warning("job_lost", job_id=job.id, job_type=job.type, worker=self.name)
            return
        except JobFailed as exc:
            await self._failed(context, str(exc), retry=False)
            return
        except Exception as exc:
            await self._failed(context, f"{type(exc).__name__}: {exc}", retry=True)
            return
        await store.finish(pool, job.id, self.name, "success", result=context.result)
        log.info("job_succeeded", job_id=job.id, job_type=job.type, result=context.result)

    async def _failed(self, context: JobContext, error: str, *, retry: bool) -> None:
        await record_failure(context, self.name, error, retry=retry)


async def record_failure(context: JobContext, worker: str, error: str, *, retry: bool) -> bool:
    """Ends a failed attempt of the job `worker` runs: pending again after its backoff while attempts are
    left and `retry` holds (True), failed for good otherwise (False)."""
    job, pool = context.job, context.db.pool
    error = error[:2000]
    if retry and job.attempts < job.max_attempts:
        delay = backoff_seconds(job.attempts)
        await context.log(f"attempt {job.attempts} of {job.max_attempts} failed: {error}; retry in {delay:g} s")
        await store.retry(pool, job.id, worker, error, delay)
        return True
    await context.log(f"failed: {error}", level="error")
    await store.finish(pool, job.id, worker, "error", error=error)
    log.warning("job_failed", job_id=job.id, job_type=job.type, attempts=job.attempts, error=error)
    return False
