"""SQL the registry (pushes, mounts, deletes), core (artifact copies and deletes) and the jobservice (tag
retention's deletes) run on the same repository and artifact rows."""

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


async def delete_artifact(ex: Executor, artifact_id: int, repository_id: int, digest: str) -> list[str]:
    """The artifact, its accessories, and its children no other index names and no tag holds (as Harbor
    deletes an index); returns the digests deleted besides the artifact itself."""
    rows = await ex.fetch(
        "WITH children AS (DELETE FROM artifact_references WHERE parent_id = $1 RETURNING child_id)"
        " SELECT c.id, c.digest FROM artifacts c WHERE c.id IN (SELECT child_id FROM children)",
        artifact_id,
    )
    accessories = await ex.fetch(
        "SELECT id, digest FROM artifacts WHERE repository_id = $1 AND subject_digest = $2 AND id <> $3",
        repository_id,
        digest,
        artifact_id,
    )
    await ex.execute("DELETE FROM artifacts WHERE id = $1", artifact_id)
    gone = [r["digest"] for r in accessories]
    if accessories:
        await ex.execute("DELETE FROM artifacts WHERE id = ANY($1::bigint[])", [r["id"] for r in accessories])
    if rows:
        removed = await ex.fetch(
            "DELETE FROM artifacts c WHERE c.id = ANY($1::bigint[])"
            " AND NOT EXISTS (SELECT 1 FROM artifact_references x WHERE x.child_id = c.id)"
            " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = c.id) RETURNING c.digest",
            [r["id"] for r in rows],
        )
        gone += [r["digest"] for r in removed]
    return gone
