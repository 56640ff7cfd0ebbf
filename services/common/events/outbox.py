"""The outbox's SQL, for writers (inside their transaction), the relay and the consumer."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.common.db import Executor
from services.common.events.models import Event

NOTIFY_CHANNEL = "berth_outbox"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    payload: str
    stream_id: str | None


async def record(tx: Executor, events: Sequence[Event]) -> None:
    """Call inside the transaction that makes the change: the event exists exactly when the change does."""
    if not events:
        return
    await tx.execute(
        "INSERT INTO event_outbox (event_id, type, payload, created_at)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[])",
        [e.event_id for e in events],
        [str(e.type) for e in events],
        [e.encode().decode() for e in events],
        [e.occurred_at for e in events],
    )


async def claim_unpublished(tx: Executor, limit: int) -> list[OutboxRow]:
    """Rows not yet published, locked for this transaction; other relays skip them."""
    rows = await tx.fetch(
        "SELECT id, payload::text AS payload, stream_id FROM event_outbox WHERE published_at IS NULL"
        " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [OutboxRow(r["id"], r["payload"], r["stream_id"]) for r in rows]


async def claim_stale(tx: Executor, older_than: dt.timedelta, limit: int) -> list[OutboxRow]:
    """Published long ago and still not acknowledged: the consumer is down, or Redis lost the entry."""
    rows = await tx.fetch(
        "SELECT id, payload::text AS payload, stream_id FROM event_outbox"
        " WHERE published_at IS NOT NULL AND published_at < now() - $1::interval"
        " ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        older_than,
        limit,
    )
    return [OutboxRow(r["id"], r["payload"], r["stream_id"]) for r in rows]


async def mark_published(db: Executor, ids: Sequence[int], stream_ids: Sequence[str]) -> None:
    await db.execute(
        "UPDATE event_outbox o SET published_at = now(), stream_id = s.stream_id"
        " FROM unnest($1::bigint[], $2::text[]) AS s(id, stream_id) WHERE o.id = s.id",
        list(ids),
        list(stream_ids),
    )


async def touch(db: Executor, ids: Sequence[int]) -> None:
    """Still in the stream, only not consumed yet: look again later."""
    await db.execute("UPDATE event_outbox SET published_at = now() WHERE id = ANY($1::bigint[])", list(ids))


async def acknowledge(tx: Executor, event_ids: Sequence[str]) -> set[uuid.UUID]:
    """The consumer has recorded these (in the same transaction): they leave the outbox. Returns those
    that were still there: an event whose row is gone was handled before (a redelivery)."""
    rows = await tx.fetch(
        "DELETE FROM event_outbox WHERE event_id = ANY($1::uuid[]) RETURNING event_id", list(event_ids)
    )
    return {r["event_id"] for r in rows}


async def backlog(ex: Executor) -> tuple[int, int]:
    """(rows not yet published, rows published and not yet acknowledged): what the relay and the
    consumer have still to do. Both are small while they keep up; each count reads one partial index."""
    row = await ex.fetchrow(
        "SELECT (SELECT count(*) FROM event_outbox WHERE published_at IS NULL) AS pending,"
        " (SELECT count(*) FROM event_outbox WHERE published_at IS NOT NULL) AS unacknowledged"
    )
    assert row is not None
    return int(row["pending"]), int(row["unacknowledged"])
