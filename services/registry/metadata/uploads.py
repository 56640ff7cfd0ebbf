"""SQL: upload sessions."""

from __future__ import annotations

import uuid

from services.common.db import Executor
from services.registry.metadata.models import Upload


async def create(db: Executor, upload_id: str, repository: str) -> None:
    await db.execute("INSERT INTO uploads (id, repository) VALUES ($1, $2)", uuid.UUID(upload_id), repository)


async def get(db: Executor, upload_id: str, repository: str) -> Upload | None:
    row = await db.fetchrow(
        "SELECT id, repository, size FROM uploads WHERE id = $1 AND repository = $2",
        uuid.UUID(upload_id),
        repository,
    )
    if row is None:
        return None
    return Upload(id=str(row["id"]), repository=row["repository"], size=row["size"])


async def advance(db: Executor, upload_id: str, expected: int, new_size: int) -> bool:
    """Record the new acknowledged size, only if nobody else moved it meanwhile."""
    status = await db.execute(
        "UPDATE uploads SET size = $3, updated_at = now() WHERE id = $1 AND size = $2",
        uuid.UUID(upload_id),
        expected,
        new_size,
    )
    return status == "UPDATE 1"
