"""The jobservice's metrics. Harbor's names: jobs waiting per type, how long the longest has waited, how
many schedules exist (read from the job rows every `every_s` by a background task, so a scrape only reads
gauges and never waits on the database), and the jobs this process's workers run now per type (read from
the workers at a scrape). Berth's own: garbage collection's deletions so far in this process, counted as
each batch goes, and when a run last succeeded (from the rows)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.db import Database
from services.common.jobs import store
from services.common.metrics import ServiceMetrics
from services.jobservice import gc_store
from services.jobservice.jobs.gc import GcProgress
from services.jobservice.worker import Worker


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


class TaskConcurrency(Collector):
    """harbor_task_concurrency{type, pool}: the jobs this process's workers (its pool) run now, per type,
    every type it runs listed (0 when idle). From the workers themselves: the rows lag a heartbeat."""

    def __init__(self, pool: str, workers: Sequence[Worker], job_types: Iterable[str]) -> None:
        self._pool = pool
        self._workers = workers
        self._types = sorted(job_types)

    def collect(self) -> Iterator[Metric]:
        running = Counter(state.job_type for w in self._workers if (state := w.state()).job_id is not None)
        family = GaugeMetricFamily(
            "harbor_task_concurrency", "Total number of concurrency on a pool", labels=("type", "pool")
        )
        for job_type in sorted(set(self._types) | set(running)):
            family.add_metric((job_type, self._pool), running[job_type])
        yield family


class GcMetrics:
    def __init__(self, metrics: ServiceMetrics, db: Database, progress: GcProgress, every_s: float) -> None:
        self._db = db
        self.lifespan = metrics.refreshed(self.refresh, every_s, "gc")
        metrics.collector(_GcProgressCollector(progress))
        self._last_success = metrics.gauge(
            "berth_gc_last_success_timestamp_seconds",
            "When the last garbage collection that was not a dry run succeeded, in any jobservice process",
        )

    async def refresh(self) -> None:
        last = await gc_store.last_success(self._db.pool)
        if last is not None:
            self._last_success.set(last)


class _GcProgressCollector(Collector):
    """Read at a scrape from the counts the running sweep adds to: progress shows during a run."""

    def __init__(self, progress: GcProgress) -> None:
        self._progress = progress

    def collect(self) -> Iterator[Metric]:
        p = self._progress
        yield GaugeMetricFamily("berth_gc_running", "Garbage collection runs in progress in this process", p.running)
        yield CounterMetricFamily(
            "berth_gc_manifests_deleted",
            "Untagged artifacts (manifests) garbage collection deleted in this process",
            p.manifests_deleted,
        )
        yield CounterMetricFamily(
            "berth_gc_blobs_deleted", "Blobs garbage collection deleted in this process", p.blobs_deleted
        )
        yield CounterMetricFamily(
            "berth_gc_bytes_freed", "Bytes of blobs garbage collection deleted in this process", p.bytes_freed
        )
