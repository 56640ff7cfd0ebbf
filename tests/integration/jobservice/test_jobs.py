"""The jobservice against real PostgreSQL and Redis: jobs run from their rows (at least once, retried with
backoff, stoppable within seconds), a dead worker's job is picked up again or failed with a reason, cron
ticks fire exactly once across several schedulers, and the audit log purge runs as a real process."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.models import PURGE_AUDIT_LOG, SCHEDULER, backoff_seconds
from services.common.jobs.pools import PoolBoard
from services.common.jobs.queue import JobQueue
from services.common.jobs.submit import JobSubmitter
from services.common.redis import RedisClient
from services.common.settings import DatabaseSettings, RedisSettings
from services.common.tasks import background
from services.jobservice.context import JobContext, JobFailed, JobRegistry
from services.jobservice.dispatcher import Dispatcher
from services.jobservice.pool import PoolReporter
from services.jobservice.scheduler import Scheduler
from services.jobservice.worker import Worker
from tests.harness.jobservice import JobserviceProcess
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, REDIS_URL, TestDatabase
from tests.harness.waiting import async_eventually as wait_until

pytestmark = pytest.mark.integration
DEADLINE_S = 30.0


class Bench:
    """One database and Redis prefix, the queue, and helpers to run workers in this process."""

    def __init__(self, db: Database, redis: RedisClient) -> None:
        self.db = db
        self.redis = redis
        self.queue = JobQueue(redis)
        self.submitter = JobSubmitter(db, self.queue)

    def worker(self, jobs: JobRegistry, name: str | None = None) -> Worker:
        return Worker(name or f"w-{uuid.uuid4().hex[:6]}", self.db, self.queue, jobs, heartbeat_seconds=0.2)

    async def job(self, job_id: int) -> Any:
        found = await store.get(self.db.pool, job_id)
        assert found is not None
        return found

    async def status_is(self, job_id: int, *statuses: str) -> bool:
        return (await self.job(job_id)).status in statuses


@pytest.fixture
async def bench(pg_database: TestDatabase) -> AsyncIterator[Bench]:
    db = Database(DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=pg_database.name))
    redis = RedisClient(RedisSettings(url=REDIS_URL, key_prefix=f"berth-test-jobs-{uuid.uuid4().hex[:8]}:"))
    await db.open()
    await redis.open()
    b = Bench(db, redis)
    await b.queue.ensure_group()
    try:
        yield b
    finally:
        keys = await redis.client.keys(redis.key("*"))
        if keys:
            await redis.client.delete(*keys)
        await redis.close()
        await db.close()


async def test_a_job_runs_once_from_its_row_even_when_delivered_twice(bench: Bench) -> None:
    runs: list[int] = []

    async def count(context: JobContext) -> None:
        runs.append(context.job.id)
        await context.log("counted")
        context.result = {"n": len(runs)}

    worker = bench.worker({"COUNT": count})
    job_id = await bench.submitter.submit("COUNT", {"x": 1})
    await bench.queue.put([job_id, job_id])  # a duplicate delivery
    async with background(worker.run()):
        await wait_until(lambda: bench.status_is(job_id, "success"), "the job succeeds")
        await asyncio.sleep(0.5)  # the duplicate entry, if any, has been read by now
    job = await bench.job(job_id)
    assert runs == [job_id] and job.attempts == 1 and job.result == {"n": 1} and job.parameters == {"x": 1}
    assert [line.message for line in await store.read_log(bench.db.pool, job_id)] == ["counted"]


async def test_a_failing_job_is_retried_with_backoff_then_fails_with_its_error(bench: Bench) -> None:
    async def flaky(context: JobContext) -> None:
        if context.job.attempts < 3:
            raise OSError(f"attempt {context.job.attempts} broke")

    async def broken(context: JobContext) -> None:
        raise RuntimeError("always")

    worker = bench.worker({"FLAKY": flaky, "BROKEN": broken})
    dispatcher = Dispatcher("d", bench.db, bench.queue, heartbeat_timeout_s=30)
    flaky_id = await bench.submitter.submit("FLAKY", {})
    broken_id = await bench.submitter.submit("BROKEN", {})
    async with background(worker.run()), background(dispatcher.run()):
        # Backoff: 2 s after the first failure, 4 s after the second.
        await wait_until(lambda: bench.status_is(flaky_id, "success"), "the flaky job succeeds", 60)
        await wait_until(lambda: bench.status_is(broken_id, "error"), "the broken job fails", 60)
    flaky_job, broken_job = await bench.job(flaky_id), await bench.job(broken_id)
    assert flaky_job.attempts == 3 and flaky_job.error == ""  # the failures are in its log
    assert broken_job.attempts == 3 and broken_job.error == "RuntimeError: always"
    log = [line.message for line in await store.read_log(bench.db.pool, flaky_id)]
    assert log[0].startswith("attempt 1 of 3 failed: OSError: attempt 1 broke; retry in 2 s")
    assert log[1].startswith("attempt 2 of 3 failed") and "retry in 4 s" in log[1]
    assert [backoff_seconds(n) for n in (1, 2, 3, 10, 20)] == [2, 4, 8, 600, 600]


async def test_a_job_failed_for_good_is_not_retried(bench: Bench) -> None:
    async def refuses(context: JobContext) -> None:
        raise JobFailed("parameters do not parse")

    worker = bench.worker({"REFUSES": refuses})
    job_id = await bench.submitter.submit("REFUSES", {})
    unknown_id = await bench.submitter.submit("NO_SUCH_TYPE", {})
    async with background(worker.run()):
        await wait_until(lambda: bench.status_is(job_id, "error"), "the job fails")
        await wait_until(lambda: bench.status_is(unknown_id, "error"), "the unknown type fails")
    assert (await bench.job(job_id)).attempts == 1
    assert "NO_SUCH_TYPE" in (await bench.job(unknown_id)).error


async def test_a_stop_request_ends_a_running_job_within_seconds_and_a_pending_one_at_once(bench: Bench) -> None:
    started = asyncio.Event()

    async def forever(context: JobContext) -> None:
        started.set()
        await asyncio.sleep(3600)

    worker = bench.worker({"FOREVER": forever})
    job_id = await bench.submitter.submit("FOREVER", {})
    async with background(worker.run()):
        await asyncio.wait_for(started.wait(), DEADLINE_S)
        asked = time.monotonic()
        assert (await store.request_stop(bench.db.pool, job_id)) is not None
        await wait_until(lambda: bench.status_is(job_id, "stopped"), "the job stops", 5)
        assert time.monotonic() - asked < 5
    assert (await bench.job(job_id)).error == "stopped on request"
    assert await store.request_stop(bench.db.pool, job_id) is None  # a finished job: nothing to stop
    pending = await store.create(bench.db.pool, "FOREVER", {})
    assert pending is not None
    stopped = await store.request_stop(bench.db.pool, pending)
    assert stopped is not None and stopped.status == "stopped"


async def test_a_dead_workers_job_is_retried_and_one_out_of_attempts_fails_with_the_reason(bench: Bench) -> None:
    """What kill -9 leaves: rows running under a worker that no longer beats, stream entries never acked."""
    pool = bench.db.pool
    retried = await store.create(pool, "COUNT", {}, max_attempts=2)
    spent = await store.create(pool, "COUNT", {}, max_attempts=1)
    assert retried is not None and spent is not None
    for job_id in (retried, spent):
        assert await store.claim(pool, job_id, "dead-worker") is not None
    await pool.execute("UPDATE jobs SET heartbeat_at = now() - interval '1 hour'")

    async def count(context: JobContext) -> None:
        context.result = {"ok": True}

    dispatcher = Dispatcher("d", bench.db, bench.queue, heartbeat_timeout_s=1)
    async with background(bench.worker({"COUNT": count}).run()), background(dispatcher.run()):
        await wait_until(lambda: bench.status_is(retried, "success"), "the dead worker's job runs again")
        await wait_until(lambda: bench.status_is(spent, "error"), "the job without attempts left fails")
    assert (await bench.job(retried)).attempts == 2
    failed = await bench.job(spent)
    assert failed.error == "the worker dead-worker stopped answering (no heartbeat for 1 s)"
    assert "stopped answering" in (await store.read_log(pool, spent))[0].message


async def test_a_shutdown_gives_the_running_job_back(bench: Bench) -> None:
    started = asyncio.Event()

    async def slow(context: JobContext) -> None:
        started.set()
        await asyncio.sleep(3600)

    job_id = await bench.submitter.submit("SLOW", {})
    async with background(bench.worker({"SLOW": slow}).run()):
        await asyncio.wait_for(started.wait(), DEADLINE_S)
    job = await bench.job(job_id)
    assert job.status == "pending" and job.attempts == 0


async def test_a_paused_queue_holds_its_jobs_until_resumed(bench: Bench) -> None:
    async def count(context: JobContext) -> None:
        pass

    await store.set_paused(bench.db.pool, ["COUNT"], True)
    job_id = await bench.submitter.submit("COUNT", {})
    dispatcher = Dispatcher("d", bench.db, bench.queue, heartbeat_timeout_s=30)
    async with background(bench.worker({"COUNT": count}).run()), background(dispatcher.run()):
        await asyncio.sleep(1.5)
        assert (await bench.job(job_id)).status == "pending"
        # Handed over again at once, not after the dispatcher's redelivery time: right after the resume the
        # job is marked as never handed (or handed since).
        resumed_at = await bench.db.pool.fetchval("SELECT clock_timestamp()")
        await store.set_paused(bench.db.pool, ["COUNT"], False)
        handed = await bench.db.pool.fetchval("SELECT enqueued_at FROM jobs WHERE id = $1", job_id)
        assert handed is None or handed >= resumed_at
        await wait_until(lambda: bench.status_is(job_id, "success"), "the resumed job runs")


async def test_a_pool_reports_its_workers_and_what_they_run_and_leaves_when_stopped(bench: Bench) -> None:
    release = asyncio.Event()

    async def slow(context: JobContext) -> None:
        await context.log("halfway there")
        await release.wait()

    board = PoolBoard(bench.redis)
    busy, idle = bench.worker({"SLOW": slow}, "pool-a-0"), bench.worker({}, "pool-a-1")
    reporter = PoolReporter("pool-a", board, [busy, idle], every_s=0.1, ttl_s=30)
    job_id = await bench.submitter.submit("SLOW", {})

    async def shows_the_job() -> bool:
        pools = await board.pools()
        return bool(pools) and pools[0].workers[0].check_in == "halfway there"

    async with background(reporter.run()), background(busy.run()):
        await wait_until(shows_the_job, "the pool shows the running job's check-in")
        (pool,) = await board.pools()
        assert pool.id == "pool-a" and pool.concurrency == 2 and pool.heartbeat_at >= pool.started_at
        running, waiting = pool.workers
        assert (running.id, running.job_id, running.job_type) == ("pool-a-0", job_id, "SLOW")
        assert running.started_at is not None and running.checkin_at is not None
        assert (waiting.id, waiting.job_id, waiting.job_type, waiting.started_at) == ("pool-a-1", None, "", None)
        release.set()
        await wait_until(lambda: bench.status_is(job_id, "success"), "the job ends")

        async def idle_again() -> bool:
            return (await board.pools())[0].workers[0].job_id is None

        await wait_until(idle_again, "the worker shows idle again")
    assert await board.pools() == []  # a clean stop withdraws the pool at once
    # A pool that stops reporting (killed) leaves when its report expires.
    await board.publish(reporter.state(), ttl_s=0.2)
    assert [p.id for p in await board.pools()] == ["pool-a"]

    async def gone() -> bool:
        return await board.pools() == []

    await wait_until(gone, "the dead pool's report expires")


async def test_a_paused_scheduler_fires_no_tick_until_resumed_then_the_newest_once(bench: Bench) -> None:
    pool = bench.db.pool
    schedule = await store.put_schedule(pool, "TICK", 0, "* * * * * *", "Custom", {})
    scheduler = Scheduler("s", bench.db, bench.redis, bench.submitter)
    await store.set_paused(pool, [SCHEDULER], True)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert await scheduler.fire_due(later) == []
    await store.set_paused(pool, [SCHEDULER], False)
    fired = await scheduler.fire_due(later)
    assert len(fired) == 1 and await scheduler.fire_due(later) == []
    assert (await bench.job(fired[0])).schedule_id == schedule.id


async def test_cron_ticks_fire_exactly_once_across_schedulers(bench: Bench) -> None:
    pool = bench.db.pool
    schedule = await store.put_schedule(pool, "TICK", 0, "* * * * * *", "Custom", {"p": 1})
    # Two processes' schedulers racing over the same instant: one job.
    a = Scheduler("a", bench.db, bench.redis, bench.submitter)
    b = Scheduler("b", bench.db, bench.redis, bench.submitter)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    fired = await asyncio.gather(a.fire_due(now), b.fire_due(now))
    assert sorted(len(f) for f in fired) == [0, 1]
    # Both loops running for a few seconds: one leader, one job per tick, no tick twice.
    async with background(a.run()), background(b.run()):
        await asyncio.sleep(4.5)
        assert [a.leader, b.leader].count(True) == 1
    rows = await pool.fetch(
        "SELECT tick, parameters::text AS p FROM jobs WHERE schedule_id = $1 ORDER BY tick", schedule.id
    )
    ticks = [r["tick"] for r in rows]
    assert len(ticks) == len(set(ticks)) >= 3
    assert all(r["p"] == '{"p": 1}' for r in rows)


async def test_a_leader_that_dies_is_replaced(bench: Bench) -> None:
    a = Scheduler("a", bench.db, bench.redis, bench.submitter)
    b = Scheduler("b", bench.db, bench.redis, bench.submitter)
    async with background(a.run()):
        await wait_until(lambda: asyncio.sleep(0, a.leader), "a leads")
        async with background(b.run()):
            await asyncio.sleep(1.5)
            assert not b.leader
            # a's lock lapses (as a killed leader's does): a notices it lost it, and one of them leads again.
            await bench.redis.client.pexpire(bench.redis.key("jobservice", "scheduler"), 10)
            await wait_until(lambda: asyncio.sleep(0, not a.leader or b.leader), "a loses the lead")
            await wait_until(lambda: asyncio.sleep(0, a.leader != b.leader), "exactly one leads again")


async def _audit(conn: asyncpg.Connection, age_hours: float, operation: str, resource_type: str) -> None:
    await conn.execute(
        "INSERT INTO audit_log (operation, resource_type, resource, username, op_time)"
        " VALUES ($1, $2, 'r', 'u', now() - make_interval(secs => $3))",
        operation,
        resource_type,
        age_hours * 3600,
    )


def test_the_audit_purge_runs_in_the_jobservice_process_and_a_dead_workers_job_is_finished(
    tmp_path: Path, pg_database: TestDatabase
) -> None:
    process = JobserviceProcess(tmp_path, pg_database, heartbeat_seconds=0.2, heartbeat_timeout_seconds=1)
    process.start()
    # Background work: nicer than the services users wait on (jobservice.nice, 10), or as nice as we are.
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == max(10, os.getpriority(os.PRIO_PROCESS, 0))

    async def scenario() -> None:
        conn = await asyncpg.connect(pg_database.dsn())
        db = Database(DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=pg_database.name))
        redis = RedisClient(RedisSettings(url=REDIS_URL, key_prefix=process.redis_prefix))
        await db.open()
        await redis.open()
        try:
            for _ in range(3):
                await _audit(conn, 100, "pull", "artifact")
            await _audit(conn, 100, "create", "artifact")
            await _audit(conn, 1, "pull", "artifact")
            submitter = JobSubmitter(db, JobQueue(redis))
            bench = Bench(db, redis)
            params = {"audit_retention_hour": 48, "include_event_types": "pull_artifact", "dry_run": True}
            dry = await submitter.submit(PURGE_AUDIT_LOG, params)
            await wait_until(lambda: bench.status_is(dry, "success"), "the dry run ends")
            assert (await bench.job(dry)).result == {"deleted": 0, "would_delete": 3, "dry_run": True}
            assert await conn.fetchval("SELECT count(*) FROM audit_log") == 5
            real = await submitter.submit(PURGE_AUDIT_LOG, {**params, "dry_run": False})
            await wait_until(lambda: bench.status_is(real, "success"), "the purge ends")
            assert (await bench.job(real)).result == {"deleted": 3, "dry_run": False}
            left = await conn.fetch("SELECT operation, op_time > now() - interval '2 hours' AS young FROM audit_log")
            assert sorted((r["operation"], r["young"]) for r in left) == [("create", False), ("pull", True)]
            log = await store.read_log(db.pool, real)
            assert "deleted 3 entries" in log[0].message

            # Parameters that do not parse: failed, recorded, not retried; the jobservice carries on.
            bad = await submitter.submit(PURGE_AUDIT_LOG, {"audit_retention_hour": "soon"})
            await wait_until(lambda: bench.status_is(bad, "error"), "the bad job fails")
            assert (await bench.job(bad)).attempts == 1
            assert "audit_retention_hour" in (await bench.job(bad)).error

            # What kill -9 of another jobservice leaves: its job running, no heartbeat. Finished here.
            orphan = await store.create(db.pool, PURGE_AUDIT_LOG, {**params, "dry_run": False})
            assert orphan is not None and await store.claim(db.pool, orphan, "gone-host-1-0") is not None
            await wait_until(lambda: bench.status_is(orphan, "success"), "the orphan is run again")
            assert (await bench.job(orphan)).attempts == 2
        finally:
            await conn.close()
            await redis.close()
            await db.close()

    try:
        asyncio.run(scenario())
    finally:
        assert process.stop() == 0, process.logs()
    assert '"event":"job_succeeded"' in process.logs()  # its log, for the collector
