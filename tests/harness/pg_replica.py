"""A PostgreSQL primary and a streaming-replication standby of it, each a real `postgres` of Debian's
packages on free ports, run as the `postgres` user (it refuses root) with data under the test's directory,
for the tests of `database.read_replica`."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from services.launcher.embedded import find_program
from tests.harness.plugin import TestDatabase, free_port, stop_service
from tests.harness.waiting import eventually

START_DEADLINE_S = 120.0
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"


def _program(name: str) -> str:
    found = find_program(name)
    if found is None:
        raise RuntimeError(f"{name} not found: apt-get install postgresql")
    return found


class ReplicatedPostgres:
    def __init__(self) -> None:
        # Under /tmp itself: the `postgres` user cannot traverse pytest's private directories.
        self.workdir = Path(tempfile.mkdtemp(prefix="berth-pg-replica-"))
        self.primary_port = free_port()
        self.standby_port = free_port()
        self._procs: list[subprocess.Popen[bytes]] = []
        account = pwd.getpwnam("postgres")
        self._uid, self._gid = account.pw_uid, account.pw_gid

    def _as_postgres(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv]

    def _run(self, *argv: str) -> None:
        proc = subprocess.run(self._as_postgres(*argv), capture_output=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.decode(errors='replace')}")

    def _serve(self, name: str, data: Path, port: int) -> None:
        argv = [_program("postgres"), "-D", str(data), "-p", str(port), "-k", str(self.workdir), "-h", "127.0.0.1"]
        with (self.workdir / f"{name}.log").open("ab") as out:
            self._procs.append(subprocess.Popen(self._as_postgres(*argv), stdout=out, stderr=out))
        eventually(lambda: self._answers(port), f"PostgreSQL {name} on {port}", START_DEADLINE_S, poll_s=0.2)

    def start(self) -> None:
        os.chown(self.workdir, self._uid, self._gid)
        primary, standby = self.workdir / "primary", self.workdir / "standby"
        self._run(_program("initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        (primary / "pg_hba.conf").write_text(HBA)
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 5\nfsync = off\n")
        self._serve("primary", primary, self.primary_port)
        # -R writes standby.signal and primary_conninfo: the copy starts as a streaming standby.
        self._run(
            _program("pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "-D",
            str(standby),
            "-R",
            "-X",
            "stream",
        )
        self._serve("standby", standby, self.standby_port)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            stop_service(proc)
        self._procs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ReplicatedPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answers(self, port: int) -> bool:
        proc = subprocess.run(
            [_program("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], capture_output=True, check=False
        )
        return proc.returncode == 0

    async def in_recovery(self, port: int) -> bool:
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
        try:
            return bool(await conn.fetchval("SELECT pg_is_in_recovery()"))
        finally:
            await conn.close()


class PrimaryDatabase(TestDatabase):
    """A test database on the replicated primary (the standby follows it)."""

    def __init__(self, servers: ReplicatedPostgres) -> None:
        super().__init__()
        self.servers = servers

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.servers.primary_port, user="postgres", database="postgres"
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create(self) -> PrimaryDatabase:
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        return self

    def drop(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def settings_dict(self) -> dict[str, object]:
        return {**super().settings_dict(), "port": self.servers.primary_port}

    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.servers.primary_port}/{self.name}"
