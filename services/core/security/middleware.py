"""The authentication middleware: every request leaves it with a `Principal` (anonymous at worst)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.common.auth.authenticate import ANONYMOUS, Principal
from services.core.security.authenticators import RequestAuthenticator

PRINCIPAL_KEY = "principal"


def authentication(authenticators: Sequence[RequestAuthenticator]) -> Middleware:
    chain = tuple(authenticators)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        principal = ANONYMOUS
        for authenticator in chain:
            found = await authenticator.authenticate(request)
            if found is not None:
                principal = found
                break
        request[PRINCIPAL_KEY] = principal
        request["user"] = principal.name
        structlog.contextvars.bind_contextvars(user=principal.name)
        return await handler(request)

    return middleware


def principal_of(request: web.Request) -> Principal:
    principal: Principal = request[PRINCIPAL_KEY]
    return principal
