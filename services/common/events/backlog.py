"""The events outbox's backlog as gauges: rows the relay has not published yet, and rows published that the
consumer (core's audit log) has not acknowledged. Exposed by each service that runs a relay (the registry
and core); both read the one table, so they report the same figures. Read every `every_s` by a background
task (one statement), so a scrape only reads the last reading."""

from __future__ import annotations

from services.common.db import Database
from services.common.events import outbox
from services.common.metrics import ServiceMetrics


class OutboxMetrics:
    def __init__(self, metrics: ServiceMetrics, db: Database, every_s: float) -> None:
        self._db = db
        self.lifespan = metrics.refreshed(self.refresh, every_s, "outbox")
        self._pending = metrics.gauge("berth_outbox_pending_events", "Events in the outbox not yet published")
        self._unacknowledged = metrics.gauge(
            "berth_outbox_unacknowledged_events", "Events published from the outbox and not yet acknowledged"
        )

    async def refresh(self) -> None:
        pending, unacknowledged = await outbox.backlog(self._db.pool)
        self._pending.set(pending)
        self._unacknowledged.set(unacknowledged)
