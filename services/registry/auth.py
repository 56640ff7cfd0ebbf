"""Access control for /v2/: the one place where every request's access is checked.

The middleware resolves which endpoint a request names and what access it needs (`Route.access`), then
asks the `Authorizer` (`token_auth.TokenAuthorizer`: bearer tokens from the token service), which raises
`Unauthorized` (with the WWW-Authenticate challenge) or `Denied`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.registry.api.routes import Access, Route, resolve

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROUTE = "route"


class Authorizer(Protocol):
    async def authorize(self, request: web.Request, needed: list[Access]) -> None:
        """Return if the request may proceed; raise Unauthorized or Denied otherwise."""

    async def allows(self, request: web.Request, access: Access) -> bool:
        """Whether the already authorized request also holds `access` (the source of a blob mount),
        checked as `authorize` checks what a request needs (the project's id included)."""


def access_control(authorizer: Authorizer) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        tail = request.match_info.get("tail")
        if tail is None:
            return await handler(request)
        route: Route = resolve(tail, request.method)
        request[ROUTE] = route
        await authorizer.authorize(request, route.access(request.method))
        return await handler(request)

    return middleware
