"""Pull counters and pull events, kept off the pull path: merged in memory, written in batches.

A manifest GET only adds to a dict. Every `interval` seconds (and at shutdown) one transaction adds the
counts to the artifacts and repositories and writes one PULL_ARTIFACT event per (repository, digest,
operator) with how many pulls it stands for. If the database is away the counts stay merged in memory
and go with the next flush.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import structlog

from services.common.db import Database
from services.common.events import outbox
from services.common.events.models import Event, EventType
from services.common.tasks import background, wait_set
from services.registry.metadata import artifacts

log = structlog.get_logger()

FLUSH_INTERVAL_S = 1.0
# Flush early when this many distinct keys are waiting, so memory stays bounded under a pull storm.
MAX_PENDING = 10_000


@dataclass(slots=True)
class _Pending:
    count: int
    last: dt.datetime
    media_type: str


class PullRecorder:
    def __init__(self, db: Database, *, interval: float = FLUSH_INTERVAL_S) -> None:
        self._db = db
        self._interval = interval
        self._pending: dict[tuple[str, str, str], _Pending] = {}
        self._full = asyncio.Event()

    def record(self, repository: str, digest: str, operator: str, media_type: str) -> None:
        now = dt.datetime.now(dt.UTC)
        key = (repository, digest, operator)
        entry = self._pending.get(key)
        if entry is None:
            self._pending[key] = _Pending(1, now, media_type)
            if len(self._pending) >= MAX_PENDING:
                self._full.set()
        else:
            entry.count += 1
            entry.last = now

    async def flush(self) -> int:
        """Write what is pending; returns how many pulls were written."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        events = [
            Event(
                EventType.PULL_ARTIFACT,
                operator,
                repo,
                digest=digest,
                media_type=p.media_type,
                count=p.count,
                occurred_at=p.last,
            )
            for (repo, digest, operator), p in batch.items()
        ]
        try:
            async with self._db.transaction() as tx:
                await artifacts.add_pulls(
                    tx, [(repo, digest, p.count, p.last) for (repo, digest, _), p in batch.items()]
                )
                await outbox.record(tx, events)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self._merge_back(batch)
            log.warning("pull_flush_failed", error=str(exc), pending=len(self._pending))
            return 0
        return sum(p.count for p in batch.values())

    def _merge_back(self, batch: dict[tuple[str, str, str], _Pending]) -> None:
        for key, p in batch.items():
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = p
            else:
                entry.count += p.count
                entry.last = max(entry.last, p.last)

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await wait_set(self._full, self._interval)
                self._full.clear()
                await self.flush()

        async with background(loop()):
            yield
        # The pulls since the last flush are written before the pool closes.
        await self.flush()
