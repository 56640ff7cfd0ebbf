"""Sessions in Redis and the login that creates them. No aiohttp here: the handlers own cookies.

A session is `<prefix>session:<id>` → JSON {user_id, created, csrf}, with a TTL of
`core.session_timeout_minutes` that every use starts again (sliding expiry). The id is 32 random bytes,
made afresh at every login, so an id a client planted before logging in is never the session after it.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

import structlog

from services.common.auth.authenticate import Authentication, Principal, checked_credentials
from services.common.auth.errors import Unauthorized
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.identity import users_store
from services.common.identity.models import ROBOT_PREFIX
from services.common.redis import RedisClient
from services.core.auditing import AuditLog
from services.core.errors import LoginFailed

log = structlog.get_logger()

# The same answer for an unknown name and a wrong password, so a login does not tell which accounts exist.
LOGIN_FAILED = "invalid user name or password"
ID_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(ID_BYTES)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user_id: int
    created: dt.datetime
    csrf: str  # the CSRF token this session's unsafe requests must echo (double submit)


class SessionStore:
    """Sessions by id in Redis; an unknown or expired id is simply no session."""

    def __init__(self, redis: RedisClient, config: SystemConfig) -> None:
        self._redis = redis
        self._config = config

    @property
    def _ttl(self) -> dt.timedelta:
        # Read at each use: a change of session_timeout applies to the next request of every session.
        return dt.timedelta(minutes=self._config.get("session_timeout"))

    def _key(self, session_id: str) -> str:
        return self._redis.key("session", session_id)

    async def create(self, user_id: int) -> Session:
        session = Session(new_token(), user_id, dt.datetime.now(dt.UTC), new_token())
        value = json.dumps({"user_id": user_id, "created": session.created.isoformat(), "csrf": session.csrf})
        await self._redis.client.set(self._key(session.id), value, ex=self._ttl)
        return session

    async def get(self, session_id: str) -> Session | None:
        """The session, its expiry started again; None when unknown or expired."""
        if not 0 < len(session_id) <= 2 * ID_BYTES:
            return None
        raw = await self._redis.client.getex(self._key(session_id), ex=self._ttl)
        if raw is None:
            return None
        value = json.loads(raw)
        return Session(session_id, int(value["user_id"]), dt.datetime.fromisoformat(value["created"]), value["csrf"])

    async def delete(self, session_id: str) -> None:
        if 0 < len(session_id) <= 2 * ID_BYTES:
            await self._redis.client.delete(self._key(session_id))


class SessionService:
    """Log in (credentials → a new session), resolve a session to its user, log out."""

    def __init__(self, db: Database, authentication: Authentication, sessions: SessionStore, audit: AuditLog) -> None:
        self._db = db
        self._audit_log = audit
        self._authentication = authentication
        self._sessions = sessions

    async def login(self, username: str, password: str, *, previous: str | None) -> tuple[Principal, Session]:
        if username.startswith(ROBOT_PREFIX):
            # As Harbor: robot accounts are for clients, not for the UI.
            log.info("login_failed", principal=username[:255], reason="robot")
            await self._audit("login", username, success=False)
            raise LoginFailed("robot accounts cannot log in")
        try:
            principal = (await self._authentication.verify(checked_credentials(username, password))).principal
        except Unauthorized as exc:
            log.info("login_failed", principal=username[:255], reason=exc.code)
            await self._audit("login", username, success=False)
            raise LoginFailed(LOGIN_FAILED) from None
        if principal.kind != "user" or principal.user_id is None:
            log.info("login_failed", principal=username[:255], reason="not_a_user")
            await self._audit("login", username, success=False)
            raise LoginFailed(LOGIN_FAILED)
        if previous is not None:
            # Whatever session the browser held ends here; the new one has a new id (no fixation).
            await self._sessions.delete(previous)
        session = await self._sessions.create(principal.user_id)
        await self._audit("login", principal.name)
        log.info("user_logged_in", user=principal.name, user_id=principal.user_id)
        return principal, session

    async def _audit(self, operation: str, username: str, *, success: bool = True) -> None:
        """A login or logout in the audit log (Harbor's `login`/`logout` of resource type `user`). A failed
        login is recorded too, as Harbor 2.13 does, under the name that was sent; never the password."""
        if not username:
            return
        description = operation if success else f"{operation} failed"
        await self._audit_log.record(
            self._db.pool,
            operator=username,
            operation=operation,
            resource_type="user",
            resource=username,
            description=description,
            success=success,
        )

    async def resolve(self, session_id: str) -> tuple[Principal, Session] | None:
        """The user a session belongs to, read afresh; a deleted user's session is ended."""
        session = await self._sessions.get(session_id)
        if session is None:
            return None
        user = await users_store.user_by_id(self._db.pool, session.user_id)
        if user is None or user.deleted:
            await self._sessions.delete(session_id)
            return None
        return Principal(kind="user", name=user.username, user_id=user.id, sysadmin=user.sysadmin), session

    async def logout(self, session_id: str | None, principal: Principal) -> None:
        if session_id is not None:
            await self._sessions.delete(session_id)
        if principal.kind == "user" and session_id is not None:
            await self._audit("logout", principal.name)
        log.info("user_logged_out", user=principal.name or None)
