"""SQL for project rows: read by name, created (at first start too). `$n` parameters only; every
function takes an `Executor`, so callers choose the transaction."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.identity.errors import Conflict, clash
from services.common.identity.models import (
    Project,
)

PROJECT_COLUMNS = "id, name, owner_id, public, metadata, created_at, updated_at"


def _project(row: asyncpg.Record) -> Project:
    metadata = row["metadata"]
    return Project(
        id=row["id"],
        name=row["name"],
        owner_id=row["owner_id"],
        public=row["public"],
        metadata=json.loads(metadata) if isinstance(metadata, str) else dict(metadata),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def project_by_name(ex: Executor, name: str) -> Project | None:
    row = await ex.fetchrow(f"SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1", name)
    return None if row is None else _project(row)


async def create_project(
    ex: Executor,
    name: str,
    *,
    owner_id: int,
    public: bool = False,
    metadata: dict[str, Any] | None = None,
    project_id: int | None = None,
    registry_id: int | None = None,
) -> Project:
    """A new project; `project_id` only for `library` (id 1, as in Harbor); `registry_id`: the endpoint
    of a proxy-cache project."""
    try:
        row = await ex.fetchrow(
            "INSERT INTO projects (id, name, owner_id, public, metadata, registry_id)"
            " VALUES (COALESCE($1, nextval(pg_get_serial_sequence('projects', 'id'))), $2, $3, $4, $5::jsonb, $6)"
            f" RETURNING {PROJECT_COLUMNS}",
            project_id,
            name,
            owner_id,
            public,
            json.dumps(metadata or {}),
            registry_id,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(clash("project", exc)) from None
    assert row is not None
    return _project(row)


async def create_project_if_absent(
    ex: Executor, name: str, *, owner_id: int, public: bool, project_id: int | None = None
) -> Project | None:
    """The project unless one of that name (or id) exists: None then. For the bootstrap."""
    row = await ex.fetchrow(
        "INSERT INTO projects (id, name, owner_id, public)"
        " VALUES (COALESCE($1, nextval(pg_get_serial_sequence('projects', 'id'))), $2, $3, $4)"
        f" ON CONFLICT DO NOTHING RETURNING {PROJECT_COLUMNS}",
        project_id,
        name,
        owner_id,
        public,
    )
    return None if row is None else _project(row)
