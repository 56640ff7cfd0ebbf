"""A Redis master, a replica and a Sentinel watching them, each a real `redis-server` on free ports, for
the tests of `redis.sentinels` (failover included)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from tests.harness.plugin import free_port, stop_service
from tests.harness.waiting import eventually

REDIS_SERVER = "/usr/bin/redis-server"
MASTER_SET = "berthmaster"
START_DEADLINE_S = 60.0


class SentinelGroup:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.master_port = free_port()
        self.replica_port = free_port()
        self.sentinel_port = free_port()
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def sentinels(self) -> str:
        return f"127.0.0.1:{self.sentinel_port}"

    def _start(self, name: str, args: list[str]) -> None:
        with (self.workdir / f"{name}.log").open("ab") as out:
            self._procs.append(subprocess.Popen([REDIS_SERVER, *args], cwd=self.workdir, stdout=out, stderr=out))

    def start(self) -> None:
        no_disk = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
        self._start("master", ["--port", str(self.master_port), *no_disk])
        self._start(
            "replica", ["--port", str(self.replica_port), "--replicaof", "127.0.0.1", str(self.master_port), *no_disk]
        )
        eventually(
            lambda: self._role(self.replica_port) == "slave" and self._linked(), "the replica in sync", START_DEADLINE_S
        )
        # Sentinel rewrites its configuration file as it learns: one of its own, writable.
        conf = self.workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor {MASTER_SET} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_SET} 1000\n"
            f"sentinel failover-timeout {MASTER_SET} 10000\n"
        )
        self._start("sentinel", [str(conf), "--sentinel"])
        eventually(lambda: self.master() == self.master_port, "the sentinel naming the master", START_DEADLINE_S)
        eventually(self._knows_replica, "the sentinel knowing the replica", START_DEADLINE_S)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            stop_service(proc)
        self._procs.clear()

    def __enter__(self) -> SentinelGroup:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def master(self) -> int | None:
        """The port of the master the sentinel names now."""
        try:
            with redis.Redis(port=self.sentinel_port, socket_timeout=2) as client:
                found = client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_SET)
        except redis.RedisError:
            return None
        return int(found[1]) if found else None

    def failover(self) -> None:
        """Asks the sentinel to fail over; it refuses (NOGOODSLAVE) until its last look at the replica is
        recent enough, which on a busy machine may take a while: asked again until it accepts."""

        def accepted() -> bool:
            with redis.Redis(port=self.sentinel_port, socket_timeout=5) as client:
                try:
                    client.execute_command("SENTINEL", "FAILOVER", MASTER_SET)
                except redis.ResponseError as exc:
                    if "NOGOODSLAVE" in str(exc):
                        return False
                    raise
            return True

        eventually(accepted, "the sentinel accepting a failover", START_DEADLINE_S, poll_s=0.5)

    def client(self, port: int, db: int = 0) -> redis.Redis:
        return redis.Redis(port=port, db=db, socket_timeout=5)

    def role(self, port: int) -> str | None:
        """ "master" or "slave", as the server at `port` says now."""
        return self._role(port)

    def _role(self, port: int) -> str | None:
        try:
            with self.client(port) as client:
                return str(client.info("replication")["role"])
        except redis.RedisError:
            return None

    def _linked(self) -> bool:
        with self.client(self.replica_port) as client:
            return client.info("replication").get("master_link_status") == "up"

    def _knows_replica(self) -> bool:
        with redis.Redis(port=self.sentinel_port, socket_timeout=2) as client:
            return bool(client.execute_command("SENTINEL", "replicas", MASTER_SET))
