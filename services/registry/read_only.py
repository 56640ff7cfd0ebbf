"""Read-only mode (the `read_only` configuration key): every write of the distribution API — a push, a
chunk, a mount, a delete — is refused while it is on; pulls and reads go on. Checked after access control,
so a client learns first whether it may write at all, then that nobody may now. Read per request: turning
it off restores writes at once."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.common.config.live import SystemConfig
from services.registry.errors import ReadOnlyMode

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def read_only_guard(config: SystemConfig) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in WRITES and config.get("read_only"):
            raise ReadOnlyMode()
        return await handler(request)

    return middleware
