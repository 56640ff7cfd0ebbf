"""SQL: blobs and which repositories link them. A blob garbage collection is deleting (status 'deleting')
is absent for every read here; see migration 0012 for the protocol."""

from __future__ import annotations

from services.common.db import Executor


async def linked_size(db: Executor, repository: str, digest: str) -> tuple[int, int] | None:
    """(repository id, size) of `digest` if `repository` may serve it."""
    row = await db.fetchrow(
        "SELECT rb.repository_id, b.size FROM repository_blobs rb"
        " JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest"
        " WHERE r.name = $1 AND rb.digest = $2 AND b.status = 'live'",
        repository,
        digest,
    )
    return None if row is None else (row["repository_id"], row["size"])


async def lock_status(tx: Executor, digest: str) -> str | None:
    """The blob's status ('live' or 'deleting'), its row locked until the transaction ends, so garbage
    collection can neither mark nor sweep it meanwhile; None when there is no row (nothing to lock)."""
    value: str | None = await tx.fetchval("SELECT status FROM blobs WHERE digest = $1 FOR UPDATE", digest)
    return value


async def record(db: Executor, digest: str, size: int) -> None:
    """The blob, live: a row garbage collection was deleting is taken back (its window starts again)."""
    await db.execute(
        "INSERT INTO blobs (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE"
        " SET status = 'live', created_at = now(), updated_at = now() WHERE blobs.status = 'deleting'",
        digest,
        size,
    )


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
    """Those of `digests` the repository does not link (or garbage collection is deleting); the rest, links
    and blob rows, are key-share-locked until commit, so garbage collection's mark, which locks without
    waiting, passes over them: the manifest being written keeps them."""
    rows = await db.fetch(
        "SELECT rb.digest FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest"
        " WHERE rb.repository_id = $1 AND rb.digest = ANY($2::text[]) AND b.status = 'live'"
        " FOR KEY SHARE OF rb, b",
        repository_id,
        digests,
    )
    present = {r["digest"] for r in rows}
    return [d for d in digests if d not in present]
