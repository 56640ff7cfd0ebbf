"""SQL for robot accounts as the REST API sees them. `$n` parameters only. No query here selects the
secret hash: what is read cannot leak. Creation is `services.common.identity.robots_store.create_robot`.

A list is two statements, the page and the count, whatever the page size.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.identity.models import RobotLevel, RobotPermission, parse_permissions
from services.core.listing import Page
from services.core.robots.models import RobotView

_SELECT = (
    "SELECT r.id, r.name, r.description, r.level, r.project_id, p.name AS project_name, r.disabled,"
    " r.expires_at, r.permissions, r.created_at, r.updated_at"
    " FROM robots r LEFT JOIN projects p ON p.id = r.project_id"
)


def _view(row: asyncpg.Record) -> RobotView:
    return RobotView(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        level=row["level"],
        project_id=row["project_id"],
        project_name=row["project_name"],
        disabled=row["disabled"],
        expires_at=row["expires_at"],
        permissions=parse_permissions(row["permissions"], strict=False),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _permissions_json(permissions: Sequence[RobotPermission]) -> str:
    return json.dumps([p.to_json() for p in permissions])


async def list_robots(
    ex: Executor, *, level: RobotLevel | None, project_id: int | None, name: str | None, page: Page
) -> tuple[list[RobotView], int]:
    args: list[Any] = []
    clauses = ["TRUE"]
    if level is not None:
        args.append(level)
        clauses.append(f"r.level = ${len(args)}")
    if project_id is not None:
        args.append(project_id)
        clauses.append(f"r.project_id = ${len(args)}")
    if name is not None:
        args.append(name)
        clauses.append(f"r.name = ${len(args)}")
    where = " WHERE " + " AND ".join(clauses)
    total = await ex.fetchval(f"SELECT count(*) FROM robots r{where}", *args)
    rows = await ex.fetch(
        f"{_SELECT}{where} ORDER BY r.id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}", *args, page.size, page.offset
    )
    return [_view(r) for r in rows], int(total)


async def robot_view(ex: Executor, robot_id: int) -> RobotView | None:
    row = await ex.fetchrow(f"{_SELECT} WHERE r.id = $1", robot_id)
    return None if row is None else _view(row)


async def update_robot(
    ex: Executor,
    robot_id: int,
    *,
    description: str,
    disabled: bool,
    expires_at: dt.datetime | None,
    permissions: Sequence[RobotPermission],
) -> bool:
    status = await ex.execute(
        "UPDATE robots SET description = $2, disabled = $3, expires_at = $4, permissions = $5::jsonb,"
        " updated_at = now() WHERE id = $1",
        robot_id,
        description,
        disabled,
        expires_at,
        _permissions_json(permissions),
    )
    return bool(status.endswith(" 1"))


async def set_secret_hash(ex: Executor, robot_id: int, secret_hash: str) -> bool:
    status = await ex.execute(
        "UPDATE robots SET secret_hash = $2, updated_at = now() WHERE id = $1", robot_id, secret_hash
    )
    return bool(status.endswith(" 1"))


async def delete_robot(ex: Executor, robot_id: int) -> bool:
    status = await ex.execute("DELETE FROM robots WHERE id = $1", robot_id)
    return bool(status.endswith(" 1"))
