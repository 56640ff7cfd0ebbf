"""SQL: what the registry needs to know of projects (owned by core and the token service)."""

from __future__ import annotations

from services.common.db import Executor


async def exists(db: Executor, name: str) -> bool:
    found: bool = await db.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE name = $1)", name)
    return found
