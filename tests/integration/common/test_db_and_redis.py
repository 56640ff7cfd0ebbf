"""The shared database and Redis layers against the real servers."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.common.db import Database, DatabaseUnavailable
from services.common.migrations import apply_migrations, migration_files
from services.common.redis import RedisClient
from services.common.settings import DatabaseSettings, RedisSettings
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, REDIS_URL, TestDatabase

pytestmark = pytest.mark.integration


async def test_concurrent_starts_apply_each_migration_once(pg_database: TestDatabase) -> None:
    """Several services starting together: the advisory lock lets one migrate, the others find it done."""
    conns = [await asyncpg.connect(pg_database.dsn()) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(apply_migrations(c) for c in conns))
        names = [name for name, _ in migration_files()]
        assert sorted(n for result in applied for n in result) == names
        rows = await conns[0].fetch("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == names
        assert await apply_migrations(conns[0]) == []
    finally:
        for c in conns:
            await c.close()


async def test_database_opens_migrates_and_runs_transactions(pg_database: TestDatabase) -> None:
    db = Database(DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=pg_database.name))
    await db.open()
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO repositories (name) VALUES ('rolled/back')")
                raise RuntimeError("abort")
        assert await db.pool.fetchval("SELECT count(*) FROM repositories") == 0
    finally:
        await db.close()


async def test_unreachable_database_is_one_clear_error() -> None:
    db = Database(DatabaseSettings(host="127.0.0.1", port=1, name="nowhere", connect_timeout=2))
    with pytest.raises(DatabaseUnavailable) as err:
        await db.open()
    message = str(err.value)
    assert "127.0.0.1:1" in message
    assert "database.port" in message


async def test_redis_keys_carry_the_prefix() -> None:
    prefix = f"berth-test-{uuid.uuid4().hex[:8]}:"
    client = RedisClient(RedisSettings(url=REDIS_URL, key_prefix=prefix))
    await client.open()
    try:
        key = client.key("uploads", "x")
        assert key == f"{prefix}uploads:x"
        await client.client.set(key, b"1")
        assert await client.client.get(key) == b"1"
    finally:
        await client.client.delete(client.key("uploads", "x"))
        await client.close()
