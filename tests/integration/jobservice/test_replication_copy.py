"""The copy engine of replication (services/jobservice/replication/copier.py) between real registries: CNCF
Distributions (an open source; a destination with htpasswd users), a Berth registry (the source with the
referrers API; a destination that says where a cut upload stands), a source the test serves itself with a
blob that does not match its digest, and a TCP proxy that cuts one connection once in the middle of a
large blob. What was copied is pulled back from the destination and compared byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.common.oci import mediatypes as mt
from services.common.remote.client import RemoteEndpoint, RemoteRegistry
from services.common.secret import Secret
from services.jobservice.replication.copier import (
    CopyError,
    CopyResult,
    RemoteDestination,
    RemoteSource,
    copy_artifact,
)
from tests.harness import oci
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of
from tests.harness.plugin import TEST_PROJECT, RegistryProcess
from tests.integration.common import test_remote_registry as remote_client_tests
from tests.integration.common.test_remote_registry import TIMEOUT_S, USERS, _admin

pytestmark = pytest.mark.integration

MiB = 1 << 20
# A blob large enough to be cut in its middle, and where the proxy cuts it.
LARGE_BYTES = 8 * MiB
CUT_AFTER_BYTES = 3 * MiB + 12345
CONFIG = b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}'


# The remote client's tests' Distributions are this module's too (module-scoped, one each here): the open
# one is the source, the one with USERS the destination.
open_distribution = remote_client_tests.open_distribution
htpasswd_distribution = remote_client_tests.htpasswd_distribution


@dataclass(frozen=True)
class Registries:
    """The two Distributions, and a session with each as the copy engine sees them."""

    source_registry: DistributionProcess
    destination_registry: DistributionProcess
    source: RemoteSource
    destination: RemoteDestination


@pytest.fixture
async def env(
    open_distribution: DistributionProcess, htpasswd_distribution: DistributionProcess
) -> AsyncIterator[Registries]:
    async with (
        RemoteRegistry(RemoteEndpoint(open_distribution.url), timeout=TIMEOUT_S) as source,
        RemoteRegistry(_replicator(htpasswd_distribution.url), timeout=TIMEOUT_S) as destination,
    ):
        yield Registries(open_distribution, htpasswd_distribution, RemoteSource(source), RemoteDestination(destination))


def _replicator(url: str) -> RemoteEndpoint:
    ((user, password),) = USERS.items()
    return RemoteEndpoint(url, username=user, password=Secret(password))


def _name(prefix: str = "library") -> str:
    return f"{prefix}/copy-{uuid.uuid4().hex[:10]}"


def _client(registry: DistributionProcess) -> httpx.Client:
    # The replicator's credentials go to the open source too, which pays them no heed.
    ((user, password),) = USERS.items()
    return httpx.Client(base_url=registry.url, timeout=60, auth=(user, password))


def _push(registry: DistributionProcess, repo: str, tag: str, layers: list[bytes]) -> tuple[bytes, str]:
    """An image (CONFIG and `layers`) pushed as `repo:tag`: each blob as Docker pushes it to Distribution,
    which takes no single-POST upload (POST, then PUT ?digest= with the bytes)."""
    with _client(registry) as client:
        for blob in [CONFIG, *layers]:
            started = client.post(f"/v2/{repo}/blobs/uploads/")
            assert started.status_code == 202, started.text
            # Appended, not `params=`: httpx would drop the Location's own query (Distribution's _state).
            location = f"{started.headers['Location']}&digest={digest_of(blob)}"
            r = client.put(location, content=blob, headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 201, r.text
        manifest = oci.image_manifest(CONFIG, layers)
        r = oci.push_manifest(client, repo, tag, manifest, mt.OCI_MANIFEST)
        assert r.status_code == 201, r.text
    return manifest, digest_of(manifest)


async def _copy(
    source: RemoteSource,
    src_repo: str,
    reference: str,
    destination: RemoteDestination,
    dst_repo: str,
    tags: list[str],
    **options: Any,
) -> tuple[CopyResult, list[str]]:
    """copy_artifact with override off unless said, and the lines it logged."""
    lines: list[str] = []

    async def log(line: str) -> None:
        lines.append(line)

    options.setdefault("override", False)
    result = await copy_artifact(source, src_repo, reference, destination, dst_repo, tags, log=log, **options)
    return result, lines


def _manifest_at(client: httpx.Client, repo: str, reference: str) -> httpx.Response:
    return client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ", ".join(sorted(mt.MANIFESTS))})


def _assert_pulls_back(client: httpx.Client, repo: str, reference: str, manifest: bytes, blobs: list[bytes]) -> None:
    """`repo:reference` on the destination is `manifest`, byte for byte, and each of `blobs` is there."""
    r = _manifest_at(client, repo, reference)
    assert r.status_code == 200, r.text
    assert r.content == manifest and r.headers["Docker-Content-Digest"] == digest_of(manifest)
    for blob in blobs:
        got = client.get(f"/v2/{repo}/blobs/{digest_of(blob)}")
        assert got.status_code == 200, got.text
        assert digest_of(got.content) == digest_of(blob)


async def test_an_image_is_copied_under_two_tags_byte_for_byte(
    env: Registries,
) -> None:
    src, dst = _name(), _name()
    layers = [os.urandom(300_000), b"the second layer"]
    manifest, digest = _push(env.source_registry, src, "v1", layers)
    result, _ = await _copy(env.source, src, "v1", env.destination, dst, ["v1", "latest"])
    assert result == CopyResult(digest, 3, 0, 0, sum(map(len, [CONFIG, *layers])), (), ())
    with _client(env.destination_registry) as client:
        for tag in ("v1", "latest", digest):
            _assert_pulls_back(client, dst, tag, manifest, [CONFIG, *layers])


async def test_a_second_copy_skips_every_blob_and_another_repository_mounts_them(
    env: Registries,
) -> None:
    src, dst, other = _name(), _name(), _name()
    manifest, digest = _push(env.source_registry, src, "v1", [b"one layer", b"another layer"])
    first, _ = await _copy(env.source, src, digest, env.destination, dst, ["v1"])
    again, _ = await _copy(env.source, src, digest, env.destination, dst, ["v1"])
    assert (first.blobs_copied, first.blobs_skipped) == (3, 0)
    assert (again.blobs_copied, again.blobs_skipped, again.bytes_copied) == (0, 3, 0)
    # This destination session saw the blobs in `dst`: `other` gets them mounted, not sent.
    mounted, _ = await _copy(env.source, src, digest, env.destination, other, [])
    assert (mounted.blobs_copied, mounted.blobs_mounted, mounted.bytes_copied) == (0, 3, 0)
    with _client(env.destination_registry) as client:
        _assert_pulls_back(client, other, digest, manifest, [b"one layer", b"another layer"])


async def test_an_index_is_copied_with_both_children(
    env: Registries,
) -> None:
    src, dst = _name(), _name()
    children: list[tuple[bytes, str, dict[str, str] | None]] = []
    for arch in ("amd64", "arm64"):
        manifest, _ = _push(env.source_registry, src, f"only-{arch}", [f"layer for {arch}".encode()])
        children.append((manifest, mt.OCI_MANIFEST, {"architecture": arch, "os": "linux"}))
    index = oci.index_manifest(children)
    with _client(env.source_registry) as client:
        assert oci.push_manifest(client, src, "multi", index, mt.OCI_INDEX).status_code == 201
    result, _ = await _copy(env.source, src, "multi", env.destination, dst, ["multi"])
    assert result.manifest_digest == digest_of(index) and result.blobs_copied == 3  # one config, two layers
    with _client(env.destination_registry) as client:
        _assert_pulls_back(client, dst, "multi", index, [])
        for (child, _, _), arch in zip(children, ("amd64", "arm64"), strict=True):
            _assert_pulls_back(client, dst, digest_of(child), child, [f"layer for {arch}".encode()])


@pytest.mark.parametrize("override", [False, True])
async def test_a_destination_tag_at_another_digest_is_replaced_only_with_override(
    override: bool,
    env: Registries,
) -> None:
    src, dst = _name(), _name()
    _, digest = _push(env.source_registry, src, "v1", [b"the source's layer"])
    _, elsewhere = _push(env.destination_registry, dst, "v1", [b"what the destination had"])
    result, lines = await _copy(env.source, src, "v1", env.destination, dst, ["v1"], override=override)
    with _client(env.destination_registry) as client:
        answered = _manifest_at(client, dst, "v1").headers["Docker-Content-Digest"]
    if override:
        # The config is the destination's already (CONFIG): only the layer goes.
        assert (answered, result.tags_skipped, result.blobs_copied, result.blobs_skipped) == (digest, (), 1, 1)
    else:
        # Left alone and reported, and nothing of the artifact copied (Harbor's behaviour).
        assert (answered, result.tags_skipped, result.blobs_copied) == (elsewhere, ("v1",), 0)
        assert any("left alone" in line and elsewhere in line for line in lines), lines


async def test_a_referrer_is_copied_after_its_subject(registry_server: RegistryProcess, env: Registries) -> None:
    src, dst = _name(TEST_PROJECT), _name()
    sbom = b'{"spdxVersion": "SPDX-2.3", "name": "copied along"}'
    with registry_server.client() as client:
        manifest, digest = oci.push_image(client, src, "v1", layers=[b"the subject's layer"])
        for blob in (mt.EMPTY_JSON, sbom):
            oci.push_blob(client, src, blob)
        referrer = oci.image_manifest(
            mt.EMPTY_JSON,
            [sbom],
            config_media_type=mt.OCI_EMPTY,
            artifact_type="application/spdx+json",
            subject=oci.descriptor(mt.OCI_MANIFEST, manifest),
        )
        assert oci.push_manifest(client, src, digest_of(referrer), referrer, mt.OCI_MANIFEST).status_code == 201
    async with RemoteRegistry(_admin(registry_server.url), timeout=TIMEOUT_S) as remote:
        result, _ = await _copy(RemoteSource(remote), src, "v1", env.destination, dst, ["v1"])
    assert result.manifest_digest == digest and result.referrers == (digest_of(referrer),)
    with _client(env.destination_registry) as client:
        _assert_pulls_back(client, dst, "v1", manifest, [b"the subject's layer"])
        _assert_pulls_back(client, dst, digest_of(referrer), referrer, [mt.EMPTY_JSON, sbom])


@pytest.fixture
async def lying_source() -> AsyncIterator[tuple[str, str]]:
    """A registry the test controls: `bad/image:v1` is an image whose layer it serves with other bytes
    than its digest names (its last byte changed). Yields its URL and the layer's digest."""
    config, layer = b'{"os": "linux"}', os.urandom(2 * MiB + 7)
    served = {digest_of(config): config, digest_of(layer): layer[:-1] + bytes([layer[-1] ^ 0xFF])}
    manifest = oci.image_manifest(config, [layer])

    async def base(request: web.Request) -> web.Response:
        return web.json_response({}, headers={"Docker-Distribution-API-Version": "registry/2.0"})

    async def manifests(request: web.Request) -> web.Response:
        return web.Response(body=manifest, content_type=mt.OCI_MANIFEST)

    async def blobs(request: web.Request) -> web.Response:
        return web.Response(body=served[request.match_info["digest"]], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/v2/", base)
    app.router.add_get("/v2/bad/image/manifests/v1", manifests)
    app.router.add_get("/v2/bad/image/blobs/{digest}", blobs)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/"), digest_of(layer)


async def test_a_blob_that_does_not_match_its_digest_fails_the_copy(
    lying_source: tuple[str, str], env: Registries
) -> None:
    url, layer = lying_source
    dst = _name()
    async with RemoteRegistry(RemoteEndpoint(url), timeout=TIMEOUT_S) as remote:
        with pytest.raises(CopyError) as caught:
            await _copy(RemoteSource(remote), "bad/image", "v1", env.destination, dst, ["v1"])
    message = str(caught.value)
    assert "\n" not in message and url in message and "bad/image" in message and layer in message
    assert "does not match its digest" in message, message
    with _client(env.destination_registry) as client:
        assert _manifest_at(client, dst, "v1").status_code == 404
        assert client.head(f"/v2/{dst}/blobs/{layer}").status_code == 404


class CuttingProxy:
    """A TCP proxy to 127.0.0.1:`port` that, once, closes a connection after `after` bytes went through it
    in one direction (`upstream`: from the client to the server)."""

    def __init__(self, port: int, *, after: int, upstream: bool) -> None:
        self._port, self._after, self._upstream = port, after, upstream
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.cuts = 0
        self.url = ""

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        # Aborted, not cancelled: each connection's task sees its end and finishes on its own.
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._port)
        writers = (client_writer, server_writer)
        self._writers.update(writers)
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer, writers, counted=self._upstream),
                self._pipe(server_reader, client_writer, writers, counted=not self._upstream),
            )
        finally:
            for writer in writers:
                writer.transport.abort()
            self._writers.difference_update(writers)
            self._connections.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        writers: tuple[asyncio.StreamWriter, ...],
        *,
        counted: bool,
    ) -> None:
        passed = 0
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(64 * 1024):
                if counted and not self.cuts and passed + len(data) > self._after:
                    self.cuts += 1
                    writer.write(data[: self._after - passed])
                    break
                passed += len(data)
                writer.write(data)
                await writer.drain()
        # Either side done (or the cut): the whole connection goes, as a broken network would take it.
        for each in writers:
            each.transport.abort()


@pytest.mark.parametrize("cut", ["source", "destination"])
async def test_a_connection_cut_mid_blob_does_not_fail_the_copy(
    cut: str,
    env: Registries,
) -> None:
    src, dst = _name(), _name()
    large = os.urandom(LARGE_BYTES)
    manifest, _ = _push(env.source_registry, src, "v1", [large])
    target = env.source_registry if cut == "source" else env.destination_registry
    async with CuttingProxy(target.port, after=CUT_AFTER_BYTES, upstream=cut == "destination") as proxy:
        source_url = proxy.url if cut == "source" else env.source_registry.url
        destination_url = proxy.url if cut == "destination" else env.destination_registry.url
        async with (
            RemoteRegistry(RemoteEndpoint(source_url), timeout=TIMEOUT_S) as src_remote,
            RemoteRegistry(_replicator(destination_url), timeout=TIMEOUT_S) as dst_remote,
        ):
            result, lines = await _copy(RemoteSource(src_remote), src, "v1", RemoteDestination(dst_remote), dst, ["v1"])
    assert proxy.cuts == 1 and result.blobs_copied == 2
    # The source is read on from where it broke; Distribution drops an upload its cut PATCH left longer
    # than it had said, so that blob starts over.
    expected = "reading on from there" if cut == "source" else "starting it over"
    assert any(expected in line for line in lines), lines
    with _client(env.destination_registry) as client:
        _assert_pulls_back(client, dst, "v1", manifest, [large])


async def test_a_cut_upload_goes_on_where_the_destination_stands(
    env: Registries, registry_server: RegistryProcess
) -> None:
    src, dst = _name(), _name(TEST_PROJECT)
    large = os.urandom(LARGE_BYTES)
    manifest, _ = _push(env.source_registry, src, "v1", [large])
    async with (
        CuttingProxy(registry_server.port, after=CUT_AFTER_BYTES, upstream=True) as proxy,
        RemoteRegistry(_admin(proxy.url), timeout=TIMEOUT_S) as remote,
    ):
        result, lines = await _copy(env.source, src, "v1", RemoteDestination(remote), dst, ["v1"], chunk_size=MiB)
    assert proxy.cuts == 1 and result.blobs_copied == 2
    # Berth keeps the chunks it acknowledged: the upload goes on from the last of them (which one depends
    # on how the client spread the chunks over its connections).
    resumed = [int(m[1]) for line in lines if (m := re.search(r"resuming at byte (\d+)", line))]
    assert len(resumed) == 1 and 0 < resumed[0] < LARGE_BYTES and resumed[0] % MiB == 0, lines
    with registry_server.client() as client:
        _assert_pulls_back(client, dst, "v1", manifest, [large])


async def test_copy_by_chunk_with_a_speed_limit(
    env: Registries,
) -> None:
    src, dst = _name(), _name()
    blob = os.urandom(3 * MiB)
    manifest, _ = _push(env.source_registry, src, "v1", [blob])
    result, _ = await _copy(env.source, src, "v1", env.destination, dst, ["v1"], chunk_size=MiB, speed_kbps=16 * 1024)
    assert result.blobs_copied == 2 and result.bytes_copied > 3 * MiB
    with _client(env.destination_registry) as client:
        _assert_pulls_back(client, dst, "v1", manifest, [blob])
