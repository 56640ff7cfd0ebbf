"""A real `python -m services.log` process for tests and benchmarks."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from tests.harness.plugin import ServiceProcess, free_port


class LogCollectorProcess(ServiceProcess):
    module = "services.log"
    output_name = "collector.out"

    def __init__(self, workdir: Path, **log_overrides: Any) -> None:
        super().__init__(workdir)
        self.stdout_path = self.log_path
        self.location = workdir / "logs"
        self.port = free_port()
        local = {"location": str(self.location), **log_overrides.pop("local", {})}
        collector = {"bind": "127.0.0.1", "port": self.port, "protocol": "none", **log_overrides.pop("collector", {})}
        self.write_config(
            {"log": {"level": "info", "format": "json", "local": local, "collector": collector, **log_overrides}}
        )

    def ready(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

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
