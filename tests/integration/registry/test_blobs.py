"""OCI Distribution Spec v1.1: pulling, checking and deleting blobs (`/v2/<name>/blobs/<digest>`).

Every blob here is random bytes, so no two tests share content even though the registry stores each
blob once; a test never depends on another test's pushes.
"""

from __future__ import annotations

import os

import httpx
import pytest

from tests.harness.oci import digest_of, push_blob
from tests.integration.registry.helpers import assert_api_version, assert_error

pytestmark = pytest.mark.integration


def random_blob(size: int = 100) -> bytes:
    return os.urandom(size)


def blob_url(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


# --- the base endpoint and the version header -------------------------------------------------------


def test_base_endpoint_answers_200_with_empty_json_object(registry: httpx.Client) -> None:
    r = registry.get("/v2/")
    assert r.status_code == 200, r.text
    assert_api_version(r)
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert r.json() == {}


def test_every_blob_response_carries_the_api_version_header(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob()
    digest = push_blob(registry, repo_name, data)
    unknown = digest_of(random_blob())
    responses = [
        registry.get("/v2/"),
        registry.get(blob_url(repo_name, digest)),
        registry.head(blob_url(repo_name, digest)),
        registry.get(blob_url(repo_name, digest), headers={"Range": "bytes=0-9"}),
        registry.get(blob_url(repo_name, unknown)),
        registry.head(blob_url(repo_name, unknown)),
        registry.get(blob_url(repo_name, "sha256:xyz")),
        registry.post(f"/v2/{repo_name}/blobs/uploads/"),
    ]
    for r in responses:
        assert_api_version(r)


# --- GET and HEAD -------------------------------------------------------------------------------------


def test_get_blob_returns_exact_bytes_digest_and_length(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob(1234)
    digest = push_blob(registry, repo_name, data)

    r = registry.get(blob_url(repo_name, digest))

    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == str(len(data))
    assert r.content == data


def test_head_blob_has_headers_and_no_body(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob(777)
    digest = push_blob(registry, repo_name, data)

    r = registry.head(blob_url(repo_name, digest))

    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == str(len(data))
    assert r.content == b""


def test_empty_blob_round_trips(registry: httpx.Client, repo_name: str) -> None:
    digest = push_blob(registry, repo_name, b"")
    assert digest == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    r = registry.get(blob_url(repo_name, digest))

    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == "0"
    assert r.content == b""


def test_pushing_the_same_blob_twice_is_idempotent(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob()
    first = push_blob(registry, repo_name, data)
    second = push_blob(registry, repo_name, data)
    assert first == second

    r = registry.get(blob_url(repo_name, first))
    assert r.status_code == 200
    assert r.content == data


def test_sha512_blob_round_trips(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob(4096)
    digest = push_blob(registry, repo_name, data, algorithm="sha512")
    assert digest.startswith("sha512:") and len(digest) == len("sha512:") + 128

    r = registry.get(blob_url(repo_name, digest))
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Content-Length"] == str(len(data))
    assert r.content == data

    h = registry.head(blob_url(repo_name, digest))
    assert h.status_code == 200
    assert h.headers["Docker-Content-Digest"] == digest
    assert h.headers["Content-Length"] == str(len(data))

    # The same bytes are not known under their sha256 digest in this repository.
    assert_error(registry.get(blob_url(repo_name, digest_of(data))), 404, "BLOB_UNKNOWN")


# --- Range requests -----------------------------------------------------------------------------------


def test_range_request_returns_206_with_the_requested_bytes(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob(100)
    digest = push_blob(registry, repo_name, data)

    r = registry.get(blob_url(repo_name, digest), headers={"Range": "bytes=10-19"})

    assert r.status_code == 206, r.text
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert r.headers["Content-Length"] == "10"
    assert r.content == data[10:20]


def test_open_ended_range_runs_to_the_end(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob(100)
    digest = push_blob(registry, repo_name, data)

    r = registry.get(blob_url(repo_name, digest), headers={"Range": "bytes=5-"})

    assert r.status_code == 206, r.text
    assert r.headers["Content-Range"] == f"bytes 5-99/{len(data)}"
    assert r.headers["Content-Length"] == "95"
    assert r.content == data[5:]


def test_range_past_the_end_is_clipped_to_the_blob(registry: httpx.Client, repo_name: str) -> None:
    # RFC 9110 §14.1.2: a last-pos at or beyond the length means "to the end".
    data = random_blob(100)
    digest = push_blob(registry, repo_name, data)

    r = registry.get(blob_url(repo_name, digest), headers={"Range": "bytes=90-1000"})

    assert r.status_code == 206, r.text
    assert r.headers["Content-Range"] == f"bytes 90-99/{len(data)}"
    assert r.content == data[90:]


def test_range_of_a_sha512_blob(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob(64)
    digest = push_blob(registry, repo_name, data, algorithm="sha512")

    r = registry.get(blob_url(repo_name, digest), headers={"Range": "bytes=0-0"})

    assert r.status_code == 206, r.text
    assert r.headers["Content-Range"] == f"bytes 0-0/{len(data)}"
    assert r.content == data[:1]


@pytest.mark.parametrize("range_header", ["bytes=100-", "bytes=100-150", "bytes=5000-6000"])
def test_unsatisfiable_range_is_416(registry: httpx.Client, repo_name: str, range_header: str) -> None:
    data = random_blob(100)
    digest = push_blob(registry, repo_name, data)

    r = registry.get(blob_url(repo_name, digest), headers={"Range": range_header})

    assert r.status_code == 416, f"{range_header}: {r.status_code} {r.text!r}"
    assert r.content != data


# --- unknown and malformed digests --------------------------------------------------------------------


def test_unknown_blob_is_404_blob_unknown(registry: httpx.Client, repo_name: str) -> None:
    push_blob(registry, repo_name, random_blob())  # the repository exists; only this blob is unknown
    unknown = digest_of(random_blob())

    assert_error(registry.get(blob_url(repo_name, unknown)), 404, "BLOB_UNKNOWN")

    h = registry.head(blob_url(repo_name, unknown))
    assert h.status_code == 404
    assert h.content == b""


def test_blob_in_unknown_repository_is_404(registry: httpx.Client, repo_name: str) -> None:
    unknown = digest_of(random_blob())
    assert_error(registry.get(blob_url(repo_name, unknown)), 404, ("BLOB_UNKNOWN", "NAME_UNKNOWN"))


@pytest.mark.parametrize(
    "bad_digest",
    [
        "sha256:xyz",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:" + "a" * 63,  # one hex digit short
        "sha256:" + "a" * 65,
        "sha256:" + "g" * 64,  # not hex
        "sha256:" + "A" * 64,  # sha256 is lowercase hex only
        "sha512:" + "a" * 64,  # sha512 needs 128 hex digits
        "sha256" + "a" * 64,  # no separator
    ],
)
def test_malformed_digest_is_400_digest_invalid(registry: httpx.Client, repo_name: str, bad_digest: str) -> None:
    push_blob(registry, repo_name, random_blob())
    assert_error(registry.get(blob_url(repo_name, bad_digest)), 400, "DIGEST_INVALID")
    assert registry.head(blob_url(repo_name, bad_digest)).status_code == 400
    assert_error(registry.delete(blob_url(repo_name, bad_digest)), 400, "DIGEST_INVALID")


@pytest.mark.parametrize("name", ["Test/UPPER", "test/Upper"])
def test_invalid_repository_name_on_blob_endpoints_is_400_name_invalid(registry: httpx.Client, name: str) -> None:
    digest = digest_of(random_blob())
    assert_error(registry.get(blob_url(name, digest)), 400, "NAME_INVALID")
    assert registry.head(blob_url(name, digest)).status_code == 400
    assert_error(registry.delete(blob_url(name, digest)), 400, "NAME_INVALID")


def test_blobs_are_linked_per_repository(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    data = random_blob()
    digest = push_blob(registry, repo_a, data)
    push_blob(registry, repo_b, random_blob())  # repo B exists, but never received `data`

    assert registry.get(blob_url(repo_a, digest)).status_code == 200
    assert_error(registry.get(blob_url(repo_b, digest)), 404, "BLOB_UNKNOWN")
    assert registry.head(blob_url(repo_b, digest)).status_code == 404
    assert_error(registry.get(blob_url(repo_b, digest), headers={"Range": "bytes=0-9"}), 404, "BLOB_UNKNOWN")


# --- DELETE -------------------------------------------------------------------------------------------


def test_delete_blob_is_202_then_404(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob()
    digest = push_blob(registry, repo_name, data)

    r = registry.delete(blob_url(repo_name, digest))
    assert r.status_code == 202, r.text
    assert_api_version(r)

    assert_error(registry.get(blob_url(repo_name, digest)), 404, "BLOB_UNKNOWN")
    assert registry.head(blob_url(repo_name, digest)).status_code == 404
    assert_error(registry.delete(blob_url(repo_name, digest)), 404, "BLOB_UNKNOWN")


def test_delete_unknown_blob_is_404(registry: httpx.Client, repo_name: str) -> None:
    push_blob(registry, repo_name, random_blob())
    assert_error(registry.delete(blob_url(repo_name, digest_of(random_blob()))), 404, "BLOB_UNKNOWN")


def test_delete_in_one_repository_keeps_the_blob_in_another(registry: httpx.Client, repo_name: str) -> None:
    repo_a, repo_b = f"{repo_name}/a", f"{repo_name}/b"
    data = random_blob(300)
    digest = push_blob(registry, repo_a, data)
    assert push_blob(registry, repo_b, data) == digest

    assert registry.delete(blob_url(repo_a, digest)).status_code == 202

    assert_error(registry.get(blob_url(repo_a, digest)), 404, "BLOB_UNKNOWN")
    r = registry.get(blob_url(repo_b, digest))
    assert r.status_code == 200, r.text
    assert r.content == data


def test_deleted_blob_can_be_pushed_again(registry: httpx.Client, repo_name: str) -> None:
    data = random_blob(500)
    digest = push_blob(registry, repo_name, data)
    assert registry.delete(blob_url(repo_name, digest)).status_code == 202

    assert push_blob(registry, repo_name, data) == digest

    r = registry.get(blob_url(repo_name, digest))
    assert r.status_code == 200, r.text
    assert r.content == data


def test_delete_sha512_blob(registry: httpx.Client, repo_name: str) -> None:
    digest = push_blob(registry, repo_name, random_blob(), algorithm="sha512")
    assert registry.delete(blob_url(repo_name, digest)).status_code == 202
    assert_error(registry.get(blob_url(repo_name, digest)), 404, "BLOB_UNKNOWN")
