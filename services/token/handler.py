"""GET /service/token (Docker registry token specification): parse → authenticate → authorize → sign."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import orjson
from aiohttp import web

from services.common.config.live import SystemConfig
from services.common.settings import TokenSettings
from services.token.authenticate import Authentication
from services.token.authorize import Authorizer, parse_scopes, projects_named
from services.token.errors import AccountMismatch, UnknownService
from services.token.keys import SigningKey


class TokenHandler:
    def __init__(
        self,
        settings: TokenSettings,
        authentication: Authentication,
        authorizer: Authorizer,
        key: SigningKey,
        config: SystemConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._authentication = authentication
        self._authorizer = authorizer
        self._key = key
        self._clock = clock
        self._config = config

    async def token(self, request: web.Request) -> web.Response:
        query = request.query
        service = query.get("service")
        if service != self._settings.service:
            raise UnknownService(
                f"unknown service {service[:100]!r}; this token service issues tokens for {self._settings.service!r}"
                if service
                else f"the service parameter is required (this token service issues for {self._settings.service!r})"
            )
        # Checked before the credentials: a malformed request costs no password check.
        requested = parse_scopes(query.getall("scope", ()))
        identified = await self._authentication.identify(
            request.headers.get("Authorization"), projects_named(requested)
        )
        principal = identified.principal
        account = query.get("account")
        if account and principal.name and account != principal.name:
            raise AccountMismatch(f"the account parameter {account[:100]!r} does not match the credentials")
        request["user"] = principal.name
        now = int(self._clock())
        ttl = self._config.get("token_expiration") * 60  # at each token: a change applies to the next one
        granted = await self._authorizer.grant(identified, requested, dt.datetime.fromtimestamp(now, dt.UTC))
        token = self._key.issue(
            issuer=self._settings.issuer,
            subject=principal.name,
            audience=self._settings.service,
            access=granted,
            ttl_seconds=ttl,
            now=now,
        )
        body = {
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }
        return web.Response(
            body=orjson.dumps(body),
            content_type="application/json",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def setup_routes(app: web.Application, handler: TokenHandler) -> None:
    app.router.add_get("/service/token", handler.token)
    app.router.add_get("/healthz", healthz)
