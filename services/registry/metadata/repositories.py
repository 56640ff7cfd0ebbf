"""SQL: repositories and the catalog."""

from __future__ import annotations

from services.common.db import Executor


async def find_id(db: Executor, name: str) -> int | None:
    value: int | None = await db.fetchval("SELECT id FROM repositories WHERE name = $1", name)
    return value


async def page(db: Executor, last: str, limit: int) -> list[str]:
    rows = await db.fetch("SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2", last, limit)
    return [r["name"] for r in rows]
