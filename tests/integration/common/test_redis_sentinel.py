"""redis.sentinels: every service finds its Redis master through Redis Sentinel, as Harbor's external_redis
does, and keeps working after a failover. Real redis-server processes: a master, a replica, a sentinel."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from services.common.redis import RedisClient
from services.common.settings import RedisSettings, Settings, SettingsError, load_settings
from services.launcher.embedded import plan_backends
from services.launcher.preflight import PreflightError
from tests.harness.oci import push_image
from tests.harness.plugin import TEST_PROJECT, RegistryProcess, TestDatabase, free_port
from tests.harness.redis_sentinel import MASTER_SET, SentinelGroup
from tests.harness.token import TokenServiceProcess
from tests.harness.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path_factory.mktemp("sentinel")) as g:
        yield g


async def test_the_client_finds_the_master_and_follows_it_through_a_failover(group: SentinelGroup) -> None:
    settings = RedisSettings(
        url="redis://ignored.invalid:1/3",
        key_prefix="sentinel-test:",
        sentinels=group.sentinels,
        sentinel_master_set=MASTER_SET,
    )
    client = RedisClient(settings)
    await client.open()
    try:
        await client.client.set(client.key("before"), b"1")
        await client.client.xadd(client.key("events"), {"n": "1"})
        first = group.master()
        assert first == group.master_port
        with group.client(first, db=3) as master:
            assert master.get("sentinel-test:before") == b"1"

        group.failover()
        for _ in range(600):  # the sentinel promotes the replica within seconds; waited on, not slept for
            if group.master() not in (None, first):
                break
            await asyncio.sleep(0.1)
        second = group.master()
        assert second == group.replica_port
        # Writes the old master took before the sentinel demoted it are lost, as in any Redis failover; the
        # client is tested from there on.
        for _ in range(600):
            if group.role(first) == "slave":
                break
            await asyncio.sleep(0.1)

        # The same client, no restart: a write meets the demoted master (read-only) or a closed
        # connection once, then goes to the new master.
        async def write() -> bool:
            try:
                await client.client.set(client.key("after"), b"2")
                return True
            except (aioredis.ConnectionError, aioredis.ReadOnlyError, aioredis.TimeoutError):
                return False

        for _ in range(600):
            if await write():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("no write reached the new master within 60 s")
        with group.client(second, db=3) as master:
            assert master.get("sentinel-test:after") == b"2"
            assert master.get("sentinel-test:before") == b"1"  # replicated before the failover
            assert master.xlen("sentinel-test:events") == 1
    finally:
        await client.close()


def test_a_sentinel_address_that_is_not_host_port_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "berth.yml"
    config.write_text("redis:\n  sentinels: 'sentinel-1:26379,sentinel-2'\n")
    with pytest.raises(SettingsError, match=r"redis\.sentinels"):
        load_settings(config, environ={})


def test_a_registry_publishes_its_events_to_the_master_the_sentinel_names(
    group: SentinelGroup,
    module_database: TestDatabase,
    token_server: TokenServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prefix = f"sentinel-registry-{uuid.uuid4().hex[:8]}:"
    redis_section = {"url": "redis://ignored.invalid:1/0", "key_prefix": prefix, "sentinels": group.sentinels}
    registry = RegistryProcess(
        tmp_path_factory.mktemp("registry"),
        module_database,
        token=token_server,
        settings={"redis": {**redis_section, "sentinel_master_set": MASTER_SET}},
    )
    registry.start()
    try:
        with registry.client() as client:
            push_image(client, f"{TEST_PROJECT}/through-sentinel", "v1")

        def published() -> list[bytes]:
            master = group.master()
            assert master is not None
            with group.client(master) as c:
                return [k for k in c.keys(f"{prefix}*") if c.type(k) == b"stream" and c.xlen(k) > 0]

        eventually(published, "the registry's push event in a stream on the sentinel's master", deadline_s=60)
    finally:
        registry.stop()


def test_the_launcher_runs_no_redis_of_its_own_with_sentinels_and_refuses_dead_ones(group: SentinelGroup) -> None:
    with_sentinels = dataclasses.replace(
        Settings(), redis=RedisSettings(sentinels=group.sentinels, sentinel_master_set=MASTER_SET)
    )
    assert plan_backends(with_sentinels).embedded_redis is False
    dead = dataclasses.replace(Settings(), redis=RedisSettings(sentinels=f"127.0.0.1:{free_port()}"))
    with pytest.raises(PreflightError, match=r"redis\.sentinels"):
        plan_backends(dead)
