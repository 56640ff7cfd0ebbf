"""database.read_replica: core's uncached list APIs read from a streaming-replication standby, everything
else from the primary. Real PostgreSQL processes: a primary and its standby (tests.harness.pg_replica);
the standby's replay is paused to tell which of the two answered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from tests.harness.pg_replica import PrimaryDatabase, ReplicatedPostgres
from tests.harness.waiting import eventually
from tests.integration.core.registry_stack import Stack, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, ReplicatedPostgres]]:
    with ReplicatedPostgres() as servers:
        database = PrimaryDatabase(servers).create()
        try:
            core_database = {**database.settings_dict(), "read_replica": f"127.0.0.1:{servers.standby_port}"}
            with running_stack(database, tmp_path_factory, core_settings={"database": core_database}) as stack:
                yield stack, servers
        finally:
            database.drop()


def standby(servers: ReplicatedPostgres, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=servers.standby_port, user="postgres", database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def listed(stack: Stack, name: str) -> bool:
    with stack.api() as api:
        r = api.get("/projects", params={"name": name})
        assert r.status_code == 200, r.text
        return any(p["name"] == name for p in r.json())


def test_lists_come_from_the_standby_and_the_rest_from_the_primary(
    replicated: tuple[Stack, ReplicatedPostgres],
) -> None:
    stack, servers = replicated
    with stack.api() as api:
        assert api.post("/projects", json={"project_name": "before-pause"}).status_code == 201
    eventually(lambda: listed(stack, "before-pause"), "the standby replaying the first project", deadline_s=60)
    standby(servers, "SELECT pg_wal_replay_pause()")
    try:
        with stack.api() as api:
            assert api.post("/projects", json={"project_name": "while-paused"}).status_code == 201
            # One project by name reads the primary: there at once.
            assert api.get("/projects/while-paused").status_code == 200
            # The list reads the standby, whose replay is paused: not there yet.
            assert not listed(stack, "while-paused")
            repositories = api.get("/repositories")
            assert repositories.status_code == 200, repositories.text
    finally:
        standby(servers, "SELECT pg_wal_replay_resume()")
    eventually(lambda: listed(stack, "while-paused"), "the list showing the project once replay resumed", 60)
