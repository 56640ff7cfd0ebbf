"""First start: the admin user and the public `library` project, as Harbor creates them.

Every service that serves identities calls `bootstrap` at start-up, several possibly at once: each step
is an insert that does nothing when the row exists, inside one transaction, so exactly one start creates
the admin and `library` and the others find them. `library` is made together with the admin only, so a
deleted `library` stays deleted across restarts.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from typing import TextIO

import structlog

from services.common.auth.passwords import PasswordHasher, generate_secret
from services.common.db import Database
from services.common.identity import members_store, projects_store, users_store
from services.common.identity.models import ADMIN_USER_ID, ADMIN_USERNAME, LIBRARY_PROJECT, User
from services.common.rbac import Role
from services.common.settings import Settings

# Harbor's well-known initial password (the template's); a warning is logged while it still works.
DEFAULT_ADMIN_PASSWORD = "Harbor12345"
LIBRARY_PROJECT_ID = 1

log = structlog.get_logger()


class DefaultPasswordCheck:
    """Whether the admin's stored hash is one of DEFAULT_ADMIN_PASSWORD.

    The answer is remembered with the hash it was computed from: the KDF runs once per stored hash, not
    on every question, and a password change (a new hash) is seen at once.
    """

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._known: tuple[str, bool] | None = None  # (stored hash, whether it is the default's)

    async def admin_has_default(self, admin: User) -> bool:
        if admin.password_hash is None or admin.deleted:
            return False
        known = self._known
        if known is not None and known[0] == admin.password_hash:
            return known[1]
        answer = await self._hasher.verify(admin.password_hash, DEFAULT_ADMIN_PASSWORD)
        self._known = (admin.password_hash, answer)
        return answer

    async def is_default(self, db: Database) -> bool:
        """The question for the admin as stored now (one indexed read, then the remembered answer)."""
        admin = await users_store.user_by_id(db.pool, ADMIN_USER_ID)
        return admin is not None and await self.admin_has_default(admin)


async def bootstrap(
    db: Database,
    settings: Settings,
    *,
    hasher: PasswordHasher | None = None,
    out: TextIO | None = None,
    check: DefaultPasswordCheck | None = None,
) -> None:
    hasher = hasher or PasswordHasher()
    check = check or DefaultPasswordCheck(hasher)
    admin = await users_store.user_by_id(db.pool, ADMIN_USER_ID)
    if admin is None:
        created = await _create_admin(db, settings, hasher, out or sys.stdout)
        if created:
            # Just hashed from a password we hold: no need to run the KDF again to know.
            if settings.admin_password.reveal() == DEFAULT_ADMIN_PASSWORD:
                _warn_default_password()
            return
        admin = await users_store.user_by_id(db.pool, ADMIN_USER_ID)  # another start created it a moment ago
    if admin is not None and await check.admin_has_default(admin):
        _warn_default_password()


async def _create_admin(db: Database, settings: Settings, hasher: PasswordHasher, out: TextIO) -> bool:
    """The admin, `library` and its membership in one transaction; False when another start won."""
    configured = settings.admin_password.reveal()
    password = configured or generate_secret(18)
    password_hash = await hasher.hash(password)
    async with db.transaction() as tx:
        admin = await users_store.create_admin(tx, password_hash)
        if admin is None:
            return False
        library = await projects_store.create_project_if_absent(
            tx, LIBRARY_PROJECT, owner_id=ADMIN_USER_ID, public=True, project_id=LIBRARY_PROJECT_ID
        )
        if library is not None:
            await members_store.ensure_member(tx, library.id, "u", ADMIN_USER_ID, Role.PROJECT_ADMIN)
    log.info("admin_created", user=ADMIN_USERNAME, project=LIBRARY_PROJECT)
    if not configured:
        # Printed once, by the start that created the account, and kept nowhere else.
        print(f"berth: admin password: {password}", file=out, flush=True)
    return True


def _warn_default_password() -> None:
    log.warning(
        "admin_default_password",
        user=ADMIN_USERNAME,
        message="the admin password is still the well-known default from the template; change it",
    )


def bootstrap_lifespan(
    db: Database, settings: Settings, hasher: PasswordHasher, check: DefaultPasswordCheck | None = None
) -> Callable[[object], AsyncIterator[None]]:
    """For `app.cleanup_ctx` of every service that owns identity (token, core): run `bootstrap` at start
    (which logs the default-password warning once per start). A service that asks the question again
    later passes its `check`, so the start-up answer is remembered."""

    async def lifespan(_app: object) -> AsyncIterator[None]:
        await bootstrap(db, settings, hasher=hasher, check=check)
        yield

    return lifespan
