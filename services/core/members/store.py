"""SQL for project members. `$n` parameters only; a page is two statements whatever its size."""

from __future__ import annotations

from typing import cast

import asyncpg

from services.common.db import Executor
from services.common.identity.models import EntityType
from services.common.rbac import Role
from services.core.listing import Page, like_pattern
from services.core.members.models import GroupRef, MemberView, UserRef

_FROM = (
    " FROM project_members m"
    " LEFT JOIN users u ON m.entity_type = 'u' AND u.id = m.entity_id"
    " LEFT JOIN user_groups g ON m.entity_type = 'g' AND g.id = m.entity_id"
)
_SELECT = (
    "SELECT m.id, m.project_id, m.entity_type, m.entity_id, COALESCE(u.username, g.name, '') AS entity_name, m.role"
    + _FROM
)


def _view(row: asyncpg.Record) -> MemberView:
    return MemberView(
        id=row["id"],
        project_id=row["project_id"],
        entity_type=cast(EntityType, row["entity_type"]),
        entity_id=row["entity_id"],
        entity_name=row["entity_name"],
        role=Role(row["role"]),
    )


async def list_members(
    ex: Executor, project_id: int, entityname: str | None, page: Page
) -> tuple[list[MemberView], int]:
    args: list[object] = [project_id]
    where = " WHERE m.project_id = $1"
    if entityname:
        args.append(like_pattern(entityname))
        where += " AND COALESCE(u.username, g.name, '') LIKE $2 ESCAPE '\\'"
    n = len(args)
    rows = await ex.fetch(
        f"{_SELECT}{where} ORDER BY entity_name, m.id LIMIT ${n + 1} OFFSET ${n + 2}", *args, page.size, page.offset
    )
    total = await ex.fetchval(f"SELECT count(*){_FROM}{where}", *args)
    return [_view(r) for r in rows], int(total)


async def member(ex: Executor, project_id: int, member_id: int) -> MemberView | None:
    row = await ex.fetchrow(f"{_SELECT} WHERE m.project_id = $1 AND m.id = $2", project_id, member_id)
    return None if row is None else _view(row)


async def user_id_of(ex: Executor, ref: UserRef) -> int | None:
    """An existing, not deleted user by id or name."""
    if ref.user_id is not None:
        value = await ex.fetchval("SELECT id FROM users WHERE id = $1 AND NOT deleted", ref.user_id)
    else:
        value = await ex.fetchval("SELECT id FROM users WHERE username = $1 AND NOT deleted", ref.username)
    return None if value is None else int(value)


async def group_id_of(ex: Executor, ref: GroupRef) -> int | None:
    if ref.id is not None:
        value = await ex.fetchval("SELECT id FROM user_groups WHERE id = $1", ref.id)
    elif ref.ldap_group_dn is not None:
        value = await ex.fetchval("SELECT id FROM user_groups WHERE ldap_dn = $1", ref.ldap_group_dn)
    else:
        # Names need not be unique across group types; the oldest wins, deterministically.
        value = await ex.fetchval("SELECT id FROM user_groups WHERE name = $1 ORDER BY id LIMIT 1", ref.group_name)
    return None if value is None else int(value)


async def set_role(ex: Executor, project_id: int, member_id: int, role: Role) -> bool:
    status = await ex.execute(
        "UPDATE project_members SET role = $3, updated_at = now() WHERE project_id = $1 AND id = $2",
        project_id,
        member_id,
        int(role),
    )
    return status != "UPDATE 0"


async def delete_member(ex: Executor, project_id: int, member_id: int) -> bool:
    status = await ex.execute("DELETE FROM project_members WHERE project_id = $1 AND id = $2", project_id, member_id)
    return status != "DELETE 0"
