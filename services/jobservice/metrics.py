"""The jobservice's metrics, Harbor's names: jobs waiting per type, how long the longest has waited, and
how many schedules exist. Read from the job rows (the truth) every `every_s` by a background task, so a
scrape only reads gauges and never waits on the database."""

from __future__ import annotations

from services.common.db import Database
from services.common.jobs import store
from services.common.metrics import ServiceMetrics


class JobMetrics:
    def __init__(self, metrics: ServiceMetrics, db: Database, every_s: float) -> None:
        self._db = db
        self.lifespan = metrics.refreshed(self.refresh, every_s, "jobs")
        self._size = metrics.gauge("harbor_task_queue_size", "Total number of tasks", ("type",))
        self._latency = metrics.gauge(
            "harbor_task_queue_latency", "how long ago the next job to be processed was enqueued", ("type",)
        )
        self._scheduled = metrics.gauge("harbor_task_scheduled_total", "total number of scheduled job")

    async def refresh(self) -> None:
        pending = await store.pending_by_type(self._db.pool)
        scheduled = await store.count_schedules(self._db.pool)
        # A type with nothing pending any more drops out, rather than keep its last count.
        self._size.clear()
        self._latency.clear()
        for job_type, (count, latency) in pending.items():
            self._size.labels(job_type).set(count)
            self._latency.labels(job_type).set(latency)
        self._scheduled.set(scheduled)
