"""Blob downloads through real nginx: the registry authorizes, nginx streams the file (X-Accel-Redirect)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from services.common.settings import (
    FilesystemStorageSettings,
    HttpSettings,
    LogCollectorSettings,
    LogSettings,
    RegistrySettings,
    S3StorageSettings,
    Settings,
    StorageSettings,
)
from services.proxy.prepare import prepare_proxy
from services.proxy.render import Upstreams
from tests.harness.oci import push_blob, push_image
from tests.harness.plugin import RegistryProcess, TestDatabase, free_port
from tests.harness.token import TokenServiceProcess

pytestmark = pytest.mark.integration

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(scope="module")
def proxied(
    request: pytest.FixtureRequest,
    storage_kind: str,
    module_database: TestDatabase,
    token_server: TokenServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RegistryProcess, str]]:
    """The registry behind real nginx, on each driver: nginx sends the file (filesystem) or fetches the
    object from S3 and streams it (a real SeaweedFS)."""
    workdir = tmp_path_factory.mktemp("accel")
    storage_config = None
    s3 = S3StorageSettings()
    if storage_kind == "s3":
        seaweedfs, bucket = request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket")
        storage_config, s3 = seaweedfs.storage_config(bucket), seaweedfs.settings(bucket)
    registry = RegistryProcess(
        workdir,
        module_database,
        token=token_server,
        storage=storage_config,
        accel_redirect=True,
        accel_prefix="/_blobs/",
    )
    registry.storage_root.mkdir(parents=True, exist_ok=True)
    registry.start()
    port = free_port()
    # The proxy's own configuration (services.proxy), with only the registry behind it.
    files = prepare_proxy(
        Settings(
            data_volume=str(workdir),
            http=HttpSettings(port=port),
            storage=StorageSettings(
                filesystem=FilesystemStorageSettings(rootdirectory=str(registry.storage_root)), s3=s3
            ),
            registry=RegistrySettings(accel_redirect=True, accel_prefix="/_blobs/"),
            log=LogSettings(collector=LogCollectorSettings(protocol="none")),
        ),
        Upstreams(
            registry=f"127.0.0.1:{registry.port}",
            token=f"127.0.0.1:{token_server.port}",
            core=f"127.0.0.1:{free_port()}",
            log_collector="127.0.0.1:1",
        ),
    )
    proc = subprocess.Popen(files.command(NGINX))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(url + "/v2/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(files.error_log.read_text()) from None
                time.sleep(0.05)
        yield registry, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        registry.stop()


@pytest.fixture
def client(proxied: tuple[RegistryProcess, str]) -> Iterator[httpx.Client]:
    registry, url = proxied
    with registry.client(url) as c:
        yield c


def test_blob_bytes_come_from_nginx_with_digest_header(client: httpx.Client, repo_name: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = push_blob(client, repo_name, data)

    r = client.get(f"/v2/{repo_name}/blobs/{digest}")

    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == digest
    assert int(r.headers["Content-Length"]) == len(data)
    assert hashlib.sha256(r.content).hexdigest() == digest.split(":")[1]
    # The registry answered with a redirect inside nginx: the client never sees it.
    assert "X-Accel-Redirect" not in r.headers
    assert r.headers.get_list("Accept-Ranges") == ["bytes"]
    # The request id the registry logged travels back to the client through the internal redirect.
    assert r.headers["X-Request-Id"]


def test_range_through_nginx(client: httpx.Client, repo_name: str) -> None:
    data = os.urandom(100_000)
    digest = push_blob(client, repo_name, data)

    r = client.get(f"/v2/{repo_name}/blobs/{digest}", headers={"Range": "bytes=1000-1999"})

    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert r.content == data[1000:2000]


def test_access_is_still_checked_by_the_registry(client: httpx.Client, storage_kind: str, repo_name: str) -> None:
    """A blob held by another repository is refused: nginx serves only what the registry authorized."""
    digest = push_blob(client, repo_name, b"owned by one repository")

    r = client.get(f"/v2/{repo_name}-other/blobs/{digest}")

    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    # The internal location is not reachable from outside.
    assert client.get("/_blobs/blobs/").status_code == 404
    if storage_kind == "s3":
        assert client.get(f"/_blobs_s3/{digest}/bucket/blobs").status_code == 404


def test_the_registry_itself_answers_with_the_internal_redirect_only(
    proxied: tuple[RegistryProcess, str], storage_kind: str, repo_name: str
) -> None:
    """Python never carries the bytes: asked directly, the registry names where nginx gets them."""
    registry, url = proxied
    with registry.client(url) as through_nginx:
        digest = push_blob(through_nginx, repo_name, os.urandom(1000))
    with registry.client() as direct:
        r = direct.get(f"/v2/{repo_name}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == b""
    target = r.headers["X-Accel-Redirect"]
    if storage_kind == "s3":
        assert target.startswith(f"/_blobs_s3/{digest}/")
        assert "X-Amz-Signature=" in target
    else:
        assert target == f"/_blobs/blobs/sha256/{digest[7:9]}/{digest[7:]}/data"


def test_manifest_and_head_pass_through(client: httpx.Client, repo_name: str) -> None:
    manifest, digest = push_image(client, repo_name, "v1")

    r = client.get(f"/v2/{repo_name}/manifests/v1")
    assert r.status_code == 200
    assert r.content == manifest
    assert r.headers["Docker-Content-Digest"] == digest
    head = client.head(f"/v2/{repo_name}/blobs/{push_blob(client, repo_name, b'abc')}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "3"
