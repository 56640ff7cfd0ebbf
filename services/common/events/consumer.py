"""A consumer group on the event stream (services.common.events.relay publishes to it): each group gets
every event, and the processes of one group share them. A batch is handed to the group's handler, then
XACKed: a crash before the ack leaves the entries pending (read again at restart, or claimed by another
consumer once idle), so a handler must take an event twice without harm. Redis losing the stream and the
group (a restart without persistence) is repaired by recreating the group from the stream's start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import redis.exceptions
import structlog

from services.common.events.models import Event
from services.common.events.relay import STREAM
from services.common.redis import RedisClient
from services.common.tasks import background, raise_if_cancelled

log = structlog.get_logger()

BATCH = 500
BLOCK_MS = 2000
# A pending entry idle this long belongs to a consumer that died; another one takes it over.
CLAIM_IDLE_MS = 30_000
FAILURE_PAUSE_S = 1.0

Handler = Callable[[list[Event]], Awaitable[None]]


class StreamConsumer:
    def __init__(self, redis: RedisClient, group: str, name: str, handle: Handler) -> None:
        """`name` should be stable across restarts of the same process slot, so that what it left
        pending it reads again first."""
        self._redis = redis
        self._group = group
        self._handle_events = handle
        self.name = name
        self.stream = redis.key(STREAM)

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        async with background(self._run()):
            yield

    async def _run(self) -> None:
        reread_own = True
        while True:
            raise_if_cancelled()
            try:
                await self._ensure_group()
                if reread_own:
                    while await self._consume("0"):
                        pass
                    reread_own = False
                await self._claim_idle()
                await self._consume(">", block=True)
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    log.warning("event_consumer_failed", group=self._group, error=str(exc))
                    await asyncio.sleep(FAILURE_PAUSE_S)
                reread_own = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, redis.exceptions.RedisError) as exc:
                log.warning("event_consumer_failed", group=self._group, error=str(exc))
                reread_own = True
                await asyncio.sleep(FAILURE_PAUSE_S)

    async def _ensure_group(self) -> None:
        try:
            # From the start of the stream: a group recreated after Redis lost it reads all that is there.
            await self._redis.client.xgroup_create(self.stream, self._group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self, start: str, *, block: bool = False) -> int:
        reply: Any = await self._redis.client.xreadgroup(
            self._group, self.name, {self.stream: start}, count=BATCH, block=BLOCK_MS if block else None
        )
        entries = reply[0][1] if reply else []
        # Reading our own pending list ("0") returns deleted entries as (id, None): acknowledge them too.
        await self._handle(entries)
        return len(entries)

    async def _claim_idle(self) -> None:
        claimed: Any = await self._redis.client.xautoclaim(
            self.stream, self._group, self.name, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=BATCH
        )
        entries = claimed[1]
        if entries:
            log.info("events_claimed", group=self._group, count=len(entries))
            await self._handle(entries)

    async def _handle(self, entries: list[tuple[bytes, Any]]) -> None:
        if not entries:
            return
        events: list[Event] = []
        for entry_id, fields in entries:
            if not fields:
                continue
            try:
                events.append(Event.decode(fields[b"event"]))
            except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
                # Nothing can ever read it; keeping it pending would only block the group.
                log.error("event_unreadable", group=self._group, entry=entry_id.decode(), error=str(exc))
        if events:
            await self._handle_events(events)
        await self._redis.client.xack(self.stream, self._group, *[entry_id for entry_id, _ in entries])
