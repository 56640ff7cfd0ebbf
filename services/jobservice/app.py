"""The jobservice's app factory: the only place its objects are wired. Its HTTP side is /healthz only (the
dashboard reads the rows and the pools' reports in Redis); its work is the workers, the dispatcher, the
scheduler and the pool's report, each a background task of the app's lifespan, stopped in reverse on
SIGTERM (a running job goes back to pending)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.errors import error_middleware, harbor_envelope
from services.common.jobs.models import WEBHOOK
from services.common.jobs.pools import PoolBoard
from services.common.jobs.queue import JobQueue
from services.common.jobs.submit import JobSubmitter
from services.common.logging import request_context
from services.common.metrics import ServiceMetrics
from services.common.redis import RedisClient
from services.common.secret_key import SecretKeyFile
from services.common.settings import Settings
from services.common.storage import StorageDriver
from services.common.storage.factory import configured_driver
from services.common.tasks import background
from services.jobservice.context import JobRegistry
from services.jobservice.dispatcher import Dispatcher
from services.jobservice.jobs import registry
from services.jobservice.jobs.gc import GcProgress
from services.jobservice.metrics import GcMetrics, JobMetrics, TaskConcurrency
from services.jobservice.pool import PoolReporter
from services.jobservice.replication_events import ReplicationTrigger
from services.jobservice.scheduler import Scheduler
from services.jobservice.webhooks.trigger import WebhookTrigger
from services.jobservice.worker import Worker


def process_name() -> str:
    """This process among the jobservice processes: host and pid (workers add their number)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def create_app(
    settings: Settings, *, jobs: JobRegistry | None = None, storage: StorageDriver | None = None
) -> web.Application:
    js = settings.jobservice
    db = Database(settings.database)
    redis = RedisClient(settings.redis)
    queue = JobQueue(redis)
    # The webhook keys (notification_enable, retries, timeout, allowlist), changed at run time through core.
    config = SystemConfig(settings, db, application_name="berth-jobservice-config")
    secret_key = SecretKeyFile(settings.secret_key_file)
    # The registry's blob storage, which garbage collection deletes from.
    storage, storage_lifespan = (storage, None) if storage is not None else configured_driver(settings.storage)
    # What this process's garbage collections have deleted so far (plain counts; the metrics read them).
    gc_progress = GcProgress()
    jobs = jobs or registry(
        storage,
        upload_ttl=timedelta(hours=settings.registry.upload_ttl_hours),
        secret_key=secret_key,
        local=settings.internal_urls(),
        config=config,
        heartbeat_timeout_s=js.heartbeat_timeout_seconds,
        gc_progress=gc_progress,
    )
    submitter = JobSubmitter(db, queue, max_attempts=js.max_attempts)
    # Pushes, pulls, deletes and quota events become webhook deliveries, one chain per policy target.
    webhooks = WebhookTrigger(db, redis, submitter, config, settings.public_url())
    name = process_name()
    workers = [
        Worker(
            f"{name}-{n}",
            db,
            queue,
            jobs,
            heartbeat_seconds=js.heartbeat_seconds,
            on_end={WEBHOOK: webhooks.released},
        )
        for n in range(js.workers)
    ]
    dispatcher = Dispatcher(name, db, queue, heartbeat_timeout_s=js.heartbeat_timeout_seconds)
    scheduler = Scheduler(name, db, redis, submitter)
    reporter = PoolReporter(
        name, PoolBoard(redis), workers, every_s=js.heartbeat_seconds, ttl_s=js.heartbeat_timeout_seconds
    )

    async def work(_app: web.Application) -> AsyncIterator[None]:
        await queue.ensure_group()
        # Stopped in reverse: workers first (each gives its running job back), then scheduler, dispatcher,
        # and the pool's report last, so the dashboard shows the workers until they have stopped.
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(background(reporter.run()))
            await stack.enter_async_context(background(dispatcher.run()))
            await stack.enter_async_context(background(scheduler.run()))
            for worker in workers:
                await stack.enter_async_context(background(worker.run()))
            yield

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "workers": len(workers), "leader": scheduler.leader})

    metrics = ServiceMetrics(settings.metric, "jobservice", js.host)
    job_metrics = JobMetrics(metrics, db, every_s=settings.metric.refresh_seconds)
    gc_metrics = GcMetrics(metrics, db, gc_progress, every_s=settings.metric.refresh_seconds)
    metrics.collector(TaskConcurrency(name, workers, jobs))
    app = web.Application(middlewares=[request_context("jobservice"), error_middleware(harbor_envelope)])
    app.router.add_get("/healthz", healthz)
    # Pushes and tags start the event-based replication policies' executions.
    trigger = ReplicationTrigger(db, redis, submitter)
    if storage_lifespan is not None:  # first: open before any job uses the storage, closed last
        app.cleanup_ctx.append(storage_lifespan)
    app.cleanup_ctx.extend([db.lifespan, config.lifespan, redis.lifespan, work, trigger.lifespan, webhooks.lifespan])
    # After the pool (it reads the job rows), stopped before it.
    app.cleanup_ctx.extend([metrics.lifespan, job_metrics.lifespan, gc_metrics.lifespan])
    return app
