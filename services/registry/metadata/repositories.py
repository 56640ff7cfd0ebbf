"""SQL: repositories and the catalog."""

from __future__ import annotations

from services.common.db import Executor


async def ensure(db: Executor, name: str) -> int:
    """The repository's id, creating it if needed, in one round trip. Existing rows are not touched, so
    pushes to a repository do not fire its change notification."""
    for _ in range(3):
        row_id: int | None = await db.fetchval(
            "WITH created AS (INSERT INTO repositories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id)"
            " SELECT id FROM created UNION ALL SELECT id FROM repositories WHERE name = $1 LIMIT 1",
            name,
        )
        if row_id is not None:
            return row_id
    # Only a concurrent insert that committed after our snapshot can get here three times running.
    raise RuntimeError(f"repository {name!r} could be neither created nor found")


async def find_id(db: Executor, name: str) -> int | None:
    value: int | None = await db.fetchval("SELECT id FROM repositories WHERE name = $1", name)
    return value


async def page(db: Executor, last: str, limit: int) -> list[str]:
    rows = await db.fetch("SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2", last, limit)
    return [r["name"] for r in rows]
