"""User rules: who may list, read, create, change and delete accounts, and the transactions.

Harbor's rules: the user management API is the sysadmin's, except that users read and edit their own
profile and password, and that anyone may register when `self_registration` is on. Self-registration
never creates an administrator (Harbor's CVE class "a user registering themselves as administrator").
With `auth_mode: ldap_auth` accounts come from the directory, so none are created here.
No aiohttp here.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.common.auth.authenticate import Principal
from services.common.auth.passwords import PasswordHasher
from services.common.config.live import SystemConfig
from services.common.db import Database, Executor
from services.common.identity import users_store
from services.common.identity.models import ADMIN_USER_ID, User
from services.core.auditing import AuditLog
from services.core.errors import BadRequest, Forbidden, Unauthorized, UserNotFound
from services.core.listing import Page, SortKey, Term
from services.core.users import store
from services.core.users.models import (
    NewUser,
    ProfileChanges,
    UserRef,
    UserView,
    password_problem,
    profile_problem,
    username_problem,
)

log = structlog.get_logger()


def _refuse(principal: Principal, what: str) -> Exception:
    if principal.kind == "anonymous":
        return Unauthorized(f"authentication is required to {what}")
    return Forbidden(f"{principal.name} may not {what}")


def _require_admin(principal: Principal, what: str) -> None:
    if not principal.sysadmin:
        raise _refuse(principal, what)


def _require_self_or_admin(principal: Principal, user_id: int, what: str) -> None:
    if principal.sysadmin:
        return
    if principal.kind != "user" or principal.user_id != user_id:
        raise _refuse(principal, what)


class UserService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        hasher: PasswordHasher | None = None,
        *,
        config: SystemConfig,
    ) -> None:
        self._db = db
        self._audit_log = audit
        self._hasher = hasher or PasswordHasher()
        self._config = config

    async def _audit(self, tx: Executor, operator: str, operation: str, name: str, description: str) -> None:
        await self._audit_log.record(
            tx, operator=operator, operation=operation, resource_type="user", resource=name, description=description
        )

    async def current(self, principal: Principal) -> UserView:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to read the current user")
        if principal.user_id is None:
            # A robot is not a user: it has no profile (Harbor answers robots the same way).
            raise Forbidden(f"{principal.name} is a robot account and has no user profile")
        view = await store.user_view(self._db.pool, principal.user_id)
        if view is None:
            raise Unauthorized("the account no longer exists")
        return view

    async def list_users(
        self, principal: Principal, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[UserView], int]:
        _require_admin(principal, "list users")
        return await store.list_users(self._db.pool, terms, sort, page)

    async def search(self, principal: Principal, username: str, page: Page) -> tuple[list[UserRef], int]:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to search users")
        return await store.search_users(self._db.pool, username, page)

    async def get(self, principal: Principal, user_id: int) -> UserView:
        _require_self_or_admin(principal, user_id, f"read user {user_id}")
        return await self._view(user_id)

    async def _view(self, user_id: int) -> UserView:
        view = await store.user_view(self._db.pool, user_id)
        if view is None:
            raise UserNotFound(f"user {user_id} not found")
        return view

    async def create(self, principal: Principal, new: NewUser) -> User:
        if self._config.get("auth_mode") == "ldap_auth":  # at each call: auth_mode changes at run time
            raise Forbidden("users come from the LDAP directory in ldap_auth mode; none can be created here")
        if not principal.sysadmin:
            if not self._config.get("self_registration"):
                raise _refuse(principal, "create users")
            if new.sysadmin:
                # Refused, not ignored: the attempt is logged and the caller learns it did not work.
                log.warning("user_self_registration_as_admin_refused", username=new.username[:255])
                raise Forbidden("only a system administrator may create an administrator")
        problem = (
            username_problem(new.username)
            or profile_problem(new.email, new.realname, new.comment)
            or password_problem(new.password)
        )
        if problem:
            raise BadRequest(problem)
        password_hash = await self._hasher.hash(new.password)
        async with self._db.transaction() as tx:
            user = await users_store.create_user(
                tx,
                new.username,
                password_hash=password_hash,
                email=new.email,
                realname=new.realname,
                comment=new.comment,
                sysadmin=new.sysadmin and principal.sysadmin,
            )
            # A self-registered account is its own creator.
            await self._audit(
                tx, principal.name or user.username, "create", user.username, f"create user {user.username}"
            )
        log.info("user_created", user_id=user.id, username=user.username, by=principal.name or "self-registration")
        return user

    async def update_profile(self, principal: Principal, user_id: int, changes: ProfileChanges) -> None:
        _require_self_or_admin(principal, user_id, f"change user {user_id}")
        if problem := profile_problem(changes.email, changes.realname, changes.comment):
            raise BadRequest(problem)
        async with self._db.transaction() as tx:
            if not await store.update_profile(tx, user_id, changes.email, changes.realname, changes.comment):
                raise UserNotFound(f"user {user_id} not found")
            name = await store.username(tx, user_id) or str(user_id)
            await self._audit(tx, principal.name, "update", name, f"update profile of user {name}")
        log.info("user_profile_updated", user_id=user_id)

    async def change_password(
        self, principal: Principal, user_id: int, old_password: str | None, new_password: str
    ) -> None:
        _require_self_or_admin(principal, user_id, f"change the password of user {user_id}")
        user = await users_store.user_by_id(self._db.pool, user_id)
        if user is None or user.deleted:
            raise UserNotFound(f"user {user_id} not found")
        if user.auth_source != "db" or user.password_hash is None:
            raise Forbidden(f"user {user.username} authenticates with LDAP; change the password in the directory")
        if problem := password_problem(new_password):
            raise BadRequest(problem)
        # Your own password needs the old one, even as sysadmin: a stolen session cannot lock you out.
        if principal.user_id == user_id:
            if not old_password or not await self._hasher.verify(user.password_hash, old_password):
                raise Forbidden("the old password is not correct")
            if old_password == new_password:
                raise BadRequest("the new password must differ from the old one")
        password_hash = await self._hasher.hash(new_password)
        async with self._db.transaction() as tx:
            await users_store.set_password(tx, user_id, password_hash)
            # That it changed, never what to.
            await self._audit(tx, principal.name, "update", user.username, f"change password of user {user.username}")
        log.info("user_password_changed", user_id=user_id, by=principal.name)

    async def set_sysadmin(self, principal: Principal, user_id: int, sysadmin: bool) -> None:
        _require_admin(principal, "change a user's administrator flag")
        if principal.user_id == user_id:
            raise Forbidden("you may not change your own administrator flag")
        if user_id == ADMIN_USER_ID:
            raise Forbidden("the admin account (id 1) always is an administrator")
        async with self._db.transaction() as tx:
            if not await store.set_sysadmin(tx, user_id, sysadmin):
                raise UserNotFound(f"user {user_id} not found")
            name = await store.username(tx, user_id) or str(user_id)
            what = "grant" if sysadmin else "revoke"
            await self._audit(tx, principal.name, "update", name, f"{what} system administrator of user {name}")
        log.info("user_sysadmin_changed", user_id=user_id, sysadmin=sysadmin, by=principal.name)

    async def delete(self, principal: Principal, user_id: int) -> None:
        _require_admin(principal, "delete users")
        if user_id == ADMIN_USER_ID:
            raise Forbidden("the admin account (id 1) cannot be deleted")
        if principal.user_id == user_id:
            raise Forbidden("you may not delete your own account")
        async with self._db.transaction() as tx:
            name = await store.username(tx, user_id)
            if name is None or not await store.delete_user(tx, user_id):
                raise UserNotFound(f"user {user_id} not found")
            await self._audit(tx, principal.name, "delete", name, f"delete user {name}")
        log.info("user_deleted", user_id=user_id, by=principal.name)
