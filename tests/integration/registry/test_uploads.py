"""OCI Distribution Spec v1.1: pushing blobs (`/v2/<name>/blobs/uploads/`).

Monolithic and chunked uploads, upload status and cancellation, cross-repository mounts, digest
verification before commit, resumption across a registry restart, and truncated request bodies.
Upload URLs are followed as the registry gives them (`Location`, relative or absolute), never built.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pytest

from tests.harness.oci import digest_of, push_blob
from tests.harness.plugin import RegistryProcess
from tests.integration.registry.helpers import assert_api_version, assert_error

pytestmark = pytest.mark.integration

OCTET = {"Content-Type": "application/octet-stream"}
MIB = 1024 * 1024


def location_of(resp: httpx.Response) -> str:
    """The response's Location, resolved against the request URL (it may be relative or absolute)."""
    location = resp.headers.get("Location")
    assert location, f"{resp.status_code} response without a Location header: {dict(resp.headers)}"
    return urljoin(str(resp.request.url), location)


def path_of(url: str) -> str:
    return unquote(urlsplit(url).path)


def assert_blob_location(resp: httpx.Response, repo: str, digest: str) -> None:
    assert path_of(location_of(resp)) == f"/v2/{repo}/blobs/{digest}"


def assert_upload_location(resp: httpx.Response, repo: str) -> str:
    url = location_of(resp)
    prefix = f"/v2/{repo}/blobs/uploads/"
    path = path_of(url)
    assert path.startswith(prefix), f"upload Location {url!r} is not under {prefix}"
    assert path[len(prefix) :].strip("/"), f"upload Location {url!r} names no upload"
    return url


def assert_empty_range(resp: httpx.Response) -> None:
    assert resp.headers.get("Range") in (None, "0-0"), f"fresh upload reports Range {resp.headers.get('Range')!r}"


def blob_url(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


def start_upload(client: httpx.Client, repo: str) -> str:
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return assert_upload_location(r, repo)


def patch_chunk(client: httpx.Client, url: str, chunk: bytes, start: int) -> httpx.Response:
    end = start + len(chunk) - 1
    return client.patch(url, content=chunk, headers={**OCTET, "Content-Range": f"{start}-{end}"})


def assert_blob(client: httpx.Client, repo: str, digest: str, data: bytes) -> None:
    r = client.get(blob_url(repo, digest))
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == str(len(data))
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(data).hexdigest()


def assert_not_visible(client: httpx.Client, repo: str, digest: str) -> None:
    r = client.head(blob_url(repo, digest))
    assert r.status_code == 404, f"{digest} should not exist in {repo}, HEAD gave {r.status_code}"
    assert_error(client.get(blob_url(repo, digest)), 404, ("BLOB_UNKNOWN", "NAME_UNKNOWN"))


def random_bytes(size: int = 100) -> bytes:
    return os.urandom(size)


# --- monolithic uploads -------------------------------------------------------------------------------


def test_monolithic_post_with_digest_creates_the_blob(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(2048)
    digest = digest_of(data)

    r = registry.post(f"/v2/{repo_name}/blobs/uploads/", params={"digest": digest}, content=data, headers=OCTET)

    assert r.status_code == 201, r.text
    assert_api_version(r)
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_name, digest)
    assert_blob(registry, repo_name, digest, data)
    # The Location names the blob itself.
    assert registry.get(location_of(r)).content == data


def test_monolithic_post_with_wrong_digest_is_rejected(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes()
    claimed = digest_of(random_bytes())

    r = registry.post(f"/v2/{repo_name}/blobs/uploads/", params={"digest": claimed}, content=data, headers=OCTET)

    assert_error(r, 400, "DIGEST_INVALID")
    assert_not_visible(registry, repo_name, claimed)
    assert_not_visible(registry, repo_name, digest_of(data))


def test_monolithic_post_with_malformed_digest_is_400(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes()
    r = registry.post(f"/v2/{repo_name}/blobs/uploads/", params={"digest": "sha256:xyz"}, content=data, headers=OCTET)
    assert_error(r, 400, "DIGEST_INVALID")
    assert_not_visible(registry, repo_name, digest_of(data))


def test_monolithic_put_after_post(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(5000)
    digest = digest_of(data)
    url = start_upload(registry, repo_name)

    r = registry.put(url, params={"digest": digest}, content=data, headers=OCTET)

    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_name, digest)
    assert_blob(registry, repo_name, digest, data)


def test_monolithic_sha512_post(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(3000)
    digest = digest_of(data, "sha512")

    r = registry.post(f"/v2/{repo_name}/blobs/uploads/", params={"digest": digest}, content=data, headers=OCTET)

    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_name, digest)
    assert_blob(registry, repo_name, digest, data)


# --- starting an upload -------------------------------------------------------------------------------


def test_post_without_digest_opens_an_upload(registry: httpx.Client, repo_name: str) -> None:
    r = registry.post(f"/v2/{repo_name}/blobs/uploads/")

    assert r.status_code == 202, r.text
    assert_api_version(r)
    assert_upload_location(r, repo_name)
    assert_empty_range(r)
    assert r.headers.get("Docker-Upload-UUID"), f"no Docker-Upload-UUID in {dict(r.headers)}"


def test_each_post_opens_a_distinct_upload(registry: httpx.Client, repo_name: str) -> None:
    first = start_upload(registry, repo_name)
    second = start_upload(registry, repo_name)
    assert path_of(first) != path_of(second)


# --- chunked uploads ----------------------------------------------------------------------------------


def test_chunked_upload_with_content_range(registry: httpx.Client, repo_name: str) -> None:
    chunks = [random_bytes(1000), random_bytes(1), random_bytes(2500)]
    data = b"".join(chunks)
    digest = digest_of(data)
    url = start_upload(registry, repo_name)

    offset = 0
    for chunk in chunks:
        r = patch_chunk(registry, url, chunk, offset)
        offset += len(chunk)
        assert r.status_code == 202, r.text
        assert_api_version(r)
        assert r.headers.get("Range") == f"0-{offset - 1}"
        url = assert_upload_location(r, repo_name)  # clients follow the most recent Location
        assert_not_visible(registry, repo_name, digest)  # nothing is a blob before the PUT

    r = registry.put(url, params={"digest": digest})

    assert r.status_code == 201, r.text
    assert_api_version(r)
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_name, digest)
    assert_blob(registry, repo_name, digest, data)


def test_streamed_patch_without_content_range_appends(registry: httpx.Client, repo_name: str) -> None:
    first, second = random_bytes(700), random_bytes(300)
    data = first + second
    digest = digest_of(data)
    url = start_upload(registry, repo_name)

    r = registry.patch(url, content=first, headers=OCTET)
    assert r.status_code == 202, r.text
    assert r.headers.get("Range") == f"0-{len(first) - 1}"
    url = assert_upload_location(r, repo_name)

    r = registry.patch(url, content=second, headers=OCTET)
    assert r.status_code == 202, r.text
    assert r.headers.get("Range") == f"0-{len(data) - 1}"
    url = assert_upload_location(r, repo_name)

    r = registry.put(url, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)


def test_patch_with_chunked_transfer_encoding(registry: httpx.Client, repo_name: str) -> None:
    # `docker push` streams a layer as one PATCH with no Content-Length (Transfer-Encoding: chunked).
    parts = [random_bytes(4096) for _ in range(5)]
    data = b"".join(parts)
    digest = digest_of(data)
    url = start_upload(registry, repo_name)

    def body() -> Iterator[bytes]:
        yield from parts

    r = registry.patch(url, content=body(), headers=OCTET)
    assert r.status_code == 202, r.text
    assert r.headers.get("Range") == f"0-{len(data) - 1}"
    url = assert_upload_location(r, repo_name)

    r = registry.put(url, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)


def test_put_with_the_last_chunk_as_body(registry: httpx.Client, repo_name: str) -> None:
    first, last = random_bytes(1500), random_bytes(600)
    data = first + last
    digest = digest_of(data)
    url = start_upload(registry, repo_name)

    r = patch_chunk(registry, url, first, 0)
    assert r.status_code == 202, r.text
    url = assert_upload_location(r, repo_name)

    r = registry.put(url, params={"digest": digest}, content=last, headers=OCTET)

    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_name, digest)
    assert_blob(registry, repo_name, digest, data)


def test_put_with_the_last_chunk_and_its_content_range(registry: httpx.Client, repo_name: str) -> None:
    first, last = random_bytes(100), random_bytes(50)
    data = first + last
    digest = digest_of(data)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, first, 0), repo_name)

    r = registry.put(
        url,
        params={"digest": digest},
        content=last,
        headers={**OCTET, "Content-Range": f"{len(first)}-{len(data) - 1}"},
    )

    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)


def test_chunked_upload_completed_with_a_sha512_digest(registry: httpx.Client, repo_name: str) -> None:
    chunks = [random_bytes(800), random_bytes(900)]
    data = b"".join(chunks)
    digest = digest_of(data, "sha512")
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, chunks[0], 0), repo_name)
    url = assert_upload_location(patch_chunk(registry, url, chunks[1], len(chunks[0])), repo_name)

    r = registry.put(url, params={"digest": digest})

    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_name, digest)
    assert_blob(registry, repo_name, digest, data)


def test_medium_sized_chunked_upload_round_trips(registry: httpx.Client, repo_name: str) -> None:
    chunks = [random_bytes(MIB) for _ in range(3)]
    data = b"".join(chunks)
    digest = digest_of(data)
    url = start_upload(registry, repo_name)

    offset = 0
    for chunk in chunks:
        r = patch_chunk(registry, url, chunk, offset)
        offset += len(chunk)
        assert r.status_code == 202, r.text
        assert r.headers.get("Range") == f"0-{offset - 1}"
        url = assert_upload_location(r, repo_name)

    r = registry.put(url, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)

    tail = registry.get(blob_url(repo_name, digest), headers={"Range": f"bytes={2 * MIB - 5}-{2 * MIB + 4}"})
    assert tail.status_code == 206
    assert tail.content == data[2 * MIB - 5 : 2 * MIB + 5]


def test_monolithic_post_with_chunked_transfer_encoding(registry: httpx.Client, repo_name: str) -> None:
    parts = [random_bytes(3000) for _ in range(4)]
    data = b"".join(parts)
    digest = digest_of(data)

    def body() -> Iterator[bytes]:
        yield from parts

    r = registry.post(f"/v2/{repo_name}/blobs/uploads/", params={"digest": digest}, content=body(), headers=OCTET)

    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)


def test_put_with_a_chunked_transfer_encoding_body(registry: httpx.Client, repo_name: str) -> None:
    first, parts = random_bytes(500), [random_bytes(2000) for _ in range(3)]
    data = first + b"".join(parts)
    digest = digest_of(data)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, first, 0), repo_name)

    def body() -> Iterator[bytes]:
        yield from parts

    r = registry.put(url, params={"digest": digest}, content=body(), headers=OCTET)

    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)


def test_concurrent_pushes_of_the_same_blob_all_succeed(registry_server: RegistryProcess, repo_name: str) -> None:
    data = random_bytes(256 * 1024)
    digest = digest_of(data)

    def push(_: int) -> int:
        with registry_server.client() as client:
            r = client.post(f"/v2/{repo_name}/blobs/uploads/", params={"digest": digest}, content=data, headers=OCTET)
            return r.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(push, range(6)))

    assert statuses == [201] * 6
    with registry_server.client() as client:
        assert_blob(client, repo_name, digest, data)


def test_racing_chunks_for_the_same_range_are_accepted_once(
    registry_server: RegistryProcess, registry: httpx.Client, repo_name: str
) -> None:
    # Chunks MUST arrive in order: of two chunks both claiming 0-<n>, exactly one can be the first.
    candidates = [random_bytes(2 * MIB), random_bytes(2 * MIB)]
    url = start_upload(registry, repo_name)

    def send(chunk: bytes) -> httpx.Response:
        with registry_server.client() as client:
            return patch_chunk(client, url, chunk, 0)

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(send, candidates))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202, 416], [(r.status_code, r.text) for r in responses]
    winner = candidates[[r.status_code for r in responses].index(202)]
    loser = next(r for r in responses if r.status_code == 416)
    assert_error(loser, 416, "BLOB_UPLOAD_INVALID")
    status = registry.get(url)
    assert status.headers.get("Range") == f"0-{2 * MIB - 1}"
    r = registry.put(url, params={"digest": digest_of(winner)})
    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest_of(winner), winner)


# --- chunk order and Content-Range validation ---------------------------------------------------------


def test_out_of_order_chunk_is_416_and_the_upload_stays_usable(registry: httpx.Client, repo_name: str) -> None:
    chunks = [random_bytes(10), random_bytes(10), random_bytes(10)]
    data = b"".join(chunks)
    digest = digest_of(data)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, chunks[0], 0), repo_name)

    # A gap: the third chunk before the second.
    r = patch_chunk(registry, url, chunks[2], 20)
    assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert_api_version(r)
    assert r.headers.get("Range") == "0-9"
    assert_upload_location(r, repo_name)

    # An overlap: the first chunk again.
    r = patch_chunk(registry, url, chunks[0], 0)
    assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert r.headers.get("Range") == "0-9"

    # Neither rejected chunk was stored.
    status = registry.get(url)
    assert status.status_code == 204
    assert status.headers.get("Range") == "0-9"

    r = patch_chunk(registry, url, chunks[1], 10)
    assert r.status_code == 202, r.text
    assert r.headers.get("Range") == "0-19"
    url = assert_upload_location(r, repo_name)
    r = patch_chunk(registry, url, chunks[2], 20)
    assert r.status_code == 202, r.text
    url = assert_upload_location(r, repo_name)

    r = registry.put(url, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)


def test_first_chunk_not_starting_at_zero_is_416(registry: httpx.Client, repo_name: str) -> None:
    url = start_upload(registry, repo_name)
    chunk = random_bytes(10)

    assert_error(patch_chunk(registry, url, chunk, 5), 416, "BLOB_UPLOAD_INVALID")

    # Still usable from zero.
    r = patch_chunk(registry, url, chunk, 0)
    assert r.status_code == 202, r.text
    url = assert_upload_location(r, repo_name)
    assert registry.put(url, params={"digest": digest_of(chunk)}).status_code == 201
    assert_blob(registry, repo_name, digest_of(chunk), chunk)


@pytest.mark.parametrize("content_range", ["abc", "10-5", "0-", "-9", "5", "0-9-10"])
def test_malformed_content_range_is_rejected(registry: httpx.Client, repo_name: str, content_range: str) -> None:
    first = random_bytes(10)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, first, 0), repo_name)

    r = registry.patch(url, content=random_bytes(6), headers={**OCTET, "Content-Range": content_range})

    assert_error(r, (400, 416), ("BLOB_UPLOAD_INVALID", "SIZE_INVALID"))
    if r.status_code == 416:  # the client resumes from the Range a 416 carries
        assert r.headers.get("Range") == "0-9"
    status = registry.get(url)
    if status.status_code == 204:
        assert status.headers.get("Range") == "0-9", "a rejected chunk was appended"
    else:
        assert_error(status, 404, "BLOB_UPLOAD_UNKNOWN")


def test_content_range_disagreeing_with_the_body_length_is_rejected(registry: httpx.Client, repo_name: str) -> None:
    url = start_upload(registry, repo_name)
    chunk = random_bytes(10)

    r = registry.patch(url, content=chunk, headers={**OCTET, "Content-Range": "0-19"})

    assert_error(r, (400, 416), ("BLOB_UPLOAD_INVALID", "SIZE_INVALID"))
    assert_not_visible(registry, repo_name, digest_of(chunk))
    status = registry.get(url)
    if status.status_code == 204:
        assert_empty_range(status)
    else:
        assert_error(status, 404, "BLOB_UPLOAD_UNKNOWN")


def test_put_with_an_out_of_order_last_chunk_is_416(registry: httpx.Client, repo_name: str) -> None:
    first, last = random_bytes(100), random_bytes(50)
    data = first + last
    digest = digest_of(data)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, first, 0), repo_name)

    r = registry.put(url, params={"digest": digest}, content=last, headers={**OCTET, "Content-Range": "150-199"})

    assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert r.headers.get("Range") == "0-99"
    assert_not_visible(registry, repo_name, digest)
    # A 416 leaves the upload usable.
    r = registry.put(url, params={"digest": digest}, content=last, headers={**OCTET, "Content-Range": "100-149"})
    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest, data)


def test_empty_upload_completed_by_put(registry: httpx.Client, repo_name: str) -> None:
    digest = digest_of(b"")
    url = start_upload(registry, repo_name)

    r = registry.put(url, params={"digest": digest})

    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_name, digest)
    assert_blob(registry, repo_name, digest, b"")


# --- completing with the wrong digest -----------------------------------------------------------------


def test_put_with_wrong_digest_is_400_and_commits_nothing(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(500)
    claimed = digest_of(random_bytes(500))
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, data, 0), repo_name)

    r = registry.put(url, params={"digest": claimed})

    assert_error(r, 400, "DIGEST_INVALID")
    assert_not_visible(registry, repo_name, claimed)
    assert_not_visible(registry, repo_name, digest_of(data))
    # The upload is either gone or still holds exactly what was sent.
    status = registry.get(url)
    if status.status_code == 204:
        assert status.headers.get("Range") == f"0-{len(data) - 1}"
    else:
        assert_error(status, 404, "BLOB_UPLOAD_UNKNOWN")


def test_monolithic_put_with_wrong_digest_commits_nothing(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(500)
    claimed = digest_of(data + b"!")
    url = start_upload(registry, repo_name)

    assert_error(registry.put(url, params={"digest": claimed}, content=data, headers=OCTET), 400, "DIGEST_INVALID")

    assert_not_visible(registry, repo_name, claimed)
    assert_not_visible(registry, repo_name, digest_of(data))


def test_put_with_malformed_digest_is_400(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(50)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, data, 0), repo_name)

    assert_error(registry.put(url, params={"digest": "md5:d41d8cd98f00b204e9800998ecf8427e"}), 400, "DIGEST_INVALID")
    assert_not_visible(registry, repo_name, digest_of(data))


def test_put_without_digest_does_not_complete(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(50)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, data, 0), repo_name)

    r = registry.put(url)

    assert_error(r, 400, ("DIGEST_INVALID", "BLOB_UPLOAD_INVALID"))
    assert_not_visible(registry, repo_name, digest_of(data))


# --- upload status, completion and cancellation -------------------------------------------------------


def test_upload_status_reports_the_range(registry: httpx.Client, repo_name: str) -> None:
    url = start_upload(registry, repo_name)

    fresh = registry.get(url)
    assert fresh.status_code == 204, fresh.text
    assert_empty_range(fresh)

    url = assert_upload_location(patch_chunk(registry, url, random_bytes(123), 0), repo_name)
    r = registry.get(url)

    assert r.status_code == 204, r.text
    assert_api_version(r)
    assert r.content == b""
    assert r.headers.get("Range") == "0-122"
    assert r.headers.get("Docker-Upload-UUID")
    assert_upload_location(r, repo_name)


def test_completed_upload_is_gone(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(64)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, data, 0), repo_name)
    assert registry.put(url, params={"digest": digest_of(data)}).status_code == 201

    assert_error(registry.get(url), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(registry, url, random_bytes(5), len(data)), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(registry.put(url, params={"digest": digest_of(data)}), 404, "BLOB_UPLOAD_UNKNOWN")


def test_cancelled_upload_is_gone(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(64)
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, data, 0), repo_name)

    r = registry.delete(url)
    assert r.status_code == 204, r.text
    assert_api_version(r)

    assert_error(registry.get(url), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(registry, url, random_bytes(5), len(data)), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(registry.put(url, params={"digest": digest_of(data)}), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(registry.delete(url), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_not_visible(registry, repo_name, digest_of(data))


@pytest.mark.parametrize("upload_id", [str(uuid.uuid4()), "not-a-uuid", "0" * 200])
def test_unknown_upload_id_is_404_blob_upload_unknown(registry: httpx.Client, repo_name: str, upload_id: str) -> None:
    start_upload(registry, repo_name)  # the repository has uploads, just not this one
    url = f"/v2/{repo_name}/blobs/uploads/{upload_id}"
    data = random_bytes(10)

    assert_error(registry.get(url), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(registry, url, data, 0), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(registry.patch(url, content=data, headers=OCTET), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        registry.put(url, params={"digest": digest_of(data)}, content=data, headers=OCTET),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    assert_error(registry.delete(url), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_not_visible(registry, repo_name, digest_of(data))


def test_upload_is_bound_to_its_repository(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    push_blob(registry, repo_b, random_bytes())
    url_a = start_upload(registry, repo_a)
    path_a = path_of(url_a)
    url_b = path_a.replace(f"/v2/{repo_a}/", f"/v2/{repo_b}/", 1)
    data = random_bytes(40)

    assert_error(registry.get(url_b), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(patch_chunk(registry, url_b, data, 0), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        registry.put(url_b, params={"digest": digest_of(data)}, content=data, headers=OCTET),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    )
    assert_error(registry.delete(url_b), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_not_visible(registry, repo_b, digest_of(data))

    # The upload itself is untouched in repository A.
    status = registry.get(url_a)
    assert status.status_code == 204
    assert_empty_range(status)


# --- cross-repository mounts --------------------------------------------------------------------------


def test_mount_from_a_repository_holding_the_blob(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    data = random_bytes(900)
    digest = push_blob(registry, repo_a, data)
    assert_not_visible(registry, repo_b, digest)

    r = registry.post(f"/v2/{repo_b}/blobs/uploads/", params={"mount": digest, "from": repo_a})

    assert r.status_code == 201, r.text
    assert_api_version(r)
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob_location(r, repo_b, digest)
    assert_blob(registry, repo_b, digest, data)
    assert_blob(registry, repo_a, digest, data)


def test_mount_of_a_sha512_blob(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    data = random_bytes(900)
    digest = push_blob(registry, repo_a, data, algorithm="sha512")

    r = registry.post(f"/v2/{repo_b}/blobs/uploads/", params={"mount": digest, "from": repo_a})

    assert r.status_code == 201, r.text
    assert_blob_location(r, repo_b, digest)
    assert_blob(registry, repo_b, digest, data)


def _complete_fallback_upload(client: httpx.Client, resp: httpx.Response, repo: str, data: bytes) -> None:
    """A mount that fell back to a plain upload (202): the upload works like any other."""
    assert resp.status_code == 202, resp.text
    url = assert_upload_location(resp, repo)
    assert_empty_range(resp)
    digest = digest_of(data)
    assert_not_visible(client, repo, digest)
    url = assert_upload_location(patch_chunk(client, url, data, 0), repo)
    r = client.put(url, params={"digest": digest})
    assert r.status_code == 201, r.text
    assert_blob(client, repo, digest, data)


def test_mount_from_a_repository_without_the_blob_falls_back_to_an_upload(
    registry: httpx.Client, repo_name: str
) -> None:
    repo_a, repo_b, repo_c = f"{repo_name}/a", f"{repo_name}/b", f"{repo_name}/c"
    data = random_bytes(400)
    digest = push_blob(registry, repo_a, data)
    push_blob(registry, repo_c, random_bytes())  # C exists but never held `data`

    r = registry.post(f"/v2/{repo_b}/blobs/uploads/", params={"mount": digest, "from": repo_c})

    _complete_fallback_upload(registry, r, repo_b, data)


def test_mount_from_a_nonexistent_repository_falls_back_to_an_upload(registry: httpx.Client, repo_name: str) -> None:
    data = random_bytes(400)
    digest = push_blob(registry, f"{repo_name}/a", data)

    r = registry.post(f"/v2/{repo_name}/b/blobs/uploads/", params={"mount": digest, "from": f"{repo_name}/nowhere"})

    _complete_fallback_upload(registry, r, f"{repo_name}/b", data)


def test_mount_of_an_unknown_digest_falls_back_to_an_upload(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    push_blob(registry, repo_a, random_bytes())
    data = random_bytes(300)

    r = registry.post(f"/v2/{repo_b}/blobs/uploads/", params={"mount": digest_of(data), "from": repo_a})

    _complete_fallback_upload(registry, r, repo_b, data)


def test_mount_of_a_blob_deleted_from_the_source_falls_back(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    data = random_bytes(300)
    digest = push_blob(registry, repo_a, data)
    assert registry.delete(blob_url(repo_a, digest)).status_code == 202

    r = registry.post(f"/v2/{repo_b}/blobs/uploads/", params={"mount": digest, "from": repo_a})

    _complete_fallback_upload(registry, r, repo_b, data)


@pytest.mark.parametrize(
    ("mount", "source"),
    [
        ("sha256:xyz", "a"),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", "a"),
        (None, "Not/A/Valid/NAME"),
        (None, "a//b"),
    ],
)
def test_mount_with_invalid_arguments_falls_back_to_an_upload(
    registry: httpx.Client, repo_name: str, mount: str | None, source: str
) -> None:
    # Spec: "If a mount fails due to invalid repository or digest arguments, the registry will fall back
    # to the standard upload behavior and return a 202 Accepted with the upload URL in the Location header."
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    existing = random_bytes(200)
    digest = push_blob(registry, repo_a, existing)
    params = {"mount": mount or digest, "from": repo_a if source == "a" else source}

    r = registry.post(f"/v2/{repo_b}/blobs/uploads/", params=params)

    _complete_fallback_upload(registry, r, repo_b, random_bytes(300))
    assert_not_visible(registry, repo_b, digest)


def test_mount_without_from(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    data = random_bytes(300)
    digest = push_blob(registry, repo_a, data)

    r = registry.post(f"/v2/{repo_b}/blobs/uploads/", params={"mount": digest})

    if r.status_code == 201:  # the registry mounted automatically
        assert r.headers["Docker-Content-Digest"] == digest
        assert_blob_location(r, repo_b, digest)
        assert_blob(registry, repo_b, digest, data)
    else:
        _complete_fallback_upload(registry, r, repo_b, data)


# --- resuming across a restart ------------------------------------------------------------------------


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_upload_resumes_after_a_registry_restart(registry_server: RegistryProcess, repo_name: str, kill: bool) -> None:
    chunks = [random_bytes(64 * 1024), random_bytes(1000)]
    data = b"".join(chunks)
    digest = digest_of(data)

    with registry_server.client() as before:
        url = start_upload(before, repo_name)
        r = patch_chunk(before, url, chunks[0], 0)
        assert r.status_code == 202, r.text
        url = assert_upload_location(r, repo_name)

    registry_server.restart(kill=kill)

    with registry_server.client() as after:
        status = after.get(url)
        assert status.status_code == 204, status.text
        assert status.headers.get("Range") == f"0-{len(chunks[0]) - 1}"
        url = assert_upload_location(status, repo_name)

        r = patch_chunk(after, url, chunks[1], len(chunks[0]))
        assert r.status_code == 202, r.text
        assert r.headers.get("Range") == f"0-{len(data) - 1}"
        url = assert_upload_location(r, repo_name)

        r = after.put(url, params={"digest": digest})
        assert r.status_code == 201, r.text
        assert_blob(after, repo_name, digest, data)


# --- truncated request bodies -------------------------------------------------------------------------


def _send_truncated(server: RegistryProcess, method: str, target: str, promised: int, sent: bytes) -> None:
    """`method target` promising `promised` body bytes, sending only `sent`, then no more. Waits for the
    registry to answer or close the connection (the wait only orders the steps; nothing is timed)."""
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port
    repository = target.removeprefix("/v2/").split("/blobs/")[0]
    head = (
        f"{method} {target} HTTP/1.1\r\n"
        f"Host: {parts.hostname}:{parts.port}\r\n"
        f"Authorization: Bearer {server.bearer(f'repository:{repository}:pull,push')}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {promised}\r\n"
        "\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(head + sent)
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass


@pytest.mark.parametrize("digest_covers", ["promised_body", "bytes_sent"])
@pytest.mark.parametrize(("promised", "sent_size"), [(1000, 10), (3 * MIB, MIB + MIB // 2)], ids=["small", "large"])
def test_truncated_monolithic_post_commits_nothing(
    registry_server: RegistryProcess,
    registry: httpx.Client,
    repo_name: str,
    digest_covers: str,
    promised: int,
    sent_size: int,
) -> None:
    full = random_bytes(promised)
    sent = full[:sent_size]
    # A registry that took the early end of the body for its end would find `bytes_sent` verified.
    digest = digest_of(full if digest_covers == "promised_body" else sent)
    push_blob(registry, repo_name, random_bytes())  # the repository exists

    target = f"/v2/{repo_name}/blobs/uploads/?digest={digest}"
    _send_truncated(registry_server, "POST", target, promised=len(full), sent=sent)

    assert registry.get("/v2/").status_code == 200
    assert_not_visible(registry, repo_name, digest_of(sent))
    assert_not_visible(registry, repo_name, digest_of(full))
    # And the registry still takes uploads.
    data = random_bytes(20)
    assert_blob(registry, repo_name, push_blob(registry, repo_name, data), data)


@pytest.mark.parametrize("digest_covers", ["promised_body", "bytes_sent"])
def test_truncated_put_commits_nothing(
    registry_server: RegistryProcess, registry: httpx.Client, repo_name: str, digest_covers: str
) -> None:
    full = random_bytes(1000)
    sent = full[:10]
    digest = digest_of(full if digest_covers == "promised_body" else sent)
    url = urlsplit(start_upload(registry, repo_name))
    target = f"{url.path}?{url.query}&digest={digest}" if url.query else f"{url.path}?digest={digest}"

    _send_truncated(registry_server, "PUT", target, promised=len(full), sent=sent)

    assert registry.get("/v2/").status_code == 200
    assert_not_visible(registry, repo_name, digest_of(sent))
    assert_not_visible(registry, repo_name, digest_of(full))


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_upload_after_a_truncated_chunk_holds_only_acknowledged_bytes(
    registry_server: RegistryProcess, registry: httpx.Client, repo_name: str, method: str
) -> None:
    """A chunk cut off mid-body (the client vanished) must not leave bytes in the blob that the upload never
    acknowledged. Whatever `Range` the registry reports afterwards is what a resuming client relies on:
    completing with the digest of exactly those bytes must give a blob of exactly those bytes."""
    first = random_bytes(100)
    second = random_bytes(3 * MIB)
    sent = second[: MIB + MIB // 2]  # more than any sensible write buffer, less than promised
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, first, 0), repo_name)
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    if method == "PATCH":
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    else:
        target = f"{parts.path}?{query}digest={digest_of(first + second)}"

    _send_truncated(registry_server, method, target, promised=len(second), sent=sent)

    status = registry.get(url)
    if status.status_code == 404:  # a failed final PUT may end the upload; then nothing may be visible
        assert method == "PUT", "a truncated PATCH must not end the upload"
        assert_error(status, 404, "BLOB_UPLOAD_UNKNOWN")
        assert_not_visible(registry, repo_name, digest_of(first + second))
        assert_not_visible(registry, repo_name, digest_of(first + sent))
        return
    assert status.status_code == 204, status.text
    received = status.headers.get("Range")
    assert received is not None and received.startswith("0-"), received
    size = int(received[2:]) + 1
    assert len(first) <= size <= len(first) + len(sent), f"Range {received} after a truncated chunk"
    expected = (first + sent)[:size]

    r = registry.put(url, params={"digest": digest_of(expected)})

    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest_of(expected), expected)
    assert_not_visible(registry, repo_name, digest_of(first + second))


def test_upload_resumed_after_a_truncated_chunk(
    registry_server: RegistryProcess, registry: httpx.Client, repo_name: str
) -> None:
    first, second, tail = random_bytes(100), random_bytes(3 * MIB), random_bytes(10)
    sent = second[: MIB + MIB // 2]
    url = start_upload(registry, repo_name)
    url = assert_upload_location(patch_chunk(registry, url, first, 0), repo_name)

    _send_truncated(registry_server, "PATCH", urlsplit(url).path, promised=len(second), sent=sent)

    status = registry.get(url)
    assert status.status_code == 204, status.text
    size = int(status.headers["Range"].removeprefix("0-")) + 1
    assert len(first) <= size <= len(first) + len(sent)
    # Resume from where the registry says, with a short tail this time.
    r = patch_chunk(registry, url, tail, size)
    assert r.status_code == 202, r.text
    url = assert_upload_location(r, repo_name)
    expected = (first + sent)[:size] + tail

    r = registry.put(url, params={"digest": digest_of(expected)})

    assert r.status_code == 201, r.text
    assert_blob(registry, repo_name, digest_of(expected), expected)


# --- repository names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Test/UPPER", "test/Upper", "TEST"])
def test_uppercase_repository_name_is_400_name_invalid(registry: httpx.Client, name: str) -> None:
    data = random_bytes()
    assert_error(registry.post(f"/v2/{name}/blobs/uploads/"), 400, "NAME_INVALID")
    r = registry.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(data)}, content=data, headers=OCTET)
    assert_error(r, 400, "NAME_INVALID")


@pytest.mark.parametrize("suffix", ["a//b", "-x", "x-", "a..b", "a___b", "x_", "_x", "a/.b", "a/b/"])
def test_invalid_repository_name_is_rejected(registry: httpx.Client, repo_name: str, suffix: str) -> None:
    # Some of these may already fail to route (404 NAME_UNKNOWN); none may open an upload.
    name = f"{repo_name}/{suffix}" if suffix != "-x" else "-x"
    r = registry.post(f"/v2/{name}/blobs/uploads/")
    if r.status_code == 404:
        assert_error(r, 404, "NAME_UNKNOWN")
    else:
        assert_error(r, 400, "NAME_INVALID")


def test_multi_level_repository_names_work(registry: httpx.Client, repo_name: str) -> None:
    for repo in (
        f"{repo_name}/library/team/app",
        f"{repo_name}/a.b/c_d/e-f__g/h--i",
        # Path words of the API are fine as name components.
        f"{repo_name}/blobs/uploads",
        f"{repo_name}/blobs",
        f"{repo_name}/manifests/tags/list",
    ):
        data = random_bytes(256)
        digest = push_blob(registry, repo, data)
        assert_blob(registry, repo, digest, data)

        chunk = random_bytes(128)
        url = start_upload(registry, repo)
        url = assert_upload_location(patch_chunk(registry, url, chunk, 0), repo)
        r = registry.put(url, params={"digest": digest_of(chunk)})
        assert r.status_code == 201, r.text
        assert_blob_location(r, repo, digest_of(chunk))
        assert_blob(registry, repo, digest_of(chunk), chunk)
