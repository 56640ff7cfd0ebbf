"""A registry with storage.s3.encrypt: blobs pushed monolithically and in chunks are, at their digest path,
objects the object store (a real SeaweedFS) says it encrypted with SSE-S3, and pre-signed downloads still
serve their bytes (S3 decrypts)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import botocore.session
import httpx
import pytest

from services.common.oci.digest import parse_digest
from services.common.storage.paths import blob_path
from tests.harness.oci import digest_of, push_blob
from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.seaweedfs import SeaweedFSProcess
from tests.harness.token import TokenServiceProcess

pytestmark = pytest.mark.integration

MIB = 1 << 20


@pytest.fixture(scope="module", params=["s3"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def encrypting(
    seaweedfs: SeaweedFSProcess,
    s3_bucket: str,
    module_database: TestDatabase,
    token_server: TokenServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistryProcess]:
    storage = seaweedfs.storage_config(s3_bucket, encrypt=True, chunksize=5 * MIB, redirect=True)
    proc = RegistryProcess(tmp_path_factory.mktemp("sse"), module_database, token=token_server, storage=storage)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def s3(seaweedfs: SeaweedFSProcess) -> Iterator[Any]:
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=seaweedfs.endpoint,
        region_name=seaweedfs.region,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
    )
    yield client
    client.close()


def push_in_chunks(client: httpx.Client, repo: str, data: bytes, chunk: int) -> str:
    """POST, PATCH after PATCH, then PUT ?digest=: several writes, so the upload is segments until the PUT."""
    digest = digest_of(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        r = client.patch(
            location,
            content=piece,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(piece) - 1}",
            },
        )
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
    r = client.put(location + ("&" if "?" in location else "?") + f"digest={digest}")
    assert r.status_code == 201, r.text
    return digest


def assert_encrypted_and_served(client: httpx.Client, s3: Any, bucket: str, repo: str, digest: str) -> None:
    head = s3.head_object(Bucket=bucket, Key=blob_path(parse_digest(digest)))
    assert head["ServerSideEncryption"] == "AES256"
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 307, r.text
    fetched = httpx.get(r.headers["Location"])
    assert fetched.status_code == 200
    assert f"sha256:{hashlib.sha256(fetched.content).hexdigest()}" == digest


def test_a_monolithic_push_is_stored_encrypted(
    encrypting: RegistryProcess, s3: Any, s3_bucket: str, repo_name: str
) -> None:
    with encrypting.client() as client:
        digest = push_blob(client, repo_name, os.urandom(MIB + 5))
        assert_encrypted_and_served(client, s3, s3_bucket, repo_name, digest)


def test_a_chunked_push_is_stored_encrypted(
    encrypting: RegistryProcess, s3: Any, s3_bucket: str, repo_name: str
) -> None:
    # Chunks smaller than S3's 5 MiB part: the finishing move joins them into parts of at least that size.
    data = os.urandom(13 * MIB + 7)
    with encrypting.client() as client:
        digest = push_in_chunks(client, repo_name, data, 3 * MIB)
        assert_encrypted_and_served(client, s3, s3_bucket, repo_name, digest)
