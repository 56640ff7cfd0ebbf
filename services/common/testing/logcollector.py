"""A real `python -m services.log` process for tests and benchmarks."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from services.common.testing.plugin import free_port, start_service, stop_service


class LogCollectorProcess:
    def __init__(self, workdir: Path, **log_overrides: Any) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.location = workdir / "logs"
        self.port = free_port()
        self.stdout_path = workdir / "collector.out"
        self.config_path = workdir / "berth.yml"
        local = {"location": str(self.location), **log_overrides.pop("local", {})}
        collector = {"bind": "127.0.0.1", "port": self.port, "protocol": "none", **log_overrides.pop("collector", {})}
        config = {"log": {"level": "info", "format": "json", "local": local, "collector": collector, **log_overrides}}
        self.config_path.write_text(yaml.safe_dump(config))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> None:
        def ready() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        self._proc = start_service("services.log", self.config_path, self.stdout_path, ready)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self._proc is None:
            return 0
        code = stop_service(self._proc, sig)
        self._proc = None
        return code

    def lines(self, program: str) -> list[str]:
        """Every line of the program's files, oldest rotated file first."""
        base = self.location / f"{program}.log"
        rotated = sorted(self.location.glob(f"{program}.log.*"), key=lambda p: -int(p.suffix[1:]))
        out: list[str] = []
        for path in [*rotated, base]:
            if path.exists():
                out.extend(path.read_text(errors="replace").splitlines())
        return out

    def wait_for_lines(self, program: str, count: int, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines(program)
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def wait_for_text(self, program: str, needle: str, timeout: float = 20) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            found = next((line for line in self.lines(program) if needle in line), None)
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.02)
