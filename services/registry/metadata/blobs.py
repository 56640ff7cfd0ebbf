"""SQL: blobs and which repositories link them."""

from __future__ import annotations

from services.common.db import Executor


async def linked_size(db: Executor, repository: str, digest: str) -> tuple[int, int] | None:
    """(repository id, size) of `digest` if `repository` may serve it."""
    row = await db.fetchrow(
        "SELECT rb.repository_id, b.size FROM repository_blobs rb"
        " JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest"
        " WHERE r.name = $1 AND rb.digest = $2",
        repository,
        digest,
    )
    return None if row is None else (row["repository_id"], row["size"])


async def size(db: Executor, digest: str) -> int | None:
    value: int | None = await db.fetchval("SELECT size FROM blobs WHERE digest = $1", digest)
    return value


async def record(db: Executor, digest: str, size: int) -> None:
    await db.execute("INSERT INTO blobs (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING", digest, size)


async def link(db: Executor, repository_id: int, digest: str) -> None:
    await db.execute(
        "INSERT INTO repository_blobs (repository_id, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        repository_id,
        digest,
    )


async def unlink(db: Executor, repository: str, digest: str) -> int | None:
    """Remove the repository's link; returns the repository id, or None if there was none."""
    value: int | None = await db.fetchval(
        "DELETE FROM repository_blobs rb USING repositories r"
        " WHERE r.id = rb.repository_id AND r.name = $1 AND rb.digest = $2 RETURNING rb.repository_id",
        repository,
        digest,
    )
    return value


async def missing_links(db: Executor, repository_id: int, digests: list[str]) -> list[str]:
    """Those of `digests` the repository does not link; the rest are share-locked until commit,
    so a concurrent sweep cannot take them from under the manifest being written."""
    rows = await db.fetch(
        "SELECT rb.digest FROM repository_blobs rb WHERE rb.repository_id = $1 AND rb.digest = ANY($2::text[])"
        " FOR KEY SHARE",
        repository_id,
        digests,
    )
    present = {r["digest"] for r in rows}
    return [d for d in digests if d not in present]
