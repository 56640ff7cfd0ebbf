"""The registry's app factory: the only place its objects are wired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from aiohttp import web

from services.common.cache import REGISTRY_LISTENER, ChangeListener, LookupCache
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.errors import error_middleware, oci_envelope
from services.common.events.backlog import OutboxMetrics
from services.common.events.relay import Relay
from services.common.logging import request_context
from services.common.metrics import RequestMetricNames, ServiceMetrics
from services.common.redis import RedisClient
from services.common.secret_key import SecretKeyFile
from services.common.settings import Settings
from services.common.storage import StorageDriver
from services.common.storage.factory import configured_driver
from services.common.tasks import background
from services.registry.api.handlers import API_VERSION_HEADER, BlobDownloads, RegistryApi
from services.registry.api.routes import Route
from services.registry.auth import ROUTE, Authorizer, access_control
from services.registry.blobs import BlobService
from services.registry.errors import NotFound, Unsupported
from services.registry.manifests import ManifestService
from services.registry.proxy.blobs import ProxyBlobs
from services.registry.proxy.cache import ProxyCache
from services.registry.proxy.fetches import BlobFetches
from services.registry.proxy.manifests import ProxyManifests
from services.registry.proxy.push_guard import push_guard
from services.registry.proxy.sessions import UpstreamSessions
from services.registry.proxy.upstreams import Upstreams
from services.registry.pulls import PullRecorder
from services.registry.read_only import read_only_guard
from services.registry.token_auth import CertificateSource, TokenAuthorizer
from services.registry.uploads import UploadService

JANITOR_INTERVAL_S = 3600
log = structlog.get_logger()


def create_app(
    settings: Settings, *, storage: StorageDriver | None = None, authorizer: Authorizer | None = None
) -> web.Application:
    db = Database(settings.database)
    # read_only, changed at run time through core's /configurations.
    config = SystemConfig(settings, db, application_name="berth-registry-config")
    store, storage_lifespan = (storage, None) if storage is not None else configured_driver(settings.storage)
    cache = LookupCache(settings.registry.cache_mb * 1024 * 1024)
    authorizer = authorizer or TokenAuthorizer(
        CertificateSource(settings.token.certificate, issuer=settings.token.issuer, audience=settings.token.service),
        realm=settings.public_url() + "/service/token",
        service=settings.token.service,
        db=db,
        # The project ids tokens are checked against, next to the manifest and blob lookups.
        cache=cache,
    )
    blobs = BlobService(db, store, cache)
    uploads = UploadService(db, store, blobs)
    pulls = PullRecorder(db)
    redis = RedisClient(settings.redis)
    downloads = BlobDownloads(
        redirect=settings.storage.s3.redirect, expiry_s=settings.storage.s3.redirect_expiry_seconds
    )
    manifests = ManifestService(db, cache, store)
    # Proxy-cache projects: their endpoints' passwords decrypt with core's key (read at the first use).
    upstreams = Upstreams(db, cache, SecretKeyFile(settings.secret_key_file))
    sessions = UpstreamSessions()
    proxy_blobs = ProxyBlobs(sessions, blobs, uploads, BlobFetches(), redis)
    proxy = ProxyCache(
        upstreams,
        sessions,
        ProxyManifests(
            sessions, manifests, proxy_blobs, pulls, max_manifest_bytes=settings.registry.max_manifest_bytes
        ),
        proxy_blobs,
    )
    api = RegistryApi(settings.registry, authorizer, blobs, uploads, manifests, pulls, downloads, proxy)

    metrics = ServiceMetrics(settings.metric, "registry", settings.registry.host)
    # Manifest, blob and project-id lookups (all misses while the cache is off or not live).
    metrics.cache_lookups({"registry_lookups": cache})
    outbox_metrics = OutboxMetrics(metrics, db, every_s=settings.metric.refresh_seconds)
    app = web.Application(
        middlewares=[
            # First, so every line logged below carries the request id.
            request_context("registry"),
            # CNCF Distribution's names and handler labels, which Harbor's dashboards read.
            *metrics.requests(REGISTRY_REQUESTS, _handler_name),
            # Before access control, so a refused request is rendered in the OCI envelope too.
            error_middleware(
                oci_envelope,
                not_found=lambda r: NotFound(f"no distribution API endpoint at {r.path}"),
                method_not_allowed=lambda r: Unsupported(f"{r.method} is not supported on {r.path}"),
            ),
            # Resolves the endpoint and the access it needs; the token check plugs in here.
            access_control(authorizer),
            read_only_guard(config),
            push_guard(upstreams),
        ],
    )
    app.on_response_prepare.append(_api_version_header)
    app.router.add_route("*", "/v2", _redirect_base)
    app.router.add_route("*", "/v2/{tail:.*}", api.dispatch)
    app.cleanup_ctx.append(metrics.lifespan)
    if storage_lifespan is not None:  # first: open before anything uses the storage, closed last
        app.cleanup_ctx.append(storage_lifespan)
    app.cleanup_ctx.append(db.lifespan)
    app.cleanup_ctx.append(config.lifespan)
    app.cleanup_ctx.append(redis.lifespan)
    # After the pool and Redis (so it stops before them), before the pull recorder (so its last flush is
    # relayed at the next start, by whichever relay runs first).
    redelivery = timedelta(seconds=settings.registry.event_redelivery_seconds)
    app.cleanup_ctx.append(Relay(db, redis, settings.database, redeliver_after=redelivery).lifespan)
    # After the pool: it reads the outbox.
    app.cleanup_ctx.append(outbox_metrics.lifespan)
    app.cleanup_ctx.append(pulls.lifespan)
    # After the pool: its fetches store blobs; stopped first, so none is left writing.
    app.cleanup_ctx.append(proxy.lifespan)
    if settings.registry.cache_mb > 0:
        app.cleanup_ctx.append(ChangeListener(settings.database, cache, REGISTRY_LISTENER).lifespan)
    app.cleanup_ctx.append(_janitor(uploads, timedelta(hours=settings.registry.upload_ttl_hours)))
    return app


REGISTRY_REQUESTS = RequestMetricNames(
    "registry_http_requests_total",
    "Total number of HTTP requests made.",
    "registry_http_request_duration_seconds",
    "The HTTP request latencies in seconds.",
    route_label="handler",
)
# Distribution's handler names where they differ from the routes'.
_DISTRIBUTION_HANDLERS = {"upload": "blob_upload"}


def _handler_name(request: web.Request) -> str:
    route: Route | None = request.get(ROUTE)
    if route is None:
        return "other"
    return _DISTRIBUTION_HANDLERS.get(route.endpoint, route.endpoint)


async def _redirect_base(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/v2/")


async def _api_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]


def _janitor(uploads: UploadService, ttl: timedelta):  # type: ignore[no-untyped-def]
    """Removes uploads abandoned for longer than `registry.upload_ttl_hours`, hourly."""

    async def lifespan(_app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    await uploads.purge_expired(ttl)
                except Exception:
                    log.exception("upload_janitor_failed")
                await asyncio.sleep(JANITOR_INTERVAL_S)

        async with background(loop()):
            yield

    return lifespan
