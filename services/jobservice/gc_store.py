"""SQL of garbage collection (the protocol is migration 0012's). References come from the database, never
from walking storage. Every lock GC takes on rows a push may need is taken with SKIP LOCKED, so GC never
waits on a push and a push waits on GC only for the blobs GC is marking or sweeping at that moment.

`window` is the time window in seconds: nothing pushed, uploaded, mounted or linked more recently is a
candidate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.common.db import Executor
from services.common.jobs.models import GARBAGE_COLLECTION

# An artifact nothing holds: no tag, named by no index, and not the accessory of a subject that exists.
_UNTAGGED = (
    "a.created_at < now() - make_interval(secs => $1)"
    " AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)"
    " AND NOT EXISTS (SELECT 1 FROM artifact_references r WHERE r.child_id = a.id)"
    " AND (a.subject_digest IS NULL OR NOT EXISTS"
    " (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))"
)


# A blob `b` no artifact references, and nobody uploaded, mounted or linked within the window ($1); each
# table's digest bound (see _unreferenced) goes in its slot.
_UNREFERENCED = (
    "b.status = 'live' AND b.created_at < now() - make_interval(secs => $1){b}"
    " AND NOT EXISTS (SELECT 1 FROM artifact_blobs ab WHERE ab.digest = b.digest{ab})"
    " AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest{rb}"
    " AND rb.created_at >= now() - make_interval(secs => $1))"
)


def _unreferenced(within: bool = False) -> str:
    """The condition; `within`: only digests in ($2, $3], the bound repeated on every table's digest, since
    PostgreSQL does not carry a range across a join's equality. Without the bounds on the subqueries, a
    batch's merge join reads the references' index from its start (at 100,000 blobs, past the rows of
    every batch before)."""
    if not within:
        return _UNREFERENCED.format(b="", ab="", rb="")
    return _UNREFERENCED.format(**{t: f" AND {t}.digest > $2 AND {t}.digest <= $3" for t in ("b", "ab", "rb")})


async def count_untagged(ex: Executor, window: float) -> int:
    value = await ex.fetchval(f"SELECT count(*) FROM artifacts a WHERE {_UNTAGGED}", window)
    return int(value)


async def delete_untagged(ex: Executor, window: float, limit: int) -> list[tuple[str, str]]:
    """Deletes up to `limit` untagged artifacts, each re-checked under its row lock, taken without
    waiting (an artifact a push is tagging right now stays). Their children and accessories become
    untagged top-level artifacts for the next call. (repository, digest) of each deleted."""
    rows = await ex.fetch(
        f"WITH c AS (SELECT a.id FROM artifacts a WHERE {_UNTAGGED} ORDER BY a.id LIMIT $2 FOR UPDATE SKIP LOCKED)"
        # An index's references to its children go with it (ON DELETE CASCADE); the children stay for now.
        " DELETE FROM artifacts a USING c, repositories r WHERE a.id = c.id AND r.id = a.repository_id"
        " RETURNING r.name, a.digest",
        window,
        limit,
    )
    return [(r["name"], r["digest"]) for r in rows]


async def unreferenced(ex: Executor, window: float) -> tuple[int, int]:
    """(blobs, bytes) a run would free now: what a dry run reports."""
    row = await ex.fetchrow(
        f"SELECT count(*) AS n, COALESCE(sum(b.size), 0) AS bytes FROM blobs b WHERE {_unreferenced()}", window
    )
    assert row is not None
    return int(row["n"]), int(row["bytes"])


async def mark(tx: Executor, window: float, limit: int, after: str = "") -> tuple[list[str], str | None]:
    """Marks the unreferenced among the next `limit` blobs after the digest `after` 'deleting' and removes
    their repository links; call in a transaction. Steps: lock the candidates (SKIP LOCKED); re-check them
    in a new statement, whose snapshot sees every reference committed before the locks (none can commit
    after: adding one needs the blob row); lock their links (SKIP LOCKED) and keep only blobs all of whose
    links were locked (a push holding one keeps the blob: the next run takes it); mark and unlink those.
    (the digests marked, the digest the next call goes on after: None once past the last blob).

    A call costs what its `limit` blobs do, however many there are: every statement is bounded to the
    batch's digest range. Without it, the candidate scan walked past every row earlier calls had marked
    (O(n^2) over a run), a list of a thousand digests alone made the planner scan whole tables, and the
    statistics a mass delete leaves stale (every blob referenced, the planner believes) had it hash and
    sort all 100,000 candidates for each batch of 1,000 (320 ms)."""
    row = await tx.fetchrow(
        "SELECT max(digest) AS upper, count(*) AS n"
        " FROM (SELECT digest FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2) w",
        after,
        limit,
    )
    assert row is not None
    if row["n"] == 0:
        return [], None
    upper: str = row["upper"]
    following = upper if row["n"] == limit else None
    rows = await tx.fetch(
        f"SELECT b.digest FROM blobs b WHERE {_unreferenced(within=True)}"
        " ORDER BY b.digest FOR UPDATE OF b SKIP LOCKED",
        window,
        after,
        upper,
    )
    locked = [r["digest"] for r in rows]
    if not locked:
        return [], following
    rows = await tx.fetch(
        f"SELECT b.digest FROM blobs b WHERE b.digest = ANY($4::text[]) AND {_unreferenced(within=True)}",
        window,
        after,
        upper,
        locked,
    )
    checked = [r["digest"] for r in rows]
    in_batch = "digest = ANY($1::text[]) AND digest > $2 AND digest <= $3"
    links = await tx.fetch(f"SELECT digest FROM repository_blobs WHERE {in_batch}", checked, after, upper)
    held = await tx.fetch(
        f"SELECT digest FROM repository_blobs WHERE {in_batch} FOR UPDATE SKIP LOCKED", checked, after, upper
    )
    total, got = Counter(r["digest"] for r in links), Counter(r["digest"] for r in held)
    marked = [d for d in checked if got[d] == total[d]]
    if marked:
        await tx.execute(
            f"UPDATE blobs SET status = 'deleting', updated_at = now() WHERE {in_batch}", marked, after, upper
        )
        await tx.execute(f"DELETE FROM repository_blobs WHERE {in_batch}", marked, after, upper)
    return marked, following


async def lock_deleting(tx: Executor, limit: int) -> list[tuple[str, int]]:
    """Up to `limit` blobs still 'deleting' (this run's marks and any an interrupted run left), locked
    without waiting: an upload taking one back holds its lock, and it is left to it. (digest, size)."""
    rows = await tx.fetch(
        "SELECT digest, size FROM blobs WHERE status = 'deleting' ORDER BY digest LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [(r["digest"], r["size"]) for r in rows]


async def delete_rows(tx: Executor, digests: Sequence[str]) -> int:
    status = await tx.execute("DELETE FROM blobs WHERE digest = ANY($1::text[]) AND status = 'deleting'", list(digests))
    return int(status.rsplit(" ", 1)[1])


async def last_success(ex: Executor) -> float | None:
    """When the newest garbage collection that deleted for real (not a dry run) succeeded, from any
    jobservice process: seconds since the epoch, None before the first."""
    value = await ex.fetchval(
        "SELECT EXTRACT(EPOCH FROM max(finished_at))::float8 FROM jobs"
        " WHERE type = $1 AND status = 'success' AND result->>'dry_run' = 'false'",
        GARBAGE_COLLECTION,
    )
    return None if value is None else float(value)
