"""The token service's app factory: the only place its objects are wired."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiohttp import web

from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.db import Database
from services.common.errors import error_middleware, harbor_envelope
from services.common.identity.bootstrap import bootstrap_lifespan
from services.common.ldap.directory import Directory, UnconfiguredDirectory
from services.common.ldap.ldap3_directory import Ldap3Directory
from services.common.logging import request_context
from services.common.settings import Settings
from services.token.authenticate import Authentication, Authenticator, default_authenticators
from services.token.authorize import Authorizer
from services.token.errors import MethodNotAllowed, NotFound
from services.token.handler import TokenHandler, setup_routes
from services.token.keys import SigningKey
from services.token.ldap import LdapAuthenticator


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
    authenticators = default_authenticators(db, hasher, cache, auth_mode=settings.auth_mode)
    if settings.auth_mode == "ldap_auth":
        # After robots and the database's admin: every other name is the directory's.
        ldap_cache = CredentialCache(ttl_seconds=settings.ldap.cache_seconds)
        if directory is None:
            # Without a url the mode is chosen but the directory not yet set up: logins say so (a 401).
            directory = Ldap3Directory(settings.ldap) if settings.ldap.url else UnconfiguredDirectory()
        authenticators.append(LdapAuthenticator(db, directory, ldap_cache))
    authenticators.extend(extra_authenticators)
    key = SigningKey(settings.token)
    handler = TokenHandler(settings.token, Authentication(authenticators, hasher), Authorizer(db), key, clock=clock)

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
    app.cleanup_ctx.extend([key.lifespan, db.lifespan, bootstrap_lifespan(db, settings, hasher)])
    return app
