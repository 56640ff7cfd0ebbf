from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.plugin import RegistryProcess, TestDatabase, fresh_database
from tests.harness.token import TokenServiceProcess
from tests.integration.registry.helpers import assert_api_version


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    """The distribution API's tests run on each storage driver: the filesystem, and S3 (a real SeaweedFS,
    a bucket per module), where nothing but the registry process stands between the client and S3, so
    blob GETs stream through the registry."""
    return str(request.param)


@pytest.fixture(scope="module")
def module_database(storage_kind: str) -> Iterator[TestDatabase]:
    # One per driver: the rows of blobs one driver holds would tell the other's registry it has their bytes.
    with fresh_database() as db:
        yield db


@pytest.fixture(scope="module")
def registry_server(
    request: pytest.FixtureRequest,
    storage_kind: str,
    module_database: TestDatabase,
    token_server: TokenServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistryProcess]:
    storage = None
    if storage_kind == "s3":
        seaweedfs = request.getfixturevalue("seaweedfs")
        storage = seaweedfs.storage_config(request.getfixturevalue("s3_bucket"), chunksize=5 << 20)
    proc = RegistryProcess(tmp_path_factory.mktemp("registry"), module_database, token=token_server, storage=storage)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(autouse=True)
def _api_version_on_every_response(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every answer of the distribution API carries `Docker-Distribution-API-Version: registry/2.0`."""
    if "registry" not in request.fixturenames:
        yield
        return
    client = request.getfixturevalue("registry")
    client.event_hooks["response"].append(assert_api_version)
    yield
    client.event_hooks["response"].remove(assert_api_version)
