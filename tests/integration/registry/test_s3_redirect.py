"""Blob downloads with storage.s3.redirect: the registry authorizes, then sends the client to a short-lived
pre-signed URL of the object store (a real SeaweedFS), which serves the bytes and ranges itself."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.harness.oci import push_blob
from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.token import TokenServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["s3"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # redirects exist only where a driver has download URLs


@pytest.fixture(scope="module")
def redirecting(
    request: pytest.FixtureRequest,
    module_database: TestDatabase,
    token_server: TokenServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistryProcess]:
    seaweedfs = request.getfixturevalue("seaweedfs")
    storage = seaweedfs.storage_config(request.getfixturevalue("s3_bucket"), redirect=True, redirect_expiry_seconds=120)
    proc = RegistryProcess(tmp_path_factory.mktemp("redirect"), module_database, token=token_server, storage=storage)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_a_blob_get_redirects_to_a_presigned_url_that_serves_it(redirecting: RegistryProcess, repo_name: str) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    with redirecting.client() as client:
        digest = push_blob(client, repo_name, data)
        r = client.get(f"/v2/{repo_name}/blobs/{digest}")
        assert r.status_code == 307
        assert r.headers["Docker-Content-Digest"] == digest
        location = r.headers["Location"]
        assert "X-Amz-Expires=120" in location
        # What a client does: follow it, without the registry's credentials.
        fetched = httpx.get(location)
        assert fetched.status_code == 200
        assert hashlib.sha256(fetched.content).hexdigest() == digest.split(":")[1]
        ranged = httpx.get(location, headers={"Range": "bytes=10-19"})
        assert (ranged.status_code, ranged.content) == (206, data[10:20])
        # HEAD is answered by the registry itself, from its rows.
        head = client.head(f"/v2/{repo_name}/blobs/{digest}")
        assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(data)))
        # Authorization still comes first: another repository gets no URL.
        other = client.get(f"/v2/{repo_name}-other/blobs/{digest}")
        assert other.status_code == 404
        assert "Location" not in other.headers


def test_a_tampered_presigned_url_is_refused_by_the_object_store(redirecting: RegistryProcess, repo_name: str) -> None:
    with redirecting.client() as client:
        digest = push_blob(client, repo_name, b"signed bytes")
        location = client.get(f"/v2/{repo_name}/blobs/{digest}").headers["Location"]
    tampered = location.replace("X-Amz-Expires=120", "X-Amz-Expires=121")
    assert httpx.get(tampered).status_code == 403
