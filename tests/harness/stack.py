"""The whole stack for tests: `python -m services.launcher` with its own berth.yml on free ports.

    stack = StackProcess(tmp_path, database=pg_database)   # or database=None: embedded PostgreSQL
    stack.start()                                          # returns once the proxy answers /api/v2.0/health
    httpx.get(stack.url + "/api/v2.0/health")
    stack.stop()                                           # SIGTERM; returns the launcher's exit code

The launcher's stdout (the status lines) is in `stack.output_path`; each child's output in
`<data_volume>/run/<name>.out`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.harness.plugin import REDIS_URL, REPO_ROOT, TestDatabase, free_port, free_port_block

STATUS_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<state>\S+)\s+pid=(?P<pid>\S+)\s+restarts=(?P<restarts>\d+)")
ADMIN_PASSWORD = "Harbor12345"
# The most replicas of one service a test (or a bench) runs.
MAX_REPLICAS = 4


@contextlib.contextmanager
def fresh_stack(workdir: Path, settings: dict[str, Any] | None = None) -> Iterator[StackProcess]:
    """A started stack on a database of its own, stopped and dropped afterwards."""
    database = TestDatabase().create()
    proc = StackProcess(workdir, database=database, settings=settings)
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()
        database.drop()


class StackProcess:
    """The launcher and every service it supervises, as real processes."""

    def __init__(
        self,
        workdir: Path,
        *,
        database: TestDatabase | None,
        redis_url: str | None = REDIS_URL,
        data_volume: Path | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """`database=None` / `redis_url=None`: point at a free port, so the launcher starts its own."""
        self.workdir = workdir
        self.database = database
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_volume = data_volume or workdir / "data"
        self.config_path = workdir / "berth.yml"
        self.output_path = workdir / "launcher.out"
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        # Blocks for the services that may run replicas (replica i on port + i).
        self.ports = {name: free_port_block(MAX_REPLICAS) for name in ("registry", "token", "core")}
        self.ports |= {name: free_port() for name in ("jobservice", "collector")}
        db: dict[str, Any] = (
            database.settings_dict()
            if database is not None
            else {"host": "127.0.0.1", "port": free_port(), "username": "postgres", "name": "berth"}
        )
        redis = redis_url if redis_url is not None else f"redis://127.0.0.1:{free_port()}/0"
        dv = self.data_volume
        self.config: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "admin_password": ADMIN_PASSWORD,
            "data_volume": str(dv),
            "http": {"port": self.http_port},
            "database": db,
            "redis": {"url": redis, "key_prefix": f"berth-test-{uuid.uuid4().hex[:8]}:"},
            "storage": {"filesystem": {"rootdirectory": str(dv / "registry")}},
            "registry": {"host": "127.0.0.1", "port": self.ports["registry"]},
            "token": {
                "host": "127.0.0.1",
                "port": self.ports["token"],
                "private_key": str(dv / "secret" / "token" / "private_key.pem"),
                "certificate": str(dv / "secret" / "token" / "root.crt"),
            },
            "core": {"host": "127.0.0.1", "port": self.ports["core"]},
            "secret_key_file": str(dv / "secret" / "keys" / "secretkey"),
            "jobservice": {"host": "127.0.0.1", "port": self.ports["jobservice"]},
            "log": {
                "level": "info",
                "format": "json",
                "local": {"location": str(dv / "logs")},
                "collector": {"host": "127.0.0.1", "bind": "127.0.0.1", "port": self.ports["collector"]},
            },
        }
        _merge(self.config, settings or {})
        self._proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config))

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def launch(self) -> subprocess.Popen[bytes]:
        """Start the launcher without waiting (tests of refusals wait for its exit themselves)."""
        self.write_config()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        with self.output_path.open("ab") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "services.launcher", "--config", str(self.config_path)],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self._proc

    def start(self, timeout: float = 180) -> None:
        """Launch and return once the launcher reports the stack up and the proxy answers health."""
        proc = self.launch()
        deadline = time.monotonic() + timeout
        while not ("Berth is up" in self.output() and self.healthy()):
            if proc.poll() is not None:
                raise RuntimeError(f"the launcher exited with {proc.returncode}:\n{self.diagnostics()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the stack was not up within {timeout:.0f} s:\n{self.diagnostics()}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            response = httpx.get(self.url + "/api/v2.0/health", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json().get("status") == "healthy"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the launcher and wait for it; returns its exit code (SIGKILL after `timeout`)."""
        if self._proc is None:
            return 0
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def child_output(self, name: str) -> str:
        path = self.data_volume / "run" / f"{name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def status(self) -> dict[str, dict[str, str]]:
        """The latest status line of each service: {name: {state, pid, restarts}}."""
        latest: dict[str, dict[str, str]] = {}
        for line in self.output().splitlines():
            m = STATUS_LINE.match(line)
            if m:
                latest[m["name"]] = {"state": m["state"], "pid": m["pid"], "restarts": m["restarts"]}
        return latest

    def wait_status(self, name: str, timeout: float = 120, **expected: str) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            current = self.status().get(name, {})
            if all(current.get(k) == v for k, v in expected.items()):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} never reached {expected}; last {current}:\n{self.diagnostics()}")
            time.sleep(0.2)

    def logged(self, program: str) -> str:
        """What the collector wrote for `program` (empty while it has written nothing)."""
        path = Path(self.config["log"]["local"]["location"]) / f"{program}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_logged(self, program: str, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.logged(program)
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{needle!r} not in {program}.log after {timeout:.0f} s:\n{text[-2000:]}\n{self.diagnostics()}"
                )
            time.sleep(0.2)

    def diagnostics(self) -> str:
        parts = [f"--- launcher ---\n{self.output()[-4000:]}"]
        run = self.data_volume / "run"
        if run.is_dir():
            for path in sorted(run.glob("*.out")):
                parts.append(f"--- {path.name} (tail) ---\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc/<pid>/task/*/children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"
