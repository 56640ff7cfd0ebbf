"""SQL for users as the REST API sees them. `$n` parameters only; columns and orders come from the
fixed tables here. Deleted accounts are invisible to every query in this module, and no query here
selects the password hash: what is read cannot leak.

A list (and a search) is two statements, the page and the count, whatever the page size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.identity.errors import Conflict
from services.core.listing import Page, SortKey, Term, column_map, like_pattern, order_by, where_clause
from services.core.users.models import USER_LIST, UserRef, UserView

FILTER_COLUMNS = column_map(USER_LIST.filters, {"username": "u.username", "email": "u.email"})
SORT_COLUMNS = column_map(USER_LIST.sorts, {"username": "u.username", "creation_time": "u.created_at"})

_SELECT = (
    "SELECT u.id, u.username, u.email, u.realname, u.comment, u.sysadmin, u.auth_source, u.created_at,"
    " u.updated_at FROM users u"
)


def _view(row: asyncpg.Record) -> UserView:
    return UserView(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        realname=row["realname"],
        comment=row["comment"],
        sysadmin=row["sysadmin"],
        auth_source=row["auth_source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _where(terms: Sequence[Term], args: list[Any]) -> str:
    return where_clause("NOT u.deleted", terms, FILTER_COLUMNS, args)


async def list_users(
    ex: Executor, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[UserView], int]:
    args: list[Any] = []
    where = _where(terms, args)
    order = order_by(sort, SORT_COLUMNS, [], "u.id ASC")
    n = len(args)
    rows = await ex.fetch(
        f"{_SELECT}{where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}", *args, page.size, page.offset
    )
    total = await ex.fetchval(f"SELECT count(*) FROM users u{where}", *args)
    return [_view(r) for r in rows], int(total)


async def search_users(ex: Executor, username: str, page: Page) -> tuple[list[UserRef], int]:
    """Live users whose name contains `username` literally (its % _ \\ are not wildcards)."""
    pattern = like_pattern(username)
    rows = await ex.fetch(
        "SELECT u.id, u.username FROM users u WHERE NOT u.deleted AND u.username LIKE $1 ESCAPE '\\'"
        " ORDER BY u.username, u.id LIMIT $2 OFFSET $3",
        pattern,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(
        "SELECT count(*) FROM users u WHERE NOT u.deleted AND u.username LIKE $1 ESCAPE '\\'", pattern
    )
    return [UserRef(id=r["id"], username=r["username"]) for r in rows], int(total)


async def user_view(ex: Executor, user_id: int) -> UserView | None:
    row = await ex.fetchrow(f"{_SELECT} WHERE u.id = $1 AND NOT u.deleted", user_id)
    return None if row is None else _view(row)


async def update_profile(
    ex: Executor, user_id: int, email: str | None, realname: str | None, comment: str | None
) -> bool:
    """False when there is no such live user. An empty e-mail is stored as none (the column is unique)."""
    try:
        status = await ex.execute(
            "UPDATE users SET email = CASE WHEN $2::text IS NULL THEN email ELSE NULLIF($2::text, '') END,"
            " realname = COALESCE($3, realname), comment = COALESCE($4, comment), updated_at = now()"
            " WHERE id = $1 AND NOT deleted",
            user_id,
            email,
            realname,
            comment,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("a user with this email already exists") from None
    return status.endswith(" 1")


async def set_sysadmin(ex: Executor, user_id: int, sysadmin: bool) -> bool:
    status = await ex.execute(
        "UPDATE users SET sysadmin = $2, updated_at = now() WHERE id = $1 AND NOT deleted", user_id, sysadmin
    )
    return status.endswith(" 1")


async def delete_user(ex: Executor, user_id: int) -> bool:
    """Mark the user deleted (the row and its name stay, so the name cannot be taken over by a new
    account) and drop its project and group memberships. False when there is no such live user."""
    status = await ex.execute(
        "UPDATE users SET deleted = true, sysadmin = false, updated_at = now() WHERE id = $1 AND NOT deleted", user_id
    )
    if not status.endswith(" 1"):
        return False
    await ex.execute("DELETE FROM project_members WHERE entity_type = 'u' AND entity_id = $1", user_id)
    await ex.execute("DELETE FROM user_group_members WHERE user_id = $1", user_id)
    return True


async def username(ex: Executor, user_id: int) -> str | None:
    """The name of a live user (what its audit entries name)."""
    value = await ex.fetchval("SELECT username FROM users WHERE id = $1 AND NOT deleted", user_id)
    return None if value is None else str(value)


async def count_besides_admin(ex: Executor) -> int:
    """Live accounts other than the admin (id 1): Harbor changes auth_mode only while there are none."""
    found: int = await ex.fetchval("SELECT count(*) FROM users WHERE id <> 1 AND NOT deleted")
    return found
