"""The token service's app factory: the only place its objects are wired."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiohttp import web

from services.common.auth.modes import authenticators_for, directory_for
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.errors import error_middleware, harbor_envelope
from services.common.identity.bootstrap import bootstrap_lifespan
from services.common.ldap.directory import Directory
from services.common.logging import request_context
from services.common.settings import Settings
from services.token.authenticate import Authentication, Authenticator
from services.token.authorize import Authorizer
from services.token.errors import MethodNotAllowed, NotFound
from services.token.handler import TokenHandler, setup_routes
from services.token.keys import SigningKey


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
    cache = CredentialCache()
    if directory is None:
        directory = directory_for(settings)
    # The same authenticators, in the same order, as core's Basic and /c/login.
    authenticators = authenticators_for(settings, db, hasher, cache, directory)
    authenticators.extend(extra_authenticators)
    key = SigningKey(settings.token)
    # token_expiration, changed at run time through core's /configurations.
    config = SystemConfig(settings, db, application_name="berth-token-config")
    handler = TokenHandler(
        settings.token, Authentication(authenticators, hasher), Authorizer(db), key, config, clock=clock
    )

    app = web.Application(
        middlewares=[
            # First, so every line logged below carries the request id.
            request_context("token"),
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
    app.cleanup_ctx.extend([key.lifespan, db.lifespan, config.lifespan, bootstrap_lifespan(db, settings, hasher)])
    return app
