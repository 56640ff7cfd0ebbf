"""SQL for user groups and their members, directory (LDAP) groups included. `$n` parameters only;
every function takes an `Executor`, so callers choose the transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.common.db import Executor
from services.common.identity.errors import Conflict, clash
from services.common.identity.models import (
    Group,
)


async def create_group(ex: Executor, name: str, *, group_type: int = 1, ldap_dn: str | None = None) -> Group:
    try:
        row = await ex.fetchrow(
            "INSERT INTO user_groups (name, group_type, ldap_dn) VALUES ($1, $2, $3)"
            " RETURNING id, name, group_type, ldap_dn",
            name,
            group_type,
            ldap_dn,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(clash("group", exc)) from None
    assert row is not None
    return Group(id=row["id"], name=row["name"], group_type=row["group_type"], ldap_dn=row["ldap_dn"])


async def add_user_to_group(ex: Executor, user_id: int, group_id: int) -> None:
    await ex.execute(
        "INSERT INTO user_group_members (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        user_id,
        group_id,
    )


async def upsert_ldap_groups(ex: Executor, groups: Sequence[tuple[str, str]]) -> list[int]:
    """The ids of LDAP groups given as (name, dn), created when first seen; one statement."""
    if not groups:
        return []
    rows = await ex.fetch(
        "INSERT INTO user_groups (name, group_type, ldap_dn)"
        " SELECT name, 1, dn FROM unnest($1::text[], $2::text[]) AS g(name, dn)"
        " ON CONFLICT (ldap_dn) DO UPDATE SET name = EXCLUDED.name"
        " RETURNING id",
        [name for name, _ in groups],
        [dn for _, dn in groups],
    )
    return [r["id"] for r in rows]


async def set_ldap_group_memberships(ex: Executor, user_id: int, group_ids: Sequence[int]) -> None:
    """Make the user's LDAP group memberships exactly `group_ids` (other kinds of group are kept)."""
    await ex.execute(
        "DELETE FROM user_group_members m USING user_groups g"
        " WHERE m.user_id = $1 AND g.id = m.group_id AND g.group_type = 1 AND NOT (g.id = ANY($2::bigint[]))",
        user_id,
        list(group_ids),
    )
    await ex.execute(
        "INSERT INTO user_group_members (user_id, group_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        user_id,
        list(group_ids),
    )


async def in_ldap_group(ex: Executor, user_id: int, group_dn: str) -> bool:
    """Whether the user is a member of the LDAP group at `group_dn` (as its last directory login synced)."""
    found: bool = await ex.fetchval(
        "SELECT EXISTS (SELECT 1 FROM user_group_members m JOIN user_groups g ON g.id = m.group_id"
        " WHERE m.user_id = $1 AND g.group_type = 1 AND lower(g.ldap_dn) = lower($2))",
        user_id,
        group_dn,
    )
    return found
