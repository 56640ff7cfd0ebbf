"""The jobservice as a real process for tests: its own berth.yml, its own Redis key prefix."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.harness.core import CoreProcess
from tests.harness.plugin import REDIS_URL, ServiceProcess, TestDatabase, free_port, http_ready


class JobserviceProcess(ServiceProcess):
    module = "services.jobservice"
    output_name = "jobservice.log"

    def __init__(
        self,
        workdir: Path,
        database: TestDatabase,
        *,
        redis_prefix: str | None = None,
        storage_root: Path | None = None,
        storage: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        **jobservice: Any,
    ):
        """`storage`: berth.yml's storage section (the registry's, e.g. S3); else `storage_root`.
        `settings`: more top-level sections (metric, ...)."""
        super().__init__(workdir)
        self.database = database
        self.port = free_port()
        self.redis_prefix = redis_prefix or f"berth-test-js-{uuid.uuid4().hex[:8]}:"
        self.write_config(
            {
                "database": database.settings_dict(),
                "redis": {"url": REDIS_URL, "key_prefix": self.redis_prefix},
                "jobservice": {"host": "127.0.0.1", "port": self.port, **jobservice},
                # The registry's blobs, which garbage collection deletes.
                "storage": storage or {"filesystem": {"rootdirectory": str(storage_root or workdir / "storage")}},
                **(settings or {}),
            }
        )

    def ready(self) -> bool:
        return http_ready(f"http://127.0.0.1:{self.port}/healthz", 200)()


@contextlib.contextmanager
def core_with_jobservice(workdir: Path, database: TestDatabase, **jobservice: Any) -> Iterator[CoreProcess]:
    """Core and a jobservice on one database and Redis prefix: what core submits, the jobservice runs."""
    core = CoreProcess(workdir / "core", database)
    core.start()
    try:
        process = JobserviceProcess(workdir / "jobservice", database, redis_prefix=core.redis_prefix, **jobservice)
        process.start()
        try:
            yield core
        finally:
            process.stop()
    finally:
        core.stop()
