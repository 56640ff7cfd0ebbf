"""Pushes (uploads, manifest PUTs) into a proxy-cache project are refused, as Harbor does: its content is
its upstream's. Checked after access control, like read-only mode, so a client learns first whether it
may push there at all."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.registry.api.routes import Route
from services.registry.auth import ROUTE
from services.registry.errors import Denied
from services.registry.proxy.upstreams import Upstreams


def push_guard(upstreams: Upstreams) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route: Route | None = request.get(ROUTE)
        if route is not None and (
            route.endpoint == "upload" or (route.endpoint == "manifest" and request.method == "PUT")
        ):
            upstream = await upstreams.of(route.name)
            if upstream is not None:
                raise Denied(
                    f"project {upstream.project} is a proxy cache of {upstream.endpoint.url}:"
                    " pushes into it are refused; push to a project that is no proxy cache"
                )
        return await handler(request)

    return middleware
