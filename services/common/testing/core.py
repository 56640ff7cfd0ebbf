"""A real `python -m services.core` process for tests and benchmarks (the REST API on a free port)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.common.testing.plugin import REDIS_URL, TestDatabase, free_port, start_service, stop_service


class CoreProcess:
    """`python -m services.core` with its own berth.yml in `workdir`."""

    def __init__(
        self,
        workdir: Path,
        database: TestDatabase,
        *,
        admin_password: str = "Harbor12345",
        port: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.database = database
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.url}/api/v2.0"
        self.log_path = workdir / "core.log"
        self.config_path = workdir / "berth.yml"
        config: dict[str, Any] = {
            "admin_password": admin_password,
            "database": database.settings_dict(),
            "redis": {"url": REDIS_URL},
            "core": {"host": "127.0.0.1", "port": self.port},
            # Tests read the service's stdout; the log collector's own tests turn shipping on.
            "log": {"level": "info", "format": "json", "collector": {"protocol": "none"}},
            **(settings or {}),
        }
        self.config_path.write_text(yaml.safe_dump(config))
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        def ready() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self._proc = start_service("services.core", self.config_path, self.log_path, ready)

    def stop(self, *, kill: bool = False) -> int:
        if self._proc is None:
            return 0
        code = stop_service(self._proc, signal.SIGKILL if kill else signal.SIGTERM)
        self._proc = None
        return code

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def client(self, auth: tuple[str, str] | None = None) -> httpx.Client:
        """A client of the REST API (base URL /api/v2.0), as `auth` or anonymous."""
        return httpx.Client(base_url=self.api, auth=auth, timeout=30)
