"""Token + registry + core processes sharing one database and one Redis prefix (so core's audit log
consumes what both write), for the repository and artifact API tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.jobservice import JobserviceProcess
from tests.harness.plugin import REDIS_URL, RegistryProcess, TestDatabase
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.seaweedfs import SeaweedFSProcess
from tests.harness.token import TokenServiceProcess, query
from tests.harness.waiting import eventually

ADMIN = ("admin", "Harbor12345")


@dataclass
class Stack:
    db: TestDatabase
    token: TokenServiceProcess
    registry: RegistryProcess
    core: CoreProcess
    # Where the blobs are when not in the registry's directory: a SeaweedFS and the bucket.
    s3: SeaweedFSProcess | None = None
    s3_bucket: str = ""

    def blob_stored(self, digest: str) -> bool:
        """Whether the blob's bytes are in storage (its file, or its S3 object)."""
        algorithm, hexpart = digest.split(":")
        path = f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}/data"
        if self.s3 is not None:
            return self.s3.has_object(self.s3_bucket, path)
        return (self.registry.storage_root / path).exists()

    def registry_client(self, user: str, password: str) -> httpx.Client:
        auth = RegistryTokenAuth(f"{self.token.url}/service/token", "berth-registry", (user, password))
        return httpx.Client(base_url=self.registry.url, timeout=60, auth=auth)

    def api(self, auth: tuple[str, str] | None = ADMIN) -> httpx.Client:
        return self.core.client(auth)


@contextmanager
def running_stack(
    database: TestDatabase,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    core_settings: dict[str, Any] | None = None,
    shared_settings: dict[str, Any] | None = None,
    **registry_overrides: object,
) -> Iterator[Stack]:
    """`core_settings`: more top-level keys of core's berth.yml (audit_log_forward_endpoint, ...);
    `shared_settings`: of every process's (metric, ...)."""
    token = TokenServiceProcess(tmp_path_factory.mktemp("token"), database, settings=shared_settings)
    token.start()
    registry = RegistryProcess(
        tmp_path_factory.mktemp("registry"), database, token=token, settings=shared_settings, **registry_overrides
    )
    core: CoreProcess | None = None
    try:
        registry.start()
        core = CoreProcess(
            tmp_path_factory.mktemp("core"),
            database,
            settings={
                "redis": {"url": REDIS_URL, "key_prefix": registry.redis_prefix},
                **(shared_settings or {}),
                **(core_settings or {}),
            },
        )
        core.start()
        yield Stack(database, token, registry, core)
    finally:
        if core is not None:
            core.stop()
        registry.stop()
        token.stop()


@contextmanager
def running_stack_with_jobservice(
    database: TestDatabase,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    s3: tuple[SeaweedFSProcess, str] | None = None,
    shared_settings: dict[str, Any] | None = None,
) -> Iterator[Stack]:
    """The stack and a jobservice on its database, Redis prefix and storage: what core submits (GC, retention)
    the jobservice runs against the registry's blobs. `s3`: a SeaweedFS and a bucket to keep them in."""
    storage = s3[0].storage_config(s3[1]) if s3 is not None else None
    with running_stack(database, tmp_path_factory, shared_settings=shared_settings, storage=storage) as stack:
        if s3 is not None:
            stack.s3, stack.s3_bucket = s3
        jobservice = JobserviceProcess(
            tmp_path_factory.mktemp("jobservice"),
            database,
            redis_prefix=stack.registry.redis_prefix,
            storage_root=stack.registry.storage_root,
            storage=storage,
            settings=shared_settings,
        )
        jobservice.start()
        try:
            yield stack
        finally:
            jobservice.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Waits for an asynchronous pipeline to settle (it fails only if it never does)."""
    return eventually(check, what, deadline_s=timeout, poll_s=0.2)


def audit(db: TestDatabase, resource_like: str) -> set[tuple[str, str, str, str]]:
    rows = query(
        db,
        "SELECT operation, resource_type, resource, username FROM audit_log WHERE resource LIKE $1 ORDER BY id",
        resource_like,
    )
    return {(r["operation"], r["resource_type"], r["resource"], r["username"]) for r in rows}


def assert_error(response: httpx.Response, status: int) -> None:
    """Harbor's envelope: {"errors": [{"code", "message"}]}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["errors"], list) and body["errors"][0]["code"] and body["errors"][0]["message"]
