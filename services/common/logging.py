"""structlog set-up and the request middleware: a request id, then one canonical line per request."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from services.common.settings import LogSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-Id"


def configure_logging(service: str, settings: LogSettings) -> None:
    level = logging.getLevelNamesMapping().get(settings.level.upper())
    if level is None:
        raise ValueError(f"log.level: unknown level {settings.level!r} (use debug, info, warning, error)")
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if settings.format == "console" else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries that use stdlib logging (asyncpg, aiohttp) go to stderr at warning and above.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")


def request_context(service: str) -> Middleware:
    log = structlog.get_logger()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        request["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            service=service, request_id=request_id, method=request.method, path=request.path
        )
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        finally:
            log.info(
                "request",
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                user=request.get("user", ""),
            )

    return middleware
