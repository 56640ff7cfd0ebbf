"""The token service's app factory: the only place its objects are wired."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiohttp import web

from services.common.auth.live import LiveAuthentication
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.errors import error_middleware, harbor_envelope
from services.common.identity.access_cache import AccessLookup
from services.common.identity.bootstrap import bootstrap_lifespan
from services.common.ldap.directory import Directory
from services.common.logging import request_context
from services.common.metrics import RequestMetricNames, ServiceMetrics, route_pattern
from services.common.settings import Settings
from services.token.authenticate import Authenticator
from services.token.authorize import Authorizer
from services.token.errors import MethodNotAllowed, NotFound
from services.token.handler import TokenHandler, setup_routes
from services.token.keys import SigningKey

# Harbor's token service has no metrics of its own; these follow core's names.
TOKEN_REQUESTS = RequestMetricNames(
    "berth_token_http_request_total",
    "The total number of token requests",
    "berth_token_http_request_duration_seconds",
    "The time duration of the token requests",
    route_label="operation",
)


def create_app(
    settings: Settings,
    *,
    extra_authenticators: Sequence[Authenticator] = (),
    hasher: PasswordHasher | None = None,
    clock: Callable[[], float] = time.time,
    directory: Directory | None = None,
) -> web.Application:
    db = Database(settings.database)
    hasher = hasher or PasswordHasher()
    # token_expiration, auth_mode, ldap_* and robot_name_prefix, changed at run time through core's
    # /configurations.
    config = SystemConfig(settings, db, application_name="berth-token-config")
    # The same authenticators, in the same order, as core's Basic and /c/login, rebuilt on a change.
    # Each token's lookup of the account and its projects, from memory until the database says they changed.
    access = AccessLookup(db, settings.database, "berth-token-access")
    credentials = CredentialCache()
    live = LiveAuthentication(
        settings,
        db,
        access,
        hasher,
        credentials,
        directory=directory,
        extra_authenticators=extra_authenticators,
    )
    config.on_change(live.configure)
    key = SigningKey(settings.token)
    handler = TokenHandler(settings.token, live.authentication, Authorizer(db), key, config, clock=clock)

    metrics = ServiceMetrics(settings.metric, "token", settings.token.host)
    metrics.cache_lookups({"credentials": credentials, "access": access.cache})
    app = web.Application(
        middlewares=[
            # First, so every line logged below carries the request id.
            request_context("token"),
            *metrics.requests(TOKEN_REQUESTS, route_pattern),
            # Every refusal, routing ones included, in Harbor's error envelope.
            error_middleware(
                harbor_envelope,
                not_found=lambda r: NotFound(f"no token service endpoint at {r.path}"),
                method_not_allowed=lambda r: MethodNotAllowed(f"{r.method} is not supported on {r.path}"),
            ),
        ],
    )
    setup_routes(app, handler)
    # Key before database: a missing half of a key pair is reported without waiting on PostgreSQL.
    app.cleanup_ctx.append(metrics.lifespan)
    app.cleanup_ctx.extend(
        [key.lifespan, db.lifespan, access.lifespan, config.lifespan, bootstrap_lifespan(db, settings, hasher)]
    )
    return app
