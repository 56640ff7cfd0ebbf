"""The current user's profile; user management comes with the next slices."""

from __future__ import annotations

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.identity import store as identity
from services.common.identity.models import User
from services.core.errors import Forbidden, Unauthorized


class UserService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current(self, principal: Principal) -> User:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to read the current user")
        if principal.user_id is None:
            # A robot is not a user: it has no profile (Harbor answers robots the same way).
            raise Forbidden(f"{principal.name} is a robot account and has no user profile")
        user = await identity.user_by_id(self._db.pool, principal.user_id)
        if user is None or user.deleted:
            raise Unauthorized("the account no longer exists")
        return user
