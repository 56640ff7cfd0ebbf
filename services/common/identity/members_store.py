"""SQL for project members (users and groups with a role). `$n` parameters only; every function takes
an `Executor`, so callers choose the transaction."""

from __future__ import annotations

from typing import cast

import asyncpg

from services.common.db import Executor
from services.common.identity.errors import Conflict
from services.common.identity.models import (
    EntityType,
    Member,
)
from services.common.rbac import Role


async def add_member(ex: Executor, project_id: int, entity_type: EntityType, entity_id: int, role: Role) -> Member:
    try:
        row = await ex.fetchrow(
            "INSERT INTO project_members (project_id, entity_type, entity_id, role) VALUES ($1, $2, $3, $4)"
            " RETURNING id, project_id, entity_type, entity_id, role",
            project_id,
            entity_type,
            entity_id,
            int(role),
        )
    except asyncpg.UniqueViolationError:
        kind = "user" if entity_type == "u" else "group"
        raise Conflict(f"the {kind} {entity_id} is already a member of project {project_id}") from None
    assert row is not None
    return _member(row)


async def ensure_member(ex: Executor, project_id: int, entity_type: EntityType, entity_id: int, role: Role) -> None:
    """Add the membership unless there is one (any role): for the bootstrap, which may run concurrently."""
    await ex.execute(
        "INSERT INTO project_members (project_id, entity_type, entity_id, role) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (project_id, entity_type, entity_id) DO NOTHING",
        project_id,
        entity_type,
        entity_id,
        int(role),
    )


def _member(row: asyncpg.Record) -> Member:
    return Member(
        id=row["id"],
        project_id=row["project_id"],
        entity_type=cast(EntityType, row["entity_type"]),
        entity_id=row["entity_id"],
        role=Role(row["role"]),
    )


async def member_roles(ex: Executor, project_id: int, user_id: int) -> frozenset[Role]:
    """Every role `user_id` holds in the project, directly or through a group."""
    rows = await ex.fetch(
        "SELECT role FROM project_members WHERE project_id = $1 AND ("
        " (entity_type = 'u' AND entity_id = $2)"
        " OR (entity_type = 'g' AND entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = $2)))",
        project_id,
        user_id,
    )
    return frozenset(Role(r["role"]) for r in rows)


async def projects_with_role(ex: Executor, user_id: int, role: Role) -> list[int]:
    """The projects where `user_id` holds `role`, directly or through a group."""
    rows = await ex.fetch(
        "SELECT DISTINCT project_id FROM project_members WHERE role = $2 AND ("
        " (entity_type = 'u' AND entity_id = $1)"
        " OR (entity_type = 'g' AND entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = $1)))",
        user_id,
        int(role),
    )
    return [r["project_id"] for r in rows]
