"""SQL of the audit log purge: entries older than a cutoff, of some event types (`<operation>_<resource_type>`),
counted or deleted in batches so a purge of millions never holds one long lock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from services.common.db import Executor

_MATCH = "op_time < $1 AND operation || '_' || resource_type = ANY($2::text[])"


async def count_older(ex: Executor, cutoff: dt.datetime, event_types: Sequence[str]) -> int:
    value = await ex.fetchval(f"SELECT count(*) FROM audit_log WHERE {_MATCH}", cutoff, list(event_types))
    return int(value)


async def delete_older(ex: Executor, cutoff: dt.datetime, event_types: Sequence[str], batch: int) -> int:
    """Deletes up to `batch` matching entries; how many it deleted."""
    status = await ex.execute(
        f"DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE {_MATCH} LIMIT $3)",
        cutoff,
        list(event_types),
        batch,
    )
    return int(status.rsplit(" ", 1)[1])
