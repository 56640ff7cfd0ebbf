"""Core's consumer of the event stream: writes the audit log, then acknowledges.

It reads in a Redis consumer group, so several core processes share the work. A batch is written to the
audit log and deleted from the outbox in one transaction, and XACKed after the commit: a crash before the
commit leaves the entries pending (read again at restart, or claimed by another consumer once idle); a
crash after it makes a redelivery that the audit log's unique event_id absorbs. Redis losing the stream
and the group (a restart without persistence) is repaired by recreating the group; the relay publishes
again whatever the outbox still holds.

Entries new in the audit log are forwarded (services.core.audit.forward) once the batch commits. With
`skip_audit_log_database` nothing is written, and an event is new when its outbox row was still there to
delete: one already gone was handled before, so a redelivery is not forwarded twice.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import redis.exceptions
import structlog

from services.common.db import Database, Executor
from services.common.events import outbox
from services.common.events.models import Event
from services.common.events.relay import STREAM
from services.common.redis import RedisClient
from services.common.tasks import background, raise_if_cancelled
from services.core.audit import store
from services.core.audit.models import AuditEntry, forwarded, from_event
from services.core.auditing import AuditRecord, AuditSink

log = structlog.get_logger()

GROUP = "core-audit"
BATCH = 500
BLOCK_MS = 2000
# A pending entry idle this long belongs to a consumer that died; another one takes it over.
CLAIM_IDLE_MS = 30_000
FAILURE_PAUSE_S = 1.0


class AuditConsumer:
    def __init__(self, db: Database, redis: RedisClient, sink: AuditSink, *, name: str | None = None) -> None:
        self._db = db
        self._redis = redis
        self._sink = sink
        self.stream = redis.key(STREAM)
        # Stable across restarts of the same process slot, so what it left pending it reads again first.
        self.name = name or f"core-{socket.gethostname()}"

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
                    log.warning("audit_consumer_failed", error=str(exc))
                    await asyncio.sleep(FAILURE_PAUSE_S)
                reread_own = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, redis.exceptions.RedisError) as exc:
                log.warning("audit_consumer_failed", error=str(exc))
                reread_own = True
                await asyncio.sleep(FAILURE_PAUSE_S)

    async def _ensure_group(self) -> None:
        try:
            # From the start of the stream: a group recreated after Redis lost it reads all that is there.
            await self._redis.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self, start: str, *, block: bool = False) -> int:
        reply: Any = await self._redis.client.xreadgroup(
            GROUP, self.name, {self.stream: start}, count=BATCH, block=BLOCK_MS if block else None
        )
        entries = reply[0][1] if reply else []
        # Reading our own pending list ("0") returns deleted entries as (id, None): acknowledge them too.
        await self._handle(entries)
        return len(entries)

    async def _claim_idle(self) -> None:
        claimed: Any = await self._redis.client.xautoclaim(
            self.stream, GROUP, self.name, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=BATCH
        )
        entries = claimed[1]
        if entries:
            log.info("audit_events_claimed", count=len(entries))
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
                log.error("audit_event_unreadable", entry=entry_id.decode(), error=str(exc))
        if events:
            audit_entries = [entry for e in events if (entry := from_event(e)) is not None]
            event_ids = [str(e.event_id) for e in events]
            async with self._db.transaction() as tx:
                if self._sink.skip_database:
                    new = await outbox.acknowledge(tx, event_ids)
                else:
                    new = await store.insert(tx, audit_entries)
                    await outbox.acknowledge(tx, event_ids)
                if self._sink.enabled:
                    self._forward_after_commit(tx, audit_entries, new)
            if len(new) < len(audit_entries):
                log.info("audit_duplicates_dropped", count=len(audit_entries) - len(new))
        await self._redis.client.xack(self.stream, GROUP, *[entry_id for entry_id, _ in entries])

    def _forward_after_commit(self, tx: Executor, entries: list[AuditEntry], new: set[uuid.UUID]) -> None:
        fresh: list[AuditRecord] = []
        unsent = set(new)
        for entry in entries:
            if entry.event_id in unsent:
                unsent.discard(entry.event_id)  # once, should the batch hold an event twice
                fresh.append(forwarded(entry))

        def send() -> None:
            for record in fresh:
                self._sink.send(record)

        self._db.after_commit(tx, send)
