"""The outbox relay: publishes outbox rows to the Redis stream, and again when Redis lost them.

Rows are claimed with FOR UPDATE SKIP LOCKED and marked published in the same transaction as the XADD
succeeded, so several relays (one per registry or core process) never publish one row twice in normal
operation; a crash between XADD and COMMIT publishes it again, which the consumer absorbs by event_id.
A row stays in the outbox until the consumer acknowledges it; one published long ago is checked against
the stream, and published again if the stream no longer has it (Redis restarted without persistence, or
the stream was trimmed past it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import redis.exceptions
import structlog

from services.common.db import Database, listen_connection
from services.common.events import outbox
from services.common.redis import RedisClient
from services.common.settings import DatabaseSettings
from services.common.tasks import background, raise_if_cancelled, wait_set

log = structlog.get_logger()

STREAM = "events"
BATCH = 500
# Enough for a long consumer outage; an entry trimmed before it was consumed is published again.
STREAM_MAX_LEN = 1_000_000
POLL_S = 1.0
FAILURE_PAUSE_S = 1.0
REDELIVER_AFTER = dt.timedelta(seconds=30)


class Relay:
    def __init__(
        self,
        db: Database,
        redis: RedisClient,
        settings: DatabaseSettings,
        *,
        redeliver_after: dt.timedelta = REDELIVER_AFTER,
    ) -> None:
        self._db = db
        self._redis = redis
        self._settings = settings
        self._redeliver_after = redeliver_after
        self._wake = asyncio.Event()
        self.stream = redis.key(STREAM)

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        async with background(self._listen()), background(self._run()):
            yield

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            rows = await outbox.claim_unpublished(conn, BATCH)
            if rows:
                await self._publish(conn, rows)
        return len(rows)

    async def redeliver_lost(self) -> int:
        """Publish again what was published long ago, is not acknowledged, and is gone from the stream."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            rows = await outbox.claim_stale(conn, self._redeliver_after, BATCH)
            if not rows:
                return 0
            check = self._redis.client.pipeline(transaction=False)
            for row in rows:
                check.xrange(self.stream, row.stream_id or "0-0", row.stream_id or "0-0", count=1)
            present = await check.execute()
            lost = [row for row, found in zip(rows, present, strict=True) if not found]
            kept = [row.id for row, found in zip(rows, present, strict=True) if found]
            if kept:
                await outbox.touch(conn, kept)
            if lost:
                await self._publish(conn, lost)
                log.warning("events_republished", count=len(lost), reason="missing from the stream")
        return len(lost)

    async def _publish(self, conn: asyncpg.Connection, rows: list[outbox.OutboxRow]) -> None:
        pipe = self._redis.client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(self.stream, {"event": row.payload}, maxlen=STREAM_MAX_LEN, approximate=True)
        entry_ids = await pipe.execute()
        await outbox.mark_published(conn, [r.id for r in rows], [i.decode() for i in entry_ids])

    async def _run(self) -> None:
        while True:
            raise_if_cancelled()
            try:
                while await self.publish_pending() == BATCH:
                    pass
                await self.redeliver_lost()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, redis.exceptions.RedisError) as exc:
                # Events wait in the outbox; nothing is lost while PostgreSQL or Redis is away.
                log.warning("event_relay_failed", error=str(exc))
                await asyncio.sleep(FAILURE_PAUSE_S)
                continue
            self._wake.clear()
            await wait_set(self._wake, POLL_S)

    async def _listen(self) -> None:
        """Wakes the relay at each commit that wrote events; without it the relay still polls every second."""
        while True:
            raise_if_cancelled()
            lost = asyncio.Event()
            try:
                conn = await listen_connection(self._settings, "berth-event-relay")
            except (OSError, asyncpg.PostgresError, TimeoutError):
                await asyncio.sleep(5)
                continue
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(outbox.NOTIFY_CHANNEL, lambda *_: self._wake.set())
                await lost.wait()
            finally:
                if not conn.is_closed():
                    await conn.close(timeout=5)
            await asyncio.sleep(1)
