"""SQL for user accounts, database and directory (LDAP) ones. `$n` parameters only; rows become
dataclasses; every function takes an `Executor`, so callers choose the transaction. Unique-key clashes
become `Conflict`, naming what clashed."""

from __future__ import annotations

import asyncpg

from services.common.db import Executor
from services.common.identity.errors import Conflict, clash
from services.common.identity.models import (
    ADMIN_USER_ID,
    ADMIN_USERNAME,
    AuthSource,
    User,
)

USER_COLUMNS = (
    "id, username, email, realname, comment, password_hash, sysadmin, auth_source, ldap_dn,"
    " password_changed_at, created_at, updated_at, deleted"
)


def user_row(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        realname=row["realname"],
        comment=row["comment"],
        password_hash=row["password_hash"],
        sysadmin=row["sysadmin"],
        auth_source=row["auth_source"],
        ldap_dn=row["ldap_dn"],
        password_changed_at=row["password_changed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted=row["deleted"],
    )


async def user_by_name(ex: Executor, username: str) -> User | None:
    row = await ex.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE username = $1", username)
    return None if row is None else user_row(row)


async def user_by_id(ex: Executor, user_id: int) -> User | None:
    row = await ex.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return None if row is None else user_row(row)


async def create_user(
    ex: Executor,
    username: str,
    *,
    password_hash: str | None,
    email: str | None = None,
    realname: str = "",
    comment: str = "",
    sysadmin: bool = False,
    auth_source: AuthSource = "db",
    ldap_dn: str | None = None,
) -> User:
    try:
        row = await ex.fetchrow(
            "INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, auth_source, ldap_dn)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {USER_COLUMNS}",
            username,
            email,
            realname,
            comment,
            password_hash,
            sysadmin,
            auth_source,
            ldap_dn,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(clash("user", exc)) from None
    assert row is not None
    return user_row(row)


async def create_admin(ex: Executor, password_hash: str) -> User | None:
    """The admin (id 1) unless it exists; None when another start created it first."""
    row = await ex.fetchrow(
        "INSERT INTO users (id, username, realname, comment, password_hash, sysadmin)"
        " VALUES ($1, $2, 'system admin', 'admin user', $3, true)"
        f" ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}",
        ADMIN_USER_ID,
        ADMIN_USERNAME,
        password_hash,
    )
    return None if row is None else user_row(row)


async def set_password(ex: Executor, user_id: int, password_hash: str) -> None:
    await ex.execute(
        "UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )


async def mark_user_deleted(ex: Executor, user_id: int) -> None:
    await ex.execute("UPDATE users SET deleted = true, updated_at = now() WHERE id = $1", user_id)


async def upsert_ldap_user(ex: Executor, username: str, *, ldap_dn: str, email: str | None, realname: str) -> User:
    """The LDAP account `username`, created at its first login and refreshed from the directory at the
    next ones. An e-mail another account already has is left out rather than refused (it is unique
    here, not in every directory). A name held by a database account, or a deleted one, is returned
    untouched: the caller refuses it."""
    try:
        row = await ex.fetchrow(
            "INSERT INTO users (username, email, realname, password_hash, auth_source, ldap_dn)"
            " VALUES ($1, (SELECT $3::text WHERE NOT EXISTS"
            " (SELECT 1 FROM users WHERE email = $3::text AND username <> $1)), $4, NULL, 'ldap', $2)"
            " ON CONFLICT (username) DO UPDATE SET ldap_dn = EXCLUDED.ldap_dn, email = EXCLUDED.email,"
            " realname = EXCLUDED.realname, updated_at = now()"
            " WHERE users.auth_source = 'ldap' AND NOT users.deleted"
            " AND (users.ldap_dn, users.email, users.realname)"
            " IS DISTINCT FROM (EXCLUDED.ldap_dn, EXCLUDED.email, EXCLUDED.realname)"
            f" RETURNING {USER_COLUMNS}",
            username,
            ldap_dn,
            email,
            realname,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(clash("user", exc)) from None
    if row is None:  # unchanged, or not an LDAP account: as it is
        row = await ex.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE username = $1", username)
    assert row is not None
    return user_row(row)
