"""SQL: what the registry needs to know of projects (owned by core and the token service)."""

from __future__ import annotations

from services.common.db import Executor


async def exists(db: Executor, name: str) -> bool:
    found: bool = await db.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE name = $1)", name)
    return found


async def current_id(db: Executor, project: str, repository: str) -> tuple[int | None, int | None]:
    """(the id of project `project`, the id of repository `repository`), None for either that does not
    exist: two unique-index lookups in one round trip, read in one snapshot."""
    row = await db.fetchrow(
        "SELECT (SELECT id FROM projects WHERE name = $1) AS project_id,"
        " (SELECT id FROM repositories WHERE name = $2) AS repository_id",
        project,
        repository,
    )
    assert row is not None
    return row["project_id"], row["repository_id"]
