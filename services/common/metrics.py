"""Prometheus metrics of one service (prometheus-client): a registry of its own, request metrics from a
middleware, served in the text format on the service's metrics port (metric.port plus its offset), away
from the request path: a scrape reads counters in memory and never waits on a request or the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.settings import MetricSettings
from services.common.tasks import background
from services.common.web import bind_socket

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger()
# Request durations from a manifest HEAD (a millisecond) to a layer upload (minutes).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class RequestMetricNames:
    """A service's names for its request metrics (Harbor's and Distribution's differ)."""

    total: str
    total_help: str
    duration: str
    duration_help: str
    route_label: str


class ServiceMetrics:
    """What one service exposes. `registry` is this service's alone (prometheus-client's default registry
    is a module-level global, which two apps in one test process would share)."""

    def __init__(self, settings: MetricSettings, service: str, host: str) -> None:
        if not settings.path.startswith("/"):
            raise ValueError(f"key 'metric.path' must start with '/', got {settings.path!r}")
        self.enabled = settings.enabled
        self.path = settings.path
        self.host = host
        self.port = settings.port_of(service)
        self.registry = CollectorRegistry(auto_describe=True)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: tuple[str, ...]) -> Histogram:
        return Histogram(name, documentation, labels, registry=self.registry, buckets=DURATION_BUCKETS)

    def gauge(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def collector(self, collector: Collector) -> None:
        """Adds figures read from memory at each scrape (counts a hot path keeps as plain integers); none
        while metrics are off."""
        if self.enabled:
            self.registry.register(collector)

    def cache_lookups(self, caches: Mapping[str, Counted]) -> None:
        """berth_cache_lookups_total for these caches, by name."""
        self.collector(CacheLookups(caches))

    def requests(self, names: RequestMetricNames, route_of: Callable[[web.Request], str]) -> list[Middleware]:
        """The request counter and latency histogram of this service, as its middleware; none while
        metrics are off, so requests pay nothing for them."""
        if not self.enabled:
            return []
        return [
            request_metrics(
                self.counter(names.total, names.total_help, ("code", "method", names.route_label)),
                self.histogram(names.duration, names.duration_help, ("method", names.route_label)),
                route_of,
            )
        ]

    async def lifespan(self, _app: web.Application) -> AsyncIterator[None]:
        """Serves `path` on the metrics port for as long as the service's app runs (nothing when off). A
        taken port stops the service with one line naming the key (the launcher checks it first)."""
        if not self.enabled:
            yield
            return
        app = web.Application()
        app.router.add_get(self.path, self._scrape)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, bind_socket(self.host, self.port, "metric.port")).start()
            yield
        finally:
            await runner.cleanup()

    def refreshed(
        self, refresh: Callable[[], Awaitable[None]], every_s: float, name: str
    ) -> Callable[[web.Application], AsyncIterator[None]]:
        """A lifespan that calls `refresh` every `every_s` while metrics are on: figures read from the
        database are read here, in the background, and a scrape only reads the gauges they set."""

        async def lifespan(_app: web.Application) -> AsyncIterator[None]:
            if not self.enabled:
                yield
                return

            async def loop() -> None:
                while True:
                    try:
                        await refresh()
                    except Exception:
                        log.exception("metrics_refresh_failed", metrics=name)
                    await asyncio.sleep(every_s)

            async with background(loop()):
                yield

        return lifespan

    async def _scrape(self, _request: web.Request) -> web.Response:
        # The classic text format every Prometheus (and Harbor's exporter's scrapers) reads.
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


class Counted(Protocol):
    """A cache's lookups so far: plain integers it adds 1 to per lookup, read only when scraped."""

    hits: int
    misses: int


class CacheLookups(Collector):
    """berth_cache_lookups_total{cache, result}, read from the caches' own counts at a scrape. The lookups
    are on the hottest requests (a manifest HEAD, a token), so each pays an integer increment and nothing
    of prometheus-client's (a lock and a label lookup per call)."""

    def __init__(self, caches: Mapping[str, Counted]) -> None:
        self._caches = dict(caches)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "berth_cache_lookups", "Lookups in an in-memory cache, by result (hit or miss)", labels=("cache", "result")
        )
        for name, cache in self._caches.items():
            family.add_metric((name, "hit"), cache.hits)
            family.add_metric((name, "miss"), cache.misses)
        yield family


def request_metrics(requests: Counter, duration: Histogram, handler_of: Callable[[web.Request], str]) -> Middleware:
    """Counts requests by (code, method, handler) and times them by (method, handler). `handler_of` names
    the route, never the path: a label per repository or digest would grow without bound."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        code = 500
        started = time.perf_counter()
        try:
            response = await handler(request)
            code = response.status
            return response
        except web.HTTPException as exc:
            code = exc.status
            raise
        finally:
            name = handler_of(request)  # after the handler: the route is resolved by then
            duration.labels(request.method, name).observe(time.perf_counter() - started)
            requests.labels(str(code), request.method, name).inc()

    return middleware


def route_pattern(request: web.Request) -> str:
    """The matched route's pattern (/api/v2.0/projects/{project_name_or_id}), or "other" for no route."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "other"
