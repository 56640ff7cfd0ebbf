"""SQL for robot accounts. `$n` parameters only; every function takes an `Executor`, so callers choose
the transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import asyncpg

from services.common.db import Executor
from services.common.identity.errors import Conflict
from services.common.identity.models import (
    ROBOT_PREFIX,
    Robot,
    RobotLevel,
    RobotPermission,
    parse_permissions,
)

ROBOT_SELECT = (
    "SELECT r.id, r.name, r.description, r.secret_hash, r.level, r.project_id, p.name AS project_name,"
    " r.disabled, r.expires_at, r.permissions, r.created_at, r.updated_at"
    " FROM robots r LEFT JOIN projects p ON p.id = r.project_id"
)


def robot_row(row: asyncpg.Record) -> Robot:
    return Robot(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        secret_hash=row["secret_hash"],
        level=row["level"],
        project_id=row["project_id"],
        project_name=row["project_name"],
        disabled=row["disabled"],
        expires_at=row["expires_at"],
        permissions=parse_permissions(row["permissions"], strict=False),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def robot_by_name(ex: Executor, name: str) -> Robot | None:
    row = await ex.fetchrow(f"{ROBOT_SELECT} WHERE r.name = $1", name)
    return None if row is None else robot_row(row)


async def create_robot(
    ex: Executor,
    name: str,
    *,
    secret_hash: str,
    level: RobotLevel,
    permissions: Iterable[RobotPermission],
    project_id: int | None = None,
    description: str = "",
    disabled: bool = False,
    expires_at: dt.datetime | None = None,
    name_prefix: str = ROBOT_PREFIX,
) -> Robot:
    """`name` is the full login name (see `project_robot_name` / `system_robot_name`), starting with
    `name_prefix` (the robot_name_prefix it was created with)."""
    try:
        robot_id = await ex.fetchval(
            "INSERT INTO robots (name, description, secret_hash, level, project_id, disabled, expires_at, permissions,"
            " name_prefix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) RETURNING id",
            name,
            description,
            secret_hash,
            level,
            project_id,
            disabled,
            expires_at,
            json.dumps([p.to_json() for p in permissions]),
            name_prefix,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"a robot account named {name!r} already exists") from None
    row = await ex.fetchrow(f"{ROBOT_SELECT} WHERE r.id = $1", robot_id)
    assert row is not None
    return robot_row(row)


async def set_robot_disabled(ex: Executor, robot_id: int, disabled: bool) -> None:
    await ex.execute("UPDATE robots SET disabled = $2, updated_at = now() WHERE id = $1", robot_id, disabled)


async def name_prefixes(ex: Executor) -> frozenset[str]:
    """Every prefix a robot that exists was created with."""
    rows = await ex.fetch("SELECT DISTINCT name_prefix FROM robots")
    return frozenset(r["name_prefix"] for r in rows)
