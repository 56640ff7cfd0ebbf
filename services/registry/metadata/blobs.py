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


# Tries of claim before it gives up: each further one means garbage collection deleted the row while this
# transaction waited for its lock, and then the next insert makes it.
CLAIM_TRIES = 10


async def claim(tx: Executor, digest: str, size: int) -> str:
    """The blob's row, locked until the transaction ends, made if there is none: 'new' (made here, live
    once the transaction commits, so its bytes must be in place before), 'deleting' (garbage collection
    was deleting it: bring the bytes back, then `revive`) or 'live'. Garbage collection can neither mark
    nor sweep the row meanwhile, and a concurrent claim of the same digest waits for this one.

    Made rather than left absent while the bytes move: with no row to lock, a second upload of the digest
    could commit, and garbage collection mark and sweep it, between this upload's move and its insert;
    the sweep then deleted the bytes this upload had just put there, and its row went live without them."""
    for _ in range(CLAIM_TRIES):
        made = await tx.fetchval(
            "INSERT INTO blobs (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING RETURNING status",
            digest,
            size,
        )
        if made is not None:
            return "new"
        status: str | None = await tx.fetchval("SELECT status FROM blobs WHERE digest = $1 FOR UPDATE", digest)
        if status is not None:
            return status
    raise RuntimeError(f"blob {digest}: its row was deleted under {CLAIM_TRIES} claims in a row")


async def revive(tx: Executor, digest: str) -> None:
    """A row garbage collection was deleting, claimed and its bytes back, live again (its window starts
    again)."""
    await tx.execute(
        "UPDATE blobs SET status = 'live', created_at = now(), updated_at = now()"
        " WHERE digest = $1 AND status = 'deleting'",
        digest,
    )


async def share_live(tx: Executor, digest: str) -> bool:
    """Whether the blob is live, its row key-share-locked until the transaction ends if so."""
    found = await tx.fetchval("SELECT true FROM blobs WHERE digest = $1 AND status = 'live' FOR KEY SHARE", digest)
    return bool(found)


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
