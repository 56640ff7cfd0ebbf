"""SQL both the registry (pushes, mounts) and core (artifact copies) run on the repositories table."""

from __future__ import annotations

from services.common.db import Executor


async def ensure_repository(db: Executor, name: str) -> int:
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
