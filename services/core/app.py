"""Core's app factory: the only place its objects are wired."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from services.common.auth.authenticate import Authentication, default_authenticators
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.db import Database
from services.common.errors import error_middleware, harbor_envelope
from services.common.identity.bootstrap import bootstrap_lifespan
from services.common.logging import request_context
from services.common.redis import RedisClient
from services.common.settings import Settings
from services.core.api import setup_routes
from services.core.api.body import MAX_BODY_BYTES
from services.core.api.login import LoginApi
from services.core.api.members import MembersApi
from services.core.api.projects import ProjectsApi
from services.core.api.robots import RobotsApi
from services.core.api.system import SystemApi
from services.core.api.users import UsersApi
from services.core.errors import MethodNotAllowed, NotFound
from services.core.members.service import MemberService
from services.core.projects.service import ProjectService
from services.core.robots.service import RobotService
from services.core.security.authenticators import BasicAuthenticator, RequestAuthenticator
from services.core.security.csrf import csrf_protection
from services.core.security.middleware import authentication
from services.core.security.session import SessionAuthenticator
from services.core.sessions.service import SessionService, SessionStore
from services.core.system import SystemService
from services.core.users.service import UserService


def create_app(
    settings: Settings,
    *,
    hasher: PasswordHasher | None = None,
    extra_authenticators: Sequence[RequestAuthenticator] = (),
) -> web.Application:
    db = Database(settings.database)
    hasher = hasher or PasswordHasher()
    cache = CredentialCache()
    redis = RedisClient(settings.redis)
    credentials = Authentication(default_authenticators(db, hasher, cache, auth_mode=settings.auth_mode), hasher)
    sessions = SessionService(
        db, credentials, SessionStore(redis, timeout_minutes=settings.core.session_timeout_minutes)
    )
    # First match wins, then anonymous. The session cookie before Basic: a browser holding a session
    # is that session (and so CSRF-checked); a stale cookie falls through to Basic, then anonymous.
    authenticators: list[RequestAuthenticator] = [
        *extra_authenticators,
        SessionAuthenticator(sessions),
        BasicAuthenticator(credentials),
    ]
    projects = ProjectService(db)
    users = UserService(
        db, hasher, self_registration=settings.self_registration, ldap_auth=settings.auth_mode == "ldap_auth"
    )

    app = web.Application(
        middlewares=[
            # First, so every line logged below carries the request id (and the access line is written).
            request_context("core"),
            # Before authentication, so a 401 for wrong credentials is rendered in Harbor's envelope too.
            error_middleware(
                harbor_envelope,
                not_found=lambda r: NotFound(f"no API endpoint at {r.path[:200]}"),
                method_not_allowed=lambda r: MethodNotAllowed(f"{r.method} is not supported on {r.path[:200]}"),
            ),
            # Every handler receives a Principal (anonymous when nothing was presented).
            authentication(authenticators),
            # After authentication: whether the check applies depends on *how* the request was
            # authenticated (session cookie: yes; Basic: no). Inside the error middleware, so its 403
            # is rendered in Harbor's envelope.
            csrf_protection(),
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    setup_routes(
        app,
        system=SystemApi(SystemService(db, settings), users),
        projects=ProjectsApi(projects),
        members=MembersApi(MemberService(db, projects)),
        users=UsersApi(users),
        robots=RobotsApi(RobotService(db, projects, hasher)),
        login=LoginApi(sessions),
    )
    app.cleanup_ctx.extend([db.lifespan, redis.lifespan, bootstrap_lifespan(db, settings, hasher)])
    return app
