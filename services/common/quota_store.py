"""SQL for project quotas that the registry and core both need: what a write would add (read before it
writes, for Harbor's message and the 85 % warning), and the translation of migration 0019's refusal at
commit. The usage and the references are kept by the migration's triggers; the quota API's reads and
writes are core's (services.core.quotas.store). `$n` parameters only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from services.common.db import Executor
from services.common.quota import EXCEEDED_SQLSTATE, Charge, QuotaExceeded

# The bytes of the digests of `w(digest, size)` project `q` does not reference yet; 0 when it is unlimited.
_ADDING = (
    "CASE WHEN q.hard < 0 THEN 0 ELSE (SELECT COALESCE(sum(w.size), 0)::bigint FROM ({source}) w"
    " WHERE NOT EXISTS (SELECT 1 FROM project_blobs pb WHERE pb.project_id = q.project_id AND pb.digest = w.digest))"
    " END AS adding"
)


def _charge(row: asyncpg.Record | None) -> Charge | None:
    return None if row is None else Charge(hard=row["hard"], used=row["used"], adding=row["adding"])


async def push_charge(
    ex: Executor, project: str, manifest: tuple[str, int], blob_digests: Sequence[str]
) -> Charge | None:
    """What pushing the manifest (digest, size) naming these blobs adds to project `project`; None when
    there is no such project (nothing is counted for it)."""
    source = (
        "SELECT $2::text AS digest, $3::bigint AS size"
        " UNION SELECT b.digest, b.size FROM blobs b WHERE b.digest = ANY($4::text[])"
    )
    row = await ex.fetchrow(
        f"SELECT q.hard, q.used, {_ADDING.format(source=source)}"
        " FROM quotas q JOIN projects p ON p.id = q.project_id WHERE p.name = $1",
        project,
        manifest[0],
        manifest[1],
        list(blob_digests),
    )
    return _charge(row)


async def copy_charge(ex: Executor, project_id: int, source_id: int) -> Charge | None:
    """What copying artifact `source_id` (an index with its manifests below it) into project `project_id`
    adds there."""
    source = (
        "WITH RECURSIVE tree(id) AS (SELECT $2::bigint UNION"
        " SELECT ar.child_id FROM artifact_references ar JOIN tree ON ar.parent_id = tree.id)"
        " SELECT a.digest, a.size FROM artifacts a WHERE a.id IN (SELECT id FROM tree)"
        " UNION SELECT b.digest, b.size FROM artifact_blobs ab JOIN blobs b ON b.digest = ab.digest"
        " WHERE ab.artifact_id IN (SELECT id FROM tree)"
    )
    row = await ex.fetchrow(
        f"SELECT q.hard, q.used, {_ADDING.format(source=source)} FROM quotas q WHERE q.project_id = $1",
        project_id,
        source_id,
    )
    return _charge(row)


@asynccontextmanager
async def refusals() -> AsyncIterator[None]:
    """Around a transaction that may add to a usage: the migration's refusal at commit (a write that raced
    another past the limit, or a limit lowered meanwhile) as QuotaExceeded."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        if getattr(exc, "sqlstate", None) != EXCEEDED_SQLSTATE:
            raise
        raise QuotaExceeded.from_detail(getattr(exc, "detail", None)) from None
