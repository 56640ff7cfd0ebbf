"""Error types a client can see, and the one middleware that renders them.

Each failure is a class with its `code`, `status` and a default message. Handlers and services raise;
`error_middleware` renders, in the OCI envelope for the registry and in Harbor's for the REST API.
An unexpected exception becomes a logged 500 carrying the request id and no internals.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BerthError(Exception):
    code: ClassVar[str] = "UNKNOWN"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "unknown error"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        self.headers = dict(headers or {})
        super().__init__(self.message)


def oci_envelope(err: BerthError) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.detail is not None:
        entry["detail"] = err.detail
    return {"errors": [entry]}


def harbor_envelope(err: BerthError) -> dict[str, Any]:
    return {"errors": [{"code": err.code, "message": err.message}]}


class InternalError(BerthError):
    code = "UNKNOWN"
    status = 500
    default_message = "internal server error"


def error_middleware(
    envelope: Callable[[BerthError], dict[str, Any]],
    *,
    not_found: Callable[[web.Request], BerthError] | None = None,
    method_not_allowed: Callable[[web.Request], BerthError] | None = None,
) -> Middleware:
    log = structlog.get_logger()

    def render(err: BerthError, request: web.Request) -> web.Response:
        headers = {"Content-Type": "application/json; charset=utf-8", **err.headers}
        # For HEAD aiohttp sends the body's Content-Length and drops the body itself.
        return web.Response(status=err.status, body=json.dumps(envelope(err)).encode(), headers=headers)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except BerthError as err:
            return render(err, request)
        except web.HTTPNotFound:
            if not_found is None:
                raise
            return render(not_found(request), request)
        except web.HTTPMethodNotAllowed:
            if method_not_allowed is None:
                raise
            return render(method_not_allowed(request), request)
        except web.HTTPException:
            raise
        except (ConnectionResetError, OSError) as exc:
            # The client went away mid-request: nothing to answer, and nothing is committed.
            log.info("client_disconnected", error=str(exc))
            raise
        except Exception:
            log.exception("unhandled_error")
            request_id = request.get("request_id", "")
            return render(InternalError(f"internal server error (request id {request_id})"), request)

    return middleware
