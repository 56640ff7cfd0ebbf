"""SQL on upload sessions that both the registry (an upload committed or abandoned) and the jobservice's
garbage collection (sessions abandoned longer than the upload TTL) run."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.common.db import Executor


async def delete(db: Executor, upload_id: str) -> bool:
    status = await db.execute("DELETE FROM uploads WHERE id = $1", uuid.UUID(upload_id))
    return status != "DELETE 0"


async def expired(db: Executor, older_than: timedelta, limit: int) -> list[str]:
    rows = await db.fetch(
        "SELECT id FROM uploads WHERE updated_at < now() - $1::interval ORDER BY updated_at LIMIT $2",
        older_than,
        limit,
    )
    return [str(r["id"]) for r in rows]
