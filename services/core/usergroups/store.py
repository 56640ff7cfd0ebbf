"""SQL for user groups, in the tables the token service reads (`user_groups`, `user_group_members`,
`project_members` with entity_type 'g'). `$n` parameters only. A list is two statements, the page and
the count, whatever the page size. Creation is `services.common.identity.groups_store.create_group`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.identity.models import Group
from services.core.listing import Page, like_pattern
from services.core.usergroups.models import GroupFilter

_COLUMNS = "id, name, group_type, ldap_dn"


def _group(row: asyncpg.Record) -> Group:
    return Group(id=row["id"], name=row["name"], group_type=row["group_type"], ldap_dn=row["ldap_dn"])


async def list_groups(ex: Executor, where: GroupFilter, page: Page) -> tuple[list[Group], int]:
    args: list[Any] = []
    clauses = ["TRUE"]
    if where.name_contains:
        args.append(like_pattern(where.name_contains))
        clauses.append(f"name LIKE ${len(args)} ESCAPE '\\'")
    if where.ldap_dn:
        args.append(where.ldap_dn)
        clauses.append(f"ldap_dn = ${len(args)}")
    if where.group_type is not None:
        args.append(int(where.group_type))
        clauses.append(f"group_type = ${len(args)}")
    sql_where = " WHERE " + " AND ".join(clauses)
    total = await ex.fetchval(f"SELECT count(*) FROM user_groups{sql_where}", *args)
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM user_groups{sql_where} ORDER BY id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        page.size,
        page.offset,
    )
    return [_group(r) for r in rows], int(total)


async def group(ex: Executor, group_id: int) -> Group | None:
    row = await ex.fetchrow(f"SELECT {_COLUMNS} FROM user_groups WHERE id = $1", group_id)
    return None if row is None else _group(row)


async def lock_names(ex: Executor) -> None:
    """Serializes name checks of groups until the transaction ends: names are unique per type by rule
    (Harbor's), not by a constraint, so two concurrent creations must not both pass the check."""
    await ex.execute("SELECT pg_advisory_xact_lock(hashtext('berth.user_groups.name'))")


async def name_taken(ex: Executor, name: str, group_type: int, *, other_than: int | None = None) -> bool:
    found = await ex.fetchval(
        "SELECT EXISTS (SELECT 1 FROM user_groups WHERE name = $1 AND group_type = $2 AND id IS DISTINCT FROM $3)",
        name,
        group_type,
        other_than,
    )
    return bool(found)


async def rename(ex: Executor, group_id: int, name: str) -> bool:
    status = await ex.execute("UPDATE user_groups SET name = $2 WHERE id = $1", group_id, name)
    return bool(status.endswith(" 1"))


async def delete(ex: Executor, group_id: int) -> bool:
    """The group, its project memberships and (by cascade) its user memberships; call in a transaction."""
    await ex.execute("DELETE FROM project_members WHERE entity_type = 'g' AND entity_id = $1", group_id)
    status = await ex.execute("DELETE FROM user_groups WHERE id = $1", group_id)
    return bool(status.endswith(" 1"))
