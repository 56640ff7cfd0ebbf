"""Core's consumer of the event stream: writes the audit log, then acknowledges.

It reads in a Redis consumer group (services.common.events.consumer), so several core processes share the
work. A batch is written to the audit log and deleted from the outbox in one transaction, and XACKed after
the commit: a crash before the commit leaves the entries pending; a crash after it makes a redelivery that
the audit log's unique event_id absorbs. After Redis lost the stream, the relay publishes again whatever the
outbox still holds.

Entries new in the audit log are forwarded (services.core.audit.forward) once the batch commits. With
`skip_audit_log_database` nothing is written, and an event is new when its outbox row was still there to
delete: one already gone was handled before, so a redelivery is not forwarded twice.
"""

from __future__ import annotations

import socket
import uuid

import structlog

from services.common.db import Database, Executor
from services.common.events import outbox
from services.common.events.consumer import StreamConsumer
from services.common.events.models import Event
from services.common.redis import RedisClient
from services.core.audit import store
from services.core.audit.models import AuditEntry, forwarded, from_event
from services.core.auditing import AuditRecord, AuditSink

log = structlog.get_logger()

GROUP = "core-audit"


class AuditConsumer:
    def __init__(self, db: Database, redis: RedisClient, sink: AuditSink, *, name: str | None = None) -> None:
        self._db = db
        self._sink = sink
        self._consumer = StreamConsumer(redis, GROUP, name or f"core-{socket.gethostname()}", self._write)
        self.lifespan = self._consumer.lifespan

    async def _write(self, events: list[Event]) -> None:
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
