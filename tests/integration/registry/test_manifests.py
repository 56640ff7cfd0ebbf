"""Manifests at /v2/<name>/manifests/<reference>: the OCI distribution spec v1.1, pinned against a real process.

Covers push (by tag and by digest, every manifest kind the registry understands), byte-exact pull, HEAD,
content negotiation, validation (JSON, schema, referenced blobs and manifests, size), the subject header,
tag moves, deletes, and the error envelope.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import (
    descriptor,
    digest_of,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
)
from tests.integration.registry.helpers import assert_error

pytestmark = pytest.mark.integration

FOUR_MIB = 4 * 1024 * 1024
EMPTY_DESCRIPTOR = {"mediaType": mt.OCI_EMPTY, "digest": mt.EMPTY_JSON_DIGEST, "size": 2}


# --------------------------------------------------------------------------------------------- helpers


def send_without_accept(client: httpx.Client, method: str, url: str) -> httpx.Response:
    """httpx sends `Accept: */*` by default; this request carries no Accept header at all."""
    request = client.build_request(method, url)
    del request.headers["Accept"]
    assert "accept" not in request.headers
    return client.send(request)


def location_path(resp: httpx.Response) -> str:
    location = resp.headers.get("Location")
    assert location, f"no Location header: {resp.headers}"
    return urlparse(location).path


def assert_pushed(resp: httpx.Response, repo: str, data: bytes) -> str:
    """A successful manifest PUT: 201, Location of the manifest by digest, the digest of the exact bytes."""
    digest = digest_of(data)
    assert resp.status_code == 201, resp.text
    assert resp.headers.get("Docker-Content-Digest") == digest
    assert location_path(resp) == f"/v2/{repo}/manifests/{digest}"
    return digest


def assert_manifest_served(client: httpx.Client, repo: str, reference: str, data: bytes, media_type: str) -> None:
    """GET and HEAD of `reference` serve exactly `data` as `media_type`."""
    url = f"/v2/{repo}/manifests/{reference}"
    digest = digest_of(data)
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers.get("Content-Type") == media_type
    assert r.headers.get("Docker-Content-Digest") == digest
    assert int(r.headers["Content-Length"]) == len(data)

    h = client.head(url)
    assert h.status_code == 200, h.headers
    assert h.content == b""
    assert h.headers.get("Content-Type") == media_type
    assert h.headers.get("Docker-Content-Digest") == digest
    assert int(h.headers["Content-Length"]) == len(data)


def assert_absent(client: httpx.Client, repo: str, reference: str) -> None:
    r = client.get(f"/v2/{repo}/manifests/{reference}")
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def default_config(label: str = "") -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "label": label}).encode()


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    r = client.get(f"/v2/{repo}/tags/list")
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return r.json().get("tags") or []


def artifact_manifest(
    artifact_type: str,
    blobs: list[bytes],
    *,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    layer_type: str = "application/vnd.example.payload",
) -> bytes:
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": dict(EMPTY_DESCRIPTOR),
        "layers": [descriptor(layer_type, blob) for blob in blobs],
    }
    if subject is not None:
        body["subject"] = subject
    if annotations is not None:
        body["annotations"] = annotations
    return json.dumps(body).encode()


def subject_of(data: bytes, media_type: str = mt.OCI_MANIFEST) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}


# ------------------------------------------------------------------------------- manifest builders
# Each pushes whatever the manifest references and returns (manifest bytes, media type).


def build_oci_image(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    config, layer = default_config("oci"), b"oci layer " + uuid.uuid4().bytes
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    return image_manifest(config, [layer]), mt.OCI_MANIFEST


def build_docker_image(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    config, layer = default_config("docker"), b"docker layer " + uuid.uuid4().bytes
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    return image_manifest(config, [layer], media_type=mt.DOCKER_MANIFEST), mt.DOCKER_MANIFEST


def _push_children(client: httpx.Client, repo: str, media_type: str) -> list[tuple[bytes, str, dict[str, str]]]:
    children = []
    for arch in ("amd64", "arm64"):
        config = json.dumps({"architecture": arch, "os": "linux"}).encode()
        layer = f"layer for {arch}".encode() + uuid.uuid4().bytes
        push_blob(client, repo, config)
        push_blob(client, repo, layer)
        child = image_manifest(config, [layer], media_type=media_type)
        r = push_manifest(client, repo, digest_of(child), child, media_type)
        assert r.status_code == 201, r.text
        children.append((child, media_type, {"architecture": arch, "os": "linux"}))
    return children


def build_oci_index(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    return index_manifest(_push_children(client, repo, mt.OCI_MANIFEST)), mt.OCI_INDEX


def build_docker_list(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    children = _push_children(client, repo, mt.DOCKER_MANIFEST)
    return index_manifest(children, media_type=mt.DOCKER_LIST), mt.DOCKER_LIST


def build_artifact(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    payload = b"artifact payload " + uuid.uuid4().bytes
    push_blob(client, repo, mt.EMPTY_JSON)
    push_blob(client, repo, payload)
    return artifact_manifest("application/vnd.example.sbom.v1", [payload]), mt.OCI_MANIFEST


def build_artifact_empty_layer(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    """The image spec's guidance for an artifact with no content: the empty descriptor as the only layer."""
    push_blob(client, repo, mt.EMPTY_JSON)
    body = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.marker.v1",
        "config": dict(EMPTY_DESCRIPTOR),
        "layers": [dict(EMPTY_DESCRIPTOR)],
        "annotations": {"org.example.note": "nothing inside"},
    }
    return json.dumps(body).encode(), mt.OCI_MANIFEST


def build_index_artifact(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    children = _push_children(client, repo, mt.OCI_MANIFEST)
    return index_manifest(children, artifact_type="application/vnd.example.bundle.v1"), mt.OCI_INDEX


def build_nested_index(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    """An index whose entries are an index and an image manifest."""
    inner, _ = build_oci_index(client, repo)
    r = push_manifest(client, repo, digest_of(inner), inner, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    image, _ = build_oci_image(client, repo)
    r = push_manifest(client, repo, digest_of(image), image, mt.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return index_manifest([(inner, mt.OCI_INDEX, None), (image, mt.OCI_MANIFEST, None)]), mt.OCI_INDEX


BUILDERS: dict[str, Callable[[httpx.Client, str], tuple[bytes, str]]] = {
    "oci-image": build_oci_image,
    "docker-image": build_docker_image,
    "oci-index": build_oci_index,
    "docker-list": build_docker_list,
    "artifact": build_artifact,
    "artifact-empty-layer": build_artifact_empty_layer,
    "index-artifact": build_index_artifact,
    "nested-index": build_nested_index,
}


# ----------------------------------------------------------------------------------------- push


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_push_by_tag_then_pull_by_tag_and_digest(registry: httpx.Client, repo_name: str, kind: str) -> None:
    data, media_type = BUILDERS[kind](registry, repo_name)
    r = push_manifest(registry, repo_name, "v1", data, media_type)
    digest = assert_pushed(r, repo_name, data)

    assert_manifest_served(registry, repo_name, "v1", data, media_type)
    assert_manifest_served(registry, repo_name, digest, data, media_type)
    assert "v1" in tags_of(registry, repo_name)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_push_by_digest(registry: httpx.Client, repo_name: str, kind: str) -> None:
    data, media_type = BUILDERS[kind](registry, repo_name)
    digest = digest_of(data)
    r = push_manifest(registry, repo_name, digest, data, media_type)
    assert_pushed(r, repo_name, data)
    assert_manifest_served(registry, repo_name, digest, data, media_type)


def test_push_by_digest_mismatch_is_digest_invalid(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_image(registry, repo_name)
    other = digest_of(data + b" ")
    r = push_manifest(registry, repo_name, other, data, media_type)
    assert_error(r, 400, "DIGEST_INVALID")
    assert_absent(registry, repo_name, other)
    assert_absent(registry, repo_name, digest_of(data))


def test_push_same_manifest_twice_is_idempotent(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_image(registry, repo_name)
    first = push_manifest(registry, repo_name, "v1", data, media_type)
    second = push_manifest(registry, repo_name, "v1", data, media_type)
    assert_pushed(first, repo_name, data)
    assert_pushed(second, repo_name, data)
    by_digest = push_manifest(registry, repo_name, digest_of(data), data, media_type)
    assert_pushed(by_digest, repo_name, data)
    assert tags_of(registry, repo_name) == ["v1"]
    assert_manifest_served(registry, repo_name, "v1", data, media_type)


def test_one_manifest_under_several_tags(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_image(registry, repo_name)
    for tag in ("a", "b", "c"):
        assert_pushed(push_manifest(registry, repo_name, tag, data, media_type), repo_name, data)
    for tag in ("a", "b", "c"):
        assert_manifest_served(registry, repo_name, tag, data, media_type)
    assert tags_of(registry, repo_name) == ["a", "b", "c"]


def test_pull_returns_exact_bytes_not_reserialized(registry: httpx.Client, repo_name: str) -> None:
    """Odd key order, tabs, escapes, raw UTF-8 and a trailing newline all survive: the digest is of these bytes."""
    config, layer = default_config("exact"), b"exact layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    c, lyr = descriptor(mt.OCI_CONFIG, config), descriptor(mt.OCI_LAYER, layer)
    data = (
        f'{{\t"layers" : [ {{"size":{lyr["size"]},"digest":"{lyr["digest"]}","mediaType":"{lyr["mediaType"]}"}} ],\n'
        '  "annotations": {"org.example.note": "caf\u00e9 \\u00e9 \\/ \\"q\\"", "z": "1", "a": "2"},\n'
        f'"config":{{"digest":"{c["digest"]}","mediaType":"{c["mediaType"]}","size":{c["size"]}}},\r\n'
        f'     "mediaType": "{mt.OCI_MANIFEST}",  "schemaVersion" :2 }}\n\n'
    ).encode()
    json.loads(data)  # still valid JSON
    r = push_manifest(registry, repo_name, "exact", data, mt.OCI_MANIFEST)
    digest = assert_pushed(r, repo_name, data)
    assert_manifest_served(registry, repo_name, "exact", data, mt.OCI_MANIFEST)
    assert_manifest_served(registry, repo_name, digest, data, mt.OCI_MANIFEST)


def test_oci_manifest_without_media_type_field_is_accepted(registry: httpx.Client, repo_name: str) -> None:
    """`mediaType` in an OCI image manifest is SHOULD, not MUST: the Content-Type says what it is."""
    config, layer = default_config("nomt"), b"no media type layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    body = json.loads(image_manifest(config, [layer]))
    del body["mediaType"]
    data = json.dumps(body).encode()
    r = push_manifest(registry, repo_name, "nomt", data, mt.OCI_MANIFEST)
    assert_pushed(r, repo_name, data)
    assert_manifest_served(registry, repo_name, "nomt", data, mt.OCI_MANIFEST)


def test_unknown_content_type_with_body_media_type(registry: httpx.Client, repo_name: str) -> None:
    """The registry may take the type from the body's `mediaType`; if it accepts, it serves that type."""
    data, media_type = build_oci_image(registry, repo_name)
    r = push_manifest(registry, repo_name, "ct", data, "application/json")
    if r.status_code == 201:
        assert_pushed(r, repo_name, data)
        assert_manifest_served(registry, repo_name, "ct", data, media_type)
    else:
        assert_error(r, {400, 415}, {"MANIFEST_INVALID", "UNSUPPORTED"})
        assert_absent(registry, repo_name, "ct")


def test_multi_level_repository_name(registry: httpx.Client, repo_name: str) -> None:
    repo = f"{repo_name}/team/app"
    data, media_type = build_oci_image(registry, repo)
    digest = assert_pushed(push_manifest(registry, repo, "v1", data, media_type), repo, data)
    assert_manifest_served(registry, repo, "v1", data, media_type)
    assert_manifest_served(registry, repo, digest, data, media_type)
    r = registry.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    assert r.json() == {"name": repo, "tags": ["v1"]}
    # The parent path is not the same repository.
    assert_error(registry.get(f"/v2/{repo_name}/team/manifests/v1"), 404, {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"})
    assert registry.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert_absent(registry, repo, digest)


def test_manifest_survives_restart(registry: httpx.Client, registry_server: Any, repo_name: str) -> None:
    data, media_type = build_oci_index(registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, "kept", data, media_type), repo_name, data)
    registry_server.restart()
    assert_manifest_served(registry, repo_name, "kept", data, media_type)


# ------------------------------------------------------------------------------ content negotiation


def test_accept_listing_the_type_among_others(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_index(registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, "v1", data, media_type), repo_name, data)
    accept = ", ".join([mt.DOCKER_MANIFEST, mt.DOCKER_LIST, mt.OCI_MANIFEST, mt.OCI_INDEX])
    r = registry.get(f"/v2/{repo_name}/manifests/v1", headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == mt.OCI_INDEX


def test_accept_in_several_header_lines_with_parameters(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_image(registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, "v1", data, media_type), repo_name, data)
    headers = [
        ("Accept", f"{mt.DOCKER_MANIFEST}"),
        ("Accept", f"{mt.DOCKER_LIST};q=0.5, {mt.OCI_MANIFEST};q=0.9"),
    ]
    r = registry.get(f"/v2/{repo_name}/manifests/v1", headers=headers)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == mt.OCI_MANIFEST
    h = registry.head(f"/v2/{repo_name}/manifests/v1", headers=headers)
    assert h.status_code == 200
    assert h.headers["Docker-Content-Digest"] == digest_of(data)


@pytest.mark.parametrize(
    ("kind", "accept"),
    [
        ("oci-index", [mt.DOCKER_MANIFEST]),
        ("oci-index", [mt.DOCKER_MANIFEST, mt.OCI_MANIFEST]),
        ("oci-image", [mt.DOCKER_MANIFEST, mt.DOCKER_LIST]),
    ],
)
def test_accept_without_the_stored_type_is_refused(
    registry: httpx.Client, repo_name: str, kind: str, accept: list[str]
) -> None:
    data, media_type = BUILDERS[kind](registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, "v1", data, media_type), repo_name, data)
    r = registry.get(f"/v2/{repo_name}/manifests/v1", headers={"Accept": ", ".join(accept)})
    assert_error(r, {404, 406}, {"MANIFEST_UNKNOWN", "UNSUPPORTED"})
    if r.status_code == 404:
        assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    # Still there for a client that accepts it.
    ok = registry.get(f"/v2/{repo_name}/manifests/v1", headers={"Accept": media_type})
    assert ok.status_code == 200
    assert ok.content == data


@pytest.mark.parametrize("kind", ["oci-image", "docker-image", "oci-index", "docker-list", "artifact"])
def test_no_accept_header_serves_any_type(registry: httpx.Client, repo_name: str, kind: str) -> None:
    data, media_type = BUILDERS[kind](registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, "v1", data, media_type), repo_name, data)
    for reference in ("v1", digest_of(data)):
        r = send_without_accept(registry, "GET", f"/v2/{repo_name}/manifests/{reference}")
        assert r.status_code == 200, r.text
        assert r.content == data
        assert r.headers["Content-Type"] == media_type
        h = send_without_accept(registry, "HEAD", f"/v2/{repo_name}/manifests/{reference}")
        assert h.status_code == 200
        assert int(h.headers["Content-Length"]) == len(data)


# ---------------------------------------------------------------------------- references must exist


def test_missing_config_blob(registry: httpx.Client, repo_name: str) -> None:
    config, layer = default_config("missing config"), b"present layer"
    push_blob(registry, repo_name, layer)
    data = image_manifest(config, [layer])
    r = push_manifest(registry, repo_name, "v1", data, mt.OCI_MANIFEST)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_absent(registry, repo_name, "v1")
    assert_absent(registry, repo_name, digest_of(data))


def test_missing_layer_blob(registry: httpx.Client, repo_name: str) -> None:
    config, layer, missing = default_config("missing layer"), b"present layer", b"never pushed layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    data = image_manifest(config, [layer, missing])
    r = push_manifest(registry, repo_name, "v1", data, mt.OCI_MANIFEST)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_absent(registry, repo_name, "v1")
    assert_absent(registry, repo_name, digest_of(data))


def test_missing_layer_blob_docker(registry: httpx.Client, repo_name: str) -> None:
    config, missing = default_config("docker missing"), b"never pushed docker layer"
    push_blob(registry, repo_name, config)
    data = image_manifest(config, [missing], media_type=mt.DOCKER_MANIFEST)
    r = push_manifest(registry, repo_name, "v1", data, mt.DOCKER_MANIFEST)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_absent(registry, repo_name, "v1")


def test_blobs_in_another_repository_do_not_count(registry: httpx.Client, repo_name: str) -> None:
    other = f"{repo_name}-other"
    config, layer = default_config("elsewhere"), b"layer elsewhere"
    push_blob(registry, other, config)
    push_blob(registry, other, layer)
    data = image_manifest(config, [layer])
    r = push_manifest(registry, repo_name, "v1", data, mt.OCI_MANIFEST)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_absent(registry, repo_name, digest_of(data))


def test_artifact_without_empty_config_blob(registry: httpx.Client, repo_name: str) -> None:
    payload = b"payload without the empty blob"
    push_blob(registry, repo_name, payload)
    data = artifact_manifest("application/vnd.example.sbom.v1", [payload])
    r = push_manifest(registry, repo_name, "v1", data, mt.OCI_MANIFEST)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_absent(registry, repo_name, "v1")


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_LIST])
def test_index_with_missing_child(registry: httpx.Client, repo_name: str, media_type: str) -> None:
    child_type = mt.OCI_MANIFEST if media_type == mt.OCI_INDEX else mt.DOCKER_MANIFEST
    present = _push_children(registry, repo_name, child_type)[0]
    ghost = image_manifest(default_config("ghost"), [b"ghost layer"], media_type=child_type)
    data = index_manifest(
        [present, (ghost, child_type, {"architecture": "s390x", "os": "linux"})], media_type=media_type
    )
    r = push_manifest(registry, repo_name, "v1", data, media_type)
    assert_error(r, 400, {"MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"})
    assert_absent(registry, repo_name, "v1")
    assert_absent(registry, repo_name, digest_of(data))


def test_index_child_that_is_only_a_blob(registry: httpx.Client, repo_name: str) -> None:
    """A child digest that names a blob of the repository, not a manifest, does not satisfy an index."""
    child = image_manifest(default_config("blob child"), [b"blob child layer"])
    push_blob(registry, repo_name, child)
    data = index_manifest([(child, mt.OCI_MANIFEST, None)])
    r = push_manifest(registry, repo_name, "v1", data, mt.OCI_INDEX)
    assert_error(r, 400, {"MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"})
    assert_absent(registry, repo_name, "v1")


def test_index_child_in_another_repository_does_not_count(registry: httpx.Client, repo_name: str) -> None:
    other = f"{repo_name}-other"
    children = _push_children(registry, other, mt.OCI_MANIFEST)
    data = index_manifest(children)
    r = push_manifest(registry, repo_name, "v1", data, mt.OCI_INDEX)
    assert_error(r, 400, {"MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"})
    assert_absent(registry, repo_name, "v1")


def test_failed_push_does_not_disturb_existing_tag(registry: httpx.Client, repo_name: str) -> None:
    good, media_type = build_oci_image(registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, "v1", good, media_type), repo_name, good)
    bad = image_manifest(default_config("bad"), [b"never pushed"])
    assert_error(push_manifest(registry, repo_name, "v1", bad, mt.OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_manifest_served(registry, repo_name, "v1", good, media_type)


# ----------------------------------------------------------------------------------------- invalid


def _valid_oci_body(registry: httpx.Client, repo: str) -> dict[str, Any]:
    config, layer = default_config("valid"), b"valid layer"
    push_blob(registry, repo, config)
    push_blob(registry, repo, layer)
    body: dict[str, Any] = json.loads(image_manifest(config, [layer]))
    return body


def _mutate(body: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> bytes:
    change(body)
    return json.dumps(body).encode()


INVALID_OCI_MANIFESTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "not-json": lambda b: b"{this is not json",
    "empty-body": lambda b: b"",
    "json-array": lambda b: b"[]",
    "json-string": lambda b: b'"manifest"',
    "schema-version-1": lambda b: _mutate(b, lambda d: d.update(schemaVersion=1)),
    "schema-version-3": lambda b: _mutate(b, lambda d: d.update(schemaVersion=3)),
    "schema-version-missing": lambda b: _mutate(b, lambda d: d.pop("schemaVersion")),
    "config-missing": lambda b: _mutate(b, lambda d: d.pop("config")),
    "config-not-object": lambda b: _mutate(b, lambda d: d.update(config="sha256:abc")),
    "layers-not-list": lambda b: _mutate(b, lambda d: d.update(layers={"a": 1})),
    "layer-without-digest": lambda b: _mutate(b, lambda d: d["layers"][0].pop("digest")),
    "layer-without-size": lambda b: _mutate(b, lambda d: d["layers"][0].pop("size")),
    "config-without-media-type": lambda b: _mutate(b, lambda d: d["config"].pop("mediaType")),
    "annotation-not-string": lambda b: _mutate(b, lambda d: d.update(annotations={"org.example.n": 1})),
    "subject-not-object": lambda b: _mutate(b, lambda d: d.update(subject="sha256:" + "a" * 64)),
    "subject-bad-digest": lambda b: _mutate(
        b, lambda d: d.update(subject={"mediaType": mt.OCI_MANIFEST, "digest": "sha256:zz", "size": 2})
    ),
}


@pytest.mark.parametrize("case", list(INVALID_OCI_MANIFESTS))
def test_invalid_oci_manifest(registry: httpx.Client, repo_name: str, case: str) -> None:
    data = INVALID_OCI_MANIFESTS[case](_valid_oci_body(registry, repo_name))
    r = push_manifest(registry, repo_name, "bad", data, mt.OCI_MANIFEST)
    assert_error(r, 400, "MANIFEST_INVALID")
    assert_absent(registry, repo_name, "bad")


def test_malformed_descriptor_digest(registry: httpx.Client, repo_name: str) -> None:
    body = _valid_oci_body(registry, repo_name)
    body["layers"][0]["digest"] = "sha256:not-a-hex-digest"
    r = push_manifest(registry, repo_name, "bad", json.dumps(body).encode(), mt.OCI_MANIFEST)
    assert_error(r, 400, {"MANIFEST_INVALID", "DIGEST_INVALID"})
    assert_absent(registry, repo_name, "bad")


@pytest.mark.parametrize("case", ["manifests-missing", "manifests-not-list", "schema-version-1"])
def test_invalid_index(registry: httpx.Client, repo_name: str, case: str) -> None:
    children = _push_children(registry, repo_name, mt.OCI_MANIFEST)
    body = json.loads(index_manifest(children))
    if case == "manifests-missing":
        del body["manifests"]
    elif case == "manifests-not-list":
        body["manifests"] = body["manifests"][0]
    else:
        body["schemaVersion"] = 1
    r = push_manifest(registry, repo_name, "bad", json.dumps(body).encode(), mt.OCI_INDEX)
    assert_error(r, 400, "MANIFEST_INVALID")
    assert_absent(registry, repo_name, "bad")


@pytest.mark.parametrize(
    ("body_type", "header_type"),
    [
        (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST),
        (mt.DOCKER_MANIFEST, mt.OCI_MANIFEST),
        (mt.OCI_MANIFEST, mt.OCI_INDEX),
    ],
)
def test_body_media_type_disagrees_with_content_type(
    registry: httpx.Client, repo_name: str, body_type: str, header_type: str
) -> None:
    config, layer = default_config("disagree"), b"disagree layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    data = image_manifest(config, [layer], media_type=body_type)
    r = push_manifest(registry, repo_name, "bad", data, header_type)
    assert_error(r, 400, "MANIFEST_INVALID")
    assert_absent(registry, repo_name, "bad")


def test_no_media_type_anywhere(registry: httpx.Client, repo_name: str) -> None:
    """Neither a Content-Type nor a `mediaType` in the body: the registry cannot know what it holds."""
    body = _valid_oci_body(registry, repo_name)
    del body["mediaType"]
    r = registry.put(f"/v2/{repo_name}/manifests/bad", content=json.dumps(body).encode())
    assert "content-type" not in r.request.headers
    assert_error(r, 400, "MANIFEST_INVALID")
    assert_absent(registry, repo_name, "bad")


def test_index_body_sent_as_image_manifest(registry: httpx.Client, repo_name: str) -> None:
    data = index_manifest(_push_children(registry, repo_name, mt.OCI_MANIFEST))
    r = push_manifest(registry, repo_name, "bad", data, mt.OCI_MANIFEST)
    assert_error(r, 400, "MANIFEST_INVALID")
    assert_absent(registry, repo_name, "bad")


# -------------------------------------------------------------------------------------------- size


def _padded_manifest(registry: httpx.Client, repo: str, total: int) -> bytes:
    config, layer = default_config("big"), b"big layer"
    push_blob(registry, repo, config)
    push_blob(registry, repo, layer)
    base = image_manifest(config, [layer], annotations={"org.example.pad": ""})
    data = image_manifest(config, [layer], annotations={"org.example.pad": "x" * (total - len(base))})
    assert len(data) == total
    return data


def test_manifest_over_4_mib_is_refused(registry: httpx.Client, repo_name: str) -> None:
    data = _padded_manifest(registry, repo_name, FOUR_MIB + 1)
    r = push_manifest(registry, repo_name, "big", data, mt.OCI_MANIFEST)
    assert_error(r, 413, {"SIZE_INVALID", "MANIFEST_INVALID"})
    assert_absent(registry, repo_name, "big")
    assert_absent(registry, repo_name, digest_of(data))
    assert_error(
        push_manifest(registry, repo_name, digest_of(data), data, mt.OCI_MANIFEST),
        413,
        {"SIZE_INVALID", "MANIFEST_INVALID"},
    )
    assert_absent(registry, repo_name, digest_of(data))


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_manifest_over_4_mib_without_content_length_is_refused(registry: httpx.Client, repo_name: str) -> None:
    """Sent chunked, with no Content-Length to reject up front: the limit still holds."""
    data = _padded_manifest(registry, repo_name, FOUR_MIB + 1)
    r = registry.put(f"/v2/{repo_name}/manifests/big", content=_chunks(data), headers={"Content-Type": mt.OCI_MANIFEST})
    assert "content-length" not in r.request.headers
    assert_error(r, 413, {"SIZE_INVALID", "MANIFEST_INVALID"})
    assert_absent(registry, repo_name, "big")
    assert_absent(registry, repo_name, digest_of(data))


def test_manifest_sent_chunked_is_accepted(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_index(registry, repo_name)
    r = registry.put(
        f"/v2/{repo_name}/manifests/chunked", content=_chunks(data, 100), headers={"Content-Type": media_type}
    )
    assert "content-length" not in r.request.headers
    assert_pushed(r, repo_name, data)
    assert_manifest_served(registry, repo_name, "chunked", data, media_type)


def test_manifest_of_exactly_4_mib_is_accepted(registry: httpx.Client, repo_name: str) -> None:
    data = _padded_manifest(registry, repo_name, FOUR_MIB)
    r = push_manifest(registry, repo_name, "big", data, mt.OCI_MANIFEST)
    assert_pushed(r, repo_name, data)
    assert_manifest_served(registry, repo_name, "big", data, mt.OCI_MANIFEST)


# ------------------------------------------------------------------------------------------ subject


def test_subject_header_when_subject_does_not_exist(registry: httpx.Client, repo_name: str) -> None:
    absent_subject = image_manifest(default_config("not pushed"), [b"not pushed either"])
    push_blob(registry, repo_name, mt.EMPTY_JSON)
    payload = b"signature payload"
    push_blob(registry, repo_name, payload)
    data = artifact_manifest("application/vnd.example.signature.v1", [payload], subject=subject_of(absent_subject))
    r = push_manifest(registry, repo_name, digest_of(data), data, mt.OCI_MANIFEST)
    assert_pushed(r, repo_name, data)
    assert r.headers.get("OCI-Subject") == digest_of(absent_subject)
    assert_manifest_served(registry, repo_name, digest_of(data), data, mt.OCI_MANIFEST)
    assert_absent(registry, repo_name, digest_of(absent_subject))


def test_subject_header_when_subject_exists(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    push_blob(registry, repo_name, mt.EMPTY_JSON)
    payload = b"sbom payload"
    push_blob(registry, repo_name, payload)
    data = artifact_manifest("application/vnd.example.sbom.v1", [payload], subject=subject_of(subject))
    r = push_manifest(registry, repo_name, "sbom", data, mt.OCI_MANIFEST)
    assert_pushed(r, repo_name, data)
    assert r.headers.get("OCI-Subject") == subject_digest


def test_image_with_subject_sets_header(registry: httpx.Client, repo_name: str) -> None:
    """`subject` is not only for artifacts: an image manifest may carry one too."""
    subject, subject_digest = push_image(registry, repo_name, "base")
    config, layer = default_config("derived"), b"derived layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    data = image_manifest(config, [layer], subject=subject_of(subject))
    r = push_manifest(registry, repo_name, "derived", data, mt.OCI_MANIFEST)
    assert_pushed(r, repo_name, data)
    assert r.headers.get("OCI-Subject") == subject_digest


def test_no_subject_no_header(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_image(registry, repo_name)
    r = push_manifest(registry, repo_name, "v1", data, media_type)
    assert_pushed(r, repo_name, data)
    assert "OCI-Subject" not in r.headers


# -------------------------------------------------------------------------------------------- tags


def test_tag_moves_to_the_latest_push(registry: httpx.Client, repo_name: str) -> None:
    a, a_digest = push_image(registry, repo_name, "v1", layers=[b"layer A"])
    b, b_digest = push_image(registry, repo_name, "v1", layers=[b"layer B"])
    assert a_digest != b_digest
    assert_manifest_served(registry, repo_name, "v1", b, mt.OCI_MANIFEST)
    assert_manifest_served(registry, repo_name, a_digest, a, mt.OCI_MANIFEST)
    assert_manifest_served(registry, repo_name, b_digest, b, mt.OCI_MANIFEST)
    assert tags_of(registry, repo_name) == ["v1"]


def test_tag_moves_across_manifest_kinds(registry: httpx.Client, repo_name: str) -> None:
    image, image_type = build_oci_image(registry, repo_name)
    index, index_type = build_oci_index(registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, "latest", image, image_type), repo_name, image)
    assert_pushed(push_manifest(registry, repo_name, "latest", index, index_type), repo_name, index)
    assert_manifest_served(registry, repo_name, "latest", index, index_type)
    assert_manifest_served(registry, repo_name, digest_of(image), image, image_type)


@pytest.mark.parametrize("tag", ["a" * 128, "_underscore", "V1.0-rc_1", "1", "A__.--b"])
def test_valid_tags(registry: httpx.Client, repo_name: str, tag: str) -> None:
    data, media_type = build_oci_image(registry, repo_name)
    assert_pushed(push_manifest(registry, repo_name, tag, data, media_type), repo_name, data)
    assert_manifest_served(registry, repo_name, tag, data, media_type)
    assert tag in tags_of(registry, repo_name)


@pytest.mark.parametrize("tag", ["a" * 129, ".hidden", "-dash", "bad+tag", "caf%C3%A9", "semi;colon"])
def test_invalid_tags(registry: httpx.Client, repo_name: str, tag: str) -> None:
    data, media_type = build_oci_image(registry, repo_name)
    r = push_manifest(registry, repo_name, tag, data, media_type)
    assert_error(r, 400, {"TAG_INVALID", "MANIFEST_INVALID"})
    assert tags_of(registry, repo_name) == []
    assert_absent(registry, repo_name, digest_of(data))


# ------------------------------------------------------------------------------------------ delete


def test_delete_by_tag(registry: httpx.Client, repo_name: str) -> None:
    data, digest = push_image(registry, repo_name, "v1")
    assert_pushed(push_manifest(registry, repo_name, "v2", data, mt.OCI_MANIFEST), repo_name, data)
    r = registry.delete(f"/v2/{repo_name}/manifests/v1")
    assert r.status_code == 202, r.text
    assert_absent(registry, repo_name, "v1")
    assert_error(registry.head(f"/v2/{repo_name}/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert_manifest_served(registry, repo_name, digest, data, mt.OCI_MANIFEST)
    assert_manifest_served(registry, repo_name, "v2", data, mt.OCI_MANIFEST)
    assert tags_of(registry, repo_name) == ["v2"]
    assert_error(registry.delete(f"/v2/{repo_name}/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_delete_by_digest_removes_manifest_and_its_tags(registry: httpx.Client, repo_name: str) -> None:
    data, digest = push_image(registry, repo_name, "v1")
    assert_pushed(push_manifest(registry, repo_name, "v2", data, mt.OCI_MANIFEST), repo_name, data)
    other, _ = push_image(registry, repo_name, "other", layers=[b"other layer"])
    r = registry.delete(f"/v2/{repo_name}/manifests/{digest}")
    assert r.status_code == 202, r.text
    assert_absent(registry, repo_name, digest)
    assert_error(registry.head(f"/v2/{repo_name}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    assert_absent(registry, repo_name, "v1")
    assert_absent(registry, repo_name, "v2")
    assert tags_of(registry, repo_name) == ["other"]
    assert_manifest_served(registry, repo_name, "other", other, mt.OCI_MANIFEST)
    assert_error(registry.delete(f"/v2/{repo_name}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    # It can be pushed again afterwards.
    assert_pushed(push_manifest(registry, repo_name, "v3", data, mt.OCI_MANIFEST), repo_name, data)
    assert_manifest_served(registry, repo_name, "v3", data, mt.OCI_MANIFEST)
    assert_absent(registry, repo_name, "v1")


def test_delete_index_by_digest(registry: httpx.Client, repo_name: str) -> None:
    data, media_type = build_oci_index(registry, repo_name)
    digest = assert_pushed(push_manifest(registry, repo_name, "multi", data, media_type), repo_name, data)
    assert registry.delete(f"/v2/{repo_name}/manifests/{digest}").status_code == 202
    assert_absent(registry, repo_name, digest)
    assert_absent(registry, repo_name, "multi")
    for child in json.loads(data)["manifests"]:
        r = registry.get(f"/v2/{repo_name}/manifests/{child['digest']}")
        assert r.status_code == 200


def test_delete_unknown(registry: httpx.Client, repo_name: str) -> None:
    push_image(registry, repo_name, "v1")
    unknown = digest_of(b"never a manifest " + uuid.uuid4().bytes)
    assert_error(registry.delete(f"/v2/{repo_name}/manifests/{unknown}"), 404, "MANIFEST_UNKNOWN")
    assert_error(registry.delete(f"/v2/{repo_name}/manifests/nope"), 404, "MANIFEST_UNKNOWN")
    assert_error(
        registry.delete(f"/v2/{repo_name}-nowhere/manifests/{unknown}"), 404, {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"}
    )
    assert tags_of(registry, repo_name) == ["v1"]


def test_delete_manifest_of_another_repository(registry: httpx.Client, repo_name: str) -> None:
    other = f"{repo_name}-other"
    data, digest = push_image(registry, other, "v1")
    push_image(registry, repo_name, "mine")
    assert_error(registry.delete(f"/v2/{repo_name}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    assert_manifest_served(registry, other, digest, data, mt.OCI_MANIFEST)


# ----------------------------------------------------------------------------------------- unknown


def test_unknown_tag_and_digest(registry: httpx.Client, repo_name: str) -> None:
    push_image(registry, repo_name, "v1")
    unknown = digest_of(b"never a manifest " + uuid.uuid4().bytes)
    assert_absent(registry, repo_name, "v2")
    assert_absent(registry, repo_name, unknown)
    assert_error(registry.head(f"/v2/{repo_name}/manifests/v2"), 404, "MANIFEST_UNKNOWN")
    assert_error(registry.head(f"/v2/{repo_name}/manifests/{unknown}"), 404, "MANIFEST_UNKNOWN")


def test_unknown_repository(registry: httpx.Client, repo_name: str) -> None:
    unknown = digest_of(b"never a manifest")
    for reference in ("latest", unknown):
        r = registry.get(f"/v2/{repo_name}/manifests/{reference}")
        assert_error(r, 404, {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"})
        assert_error(registry.head(f"/v2/{repo_name}/manifests/{reference}"), 404, {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"})


def test_manifest_of_another_repository_is_not_visible(registry: httpx.Client, repo_name: str) -> None:
    other = f"{repo_name}-other"
    _, digest = push_image(registry, other, "v1")
    push_image(registry, repo_name, "mine")
    assert_absent(registry, repo_name, digest)
    assert_absent(registry, repo_name, "v1")


def test_blob_digest_is_not_a_manifest(registry: httpx.Client, repo_name: str) -> None:
    """The config and layers are blobs of the repository; they are not manifests to GET, HEAD or DELETE."""
    data, _ = push_image(registry, repo_name, "v1")
    body = json.loads(data)
    for blob_digest in (body["config"]["digest"], body["layers"][0]["digest"]):
        assert_absent(registry, repo_name, blob_digest)
        assert_error(registry.head(f"/v2/{repo_name}/manifests/{blob_digest}"), 404, "MANIFEST_UNKNOWN")
        assert_error(registry.delete(f"/v2/{repo_name}/manifests/{blob_digest}"), 404, "MANIFEST_UNKNOWN")
        assert registry.get(f"/v2/{repo_name}/blobs/{blob_digest}").status_code == 200


@pytest.mark.parametrize("name", ["Upper/case", "double//slash", "trailing-/x", "a/-lead"])
def test_invalid_repository_name(registry: httpx.Client, name: str) -> None:
    data = image_manifest(default_config("name"), [b"name layer"])
    assert_error(push_manifest(registry, name, "v1", data, mt.OCI_MANIFEST), 400, "NAME_INVALID")
    assert_error(registry.get(f"/v2/{name}/manifests/v1"), 400, "NAME_INVALID")
