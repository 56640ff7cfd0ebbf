"""SQL migrations in `migrations/NNNN_name.sql`, applied in order at start under an advisory lock.

Several processes may start at once (registry, core, jobservice, replicas): the lock makes exactly one
apply each migration while the others wait and then find it recorded.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

# Any fixed 64-bit number, unique to Berth's migrations.
MIGRATION_LOCK_ID = 0x6265727468_01


def migration_files() -> list[tuple[str, str]]:
    root = resources.files("services.common") / "migrations"
    files = sorted((p.name, p.read_text()) for p in root.iterdir() if p.name.endswith(".sql"))
    return files


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied
