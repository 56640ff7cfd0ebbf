"""A real `python -m services.core` process for tests and benchmarks (the REST API on a free port)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.harness.plugin import REDIS_URL, ServiceProcess, TestDatabase, free_port, http_ready


class CoreProcess(ServiceProcess):
    """`python -m services.core` with its own berth.yml in `workdir`."""

    module = "services.core"
    output_name = "core.log"

    def __init__(
        self,
        workdir: Path,
        database: TestDatabase,
        *,
        admin_password: str = "Harbor12345",
        port: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.database = database
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.url}/api/v2.0"
        # Its own Redis keys (sessions), so processes and test runs never see each other's.
        self.redis_prefix = f"berth-test-core-{uuid.uuid4().hex[:8]}:"
        config: dict[str, Any] = {
            "admin_password": admin_password,
            "database": database.settings_dict(),
            "redis": {"url": REDIS_URL, "key_prefix": self.redis_prefix},
            "core": {"host": "127.0.0.1", "port": self.port},
            "secret_key_file": str(workdir / "secret" / "secretkey"),
            **(settings or {}),
        }
        self.write_config(config)

    def ready(self) -> bool:
        return http_ready(self.url + "/healthz", 200)()

    def client(self, auth: tuple[str, str] | None = None) -> httpx.Client:
        """A client of the REST API (base URL /api/v2.0), as `auth` or anonymous."""
        return httpx.Client(base_url=self.api, auth=auth, timeout=30)
