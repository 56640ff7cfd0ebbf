"""SQL both the registry (pushes, mounts, deletes) and core (artifact copies and deletes) run on the same
repository and artifact rows."""

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


async def referencing_parents(db: Executor, artifact_id: int) -> list[str]:
    """The digests of the indexes that name this artifact: while there are any, it cannot be deleted."""
    rows = await db.fetch(
        "SELECT p.digest FROM artifact_references ar JOIN artifacts p ON p.id = ar.parent_id"
        " WHERE ar.child_id = $1 ORDER BY p.digest",
        artifact_id,
    )
    return [r["digest"] for r in rows]
