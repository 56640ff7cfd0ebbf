"""The referrers API (GET /v2/<name>/referrers/<digest>), distribution spec v1.1 "Listing Referrers".

The answer is an OCI image index whose `manifests` describe every manifest in the repository whose
`subject` is the digest: mediaType, digest, size, artifactType (the manifest's, else its config's media
type; omitted for an index without one) and the manifest's annotations.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

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

EMPTY_DESCRIPTOR = {"mediaType": mt.OCI_EMPTY, "digest": mt.EMPTY_JSON_DIGEST, "size": 2}
LINK_RE = re.compile(r'^\s*<([^>]+)>\s*;\s*rel="?next"?\s*$')

SBOM = "application/vnd.example.sbom.v1+json"
SIGNATURE = "application/vnd.example.signature.v1"
BUNDLE = "application/vnd.example.bundle.v1"
CUSTOM_CONFIG = "application/vnd.example.config.v1+json"


def subject_of(data: bytes, media_type: str = mt.OCI_MANIFEST) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}


def push_artifact(
    client: httpx.Client,
    repo: str,
    artifact_type: str,
    subject: dict[str, Any],
    *,
    annotations: dict[str, str] | None = None,
    reference: str | None = None,
) -> tuple[bytes, str]:
    """An artifact manifest (empty config, one payload layer) with `subject`; pushed by digest unless told."""
    payload = f"{artifact_type} payload {uuid.uuid4().hex}".encode()
    push_blob(client, repo, mt.EMPTY_JSON)
    push_blob(client, repo, payload)
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": dict(EMPTY_DESCRIPTOR),
        "layers": [descriptor("application/vnd.example.payload", payload)],
        "subject": subject,
    }
    if annotations is not None:
        body["annotations"] = annotations
    data = json.dumps(body).encode()
    digest = digest_of(data)
    r = push_manifest(client, repo, reference or digest, data, mt.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert r.headers.get("OCI-Subject") == subject["digest"]
    return data, digest


def list_referrers(
    client: httpx.Client, repo: str, digest: str, artifact_type: str | None = None
) -> tuple[list[dict[str, Any]], httpx.Response]:
    """Every referrer descriptor (following `Link` pages if the registry pages), and the first response."""
    params = {"artifactType": artifact_type} if artifact_type is not None else None
    first = client.get(f"/v2/{repo}/referrers/{digest}", params=params)
    descriptors: list[dict[str, Any]] = []
    r = first
    for _ in range(100):
        assert r.status_code == 200, r.text
        assert r.headers.get("Content-Type") == mt.OCI_INDEX
        body = r.json()
        assert body.get("schemaVersion") == 2, body
        assert body.get("mediaType") == mt.OCI_INDEX, body
        assert isinstance(body.get("manifests"), list), body
        descriptors.extend(body["manifests"])
        link = r.headers.get("Link")
        if not link:
            break
        match = LINK_RE.match(link)
        assert match, link
        r = client.get(match.group(1))
    else:
        pytest.fail("referrers paging does not end")
    return descriptors, first


def by_digest(descriptors: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    result = {d["digest"]: d for d in descriptors}
    assert len(result) == len(descriptors), f"a referrer is listed twice: {descriptors}"
    return result


def assert_descriptor(
    d: dict[str, Any],
    data: bytes,
    media_type: str,
    artifact_type: str | None,
    annotations: dict[str, str] | None = None,
) -> None:
    assert d["mediaType"] == media_type, d
    assert d["digest"] == digest_of(data), d
    assert d["size"] == len(data), d
    if artifact_type is None:
        assert "artifactType" not in d, d
    else:
        assert d.get("artifactType") == artifact_type, d
    if annotations:
        assert d.get("annotations") == annotations, d
    else:
        assert d.get("annotations") in (None, {}), d


# ------------------------------------------------------------------------------------------- tests


def test_no_referrers(registry: httpx.Client, repo_name: str) -> None:
    _, subject_digest = push_image(registry, repo_name, "v1")
    descriptors, r = list_referrers(registry, repo_name, subject_digest)
    assert descriptors == []
    assert "OCI-Filters-Applied" not in r.headers


def test_unknown_subject_is_an_empty_index(registry: httpx.Client, repo_name: str) -> None:
    push_image(registry, repo_name, "v1")
    unknown = digest_of(b"no such manifest " + uuid.uuid4().bytes)
    descriptors, _ = list_referrers(registry, repo_name, unknown)
    assert descriptors == []


def test_referrer_descriptors(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    sbom, _ = push_artifact(
        registry,
        repo_name,
        SBOM,
        subject_of(subject),
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "org.example.k": "v"},
    )
    signature, _ = push_artifact(registry, repo_name, SIGNATURE, subject_of(subject))

    # An image manifest without artifactType: the descriptor takes its config's media type.
    config, layer = b'{"custom": true}', b"custom layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    plain = image_manifest(
        config, [layer], config_media_type=CUSTOM_CONFIG, subject=subject_of(subject), annotations={"a": "b"}
    )
    r = push_manifest(registry, repo_name, "plain", plain, mt.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert r.headers.get("OCI-Subject") == subject_digest

    descriptors, resp = list_referrers(registry, repo_name, subject_digest)
    assert "OCI-Filters-Applied" not in resp.headers
    found = by_digest(descriptors)
    assert set(found) == {digest_of(sbom), digest_of(signature), digest_of(plain)}
    assert_descriptor(
        found[digest_of(sbom)],
        sbom,
        mt.OCI_MANIFEST,
        SBOM,
        {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "org.example.k": "v"},
    )
    assert_descriptor(found[digest_of(signature)], signature, mt.OCI_MANIFEST, SIGNATURE)
    assert_descriptor(found[digest_of(plain)], plain, mt.OCI_MANIFEST, CUSTOM_CONFIG, {"a": "b"})


def test_image_referrer_with_standard_config(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    config, layer = b'{"os": "linux", "architecture": "arm64"}', b"derived layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    derived = image_manifest(config, [layer], subject=subject_of(subject))
    assert push_manifest(registry, repo_name, "derived", derived, mt.OCI_MANIFEST).status_code == 201
    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    assert len(descriptors) == 1
    assert_descriptor(descriptors[0], derived, mt.OCI_MANIFEST, mt.OCI_CONFIG)


def test_referrers_pushed_before_their_subject(registry: httpx.Client, repo_name: str) -> None:
    config, layer = b'{"os": "linux"}', b"late subject layer"
    subject = image_manifest(config, [layer])
    subject_digest = digest_of(subject)
    sbom, _ = push_artifact(registry, repo_name, SBOM, subject_of(subject))

    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    assert [d["digest"] for d in descriptors] == [digest_of(sbom)]

    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    assert push_manifest(registry, repo_name, "v1", subject, mt.OCI_MANIFEST).status_code == 201
    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    assert len(descriptors) == 1
    assert_descriptor(descriptors[0], sbom, mt.OCI_MANIFEST, SBOM)


def test_filter_by_artifact_type(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    sbom1, _ = push_artifact(registry, repo_name, SBOM, subject_of(subject), annotations={"n": "1"})
    sbom2, _ = push_artifact(registry, repo_name, SBOM, subject_of(subject), annotations={"n": "2"})
    push_artifact(registry, repo_name, SIGNATURE, subject_of(subject))

    # SBOM contains "+": it must survive query-string encoding.
    descriptors, r = list_referrers(registry, repo_name, subject_digest, SBOM)
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    found = by_digest(descriptors)
    assert set(found) == {digest_of(sbom1), digest_of(sbom2)}
    assert_descriptor(found[digest_of(sbom1)], sbom1, mt.OCI_MANIFEST, SBOM, {"n": "1"})

    descriptors, r = list_referrers(registry, repo_name, subject_digest, SIGNATURE)
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    assert [d["artifactType"] for d in descriptors] == [SIGNATURE]

    descriptors, r = list_referrers(registry, repo_name, subject_digest, "application/vnd.example.nothing")
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    assert descriptors == []

    descriptors, r = list_referrers(registry, repo_name, subject_digest)
    assert "OCI-Filters-Applied" not in r.headers
    assert len(descriptors) == 3


def test_filter_matches_config_media_type_fallback(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    config, layer = b'{"custom": 1}', b"custom-config layer"
    push_blob(registry, repo_name, config)
    push_blob(registry, repo_name, layer)
    plain = image_manifest(config, [layer], config_media_type=CUSTOM_CONFIG, subject=subject_of(subject))
    assert push_manifest(registry, repo_name, digest_of(plain), plain, mt.OCI_MANIFEST).status_code == 201
    push_artifact(registry, repo_name, SBOM, subject_of(subject))

    descriptors, r = list_referrers(registry, repo_name, subject_digest, CUSTOM_CONFIG)
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    assert [d["digest"] for d in descriptors] == [digest_of(plain)]


def test_deleting_a_referrer_removes_it(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    keep, _ = push_artifact(registry, repo_name, SBOM, subject_of(subject))
    _, gone_digest = push_artifact(registry, repo_name, SIGNATURE, subject_of(subject), reference="sig")
    assert len(list_referrers(registry, repo_name, subject_digest)[0]) == 2

    assert registry.delete(f"/v2/{repo_name}/manifests/{gone_digest}").status_code == 202
    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    assert [d["digest"] for d in descriptors] == [digest_of(keep)]
    assert list_referrers(registry, repo_name, subject_digest, SIGNATURE)[0] == []


def test_deleting_a_referrer_tag_keeps_it(registry: httpx.Client, repo_name: str) -> None:
    """Referrers are manifests, not tags: untagging one leaves it listed."""
    subject, subject_digest = push_image(registry, repo_name, "v1")
    sbom, _ = push_artifact(registry, repo_name, SBOM, subject_of(subject), reference="sbom")
    assert registry.delete(f"/v2/{repo_name}/manifests/sbom").status_code == 202
    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    assert [d["digest"] for d in descriptors] == [digest_of(sbom)]


def test_referrer_pushed_twice_is_listed_once(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    sbom, digest = push_artifact(registry, repo_name, SBOM, subject_of(subject), reference="sbom")
    for reference in ("sbom", "sbom-again", digest):
        r = push_manifest(registry, repo_name, reference, sbom, mt.OCI_MANIFEST)
        assert r.status_code == 201, r.text
    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    assert [d["digest"] for d in descriptors] == [digest]


def _push_index_children(client: httpx.Client, repo: str) -> list[tuple[bytes, str, dict[str, str] | None]]:
    children: list[tuple[bytes, str, dict[str, str] | None]] = []
    for arch in ("amd64", "arm64"):
        config = json.dumps({"architecture": arch, "os": "linux"}).encode()
        layer = f"{arch} layer {uuid.uuid4().hex}".encode()
        push_blob(client, repo, config)
        push_blob(client, repo, layer)
        child = image_manifest(config, [layer])
        assert push_manifest(client, repo, digest_of(child), child, mt.OCI_MANIFEST).status_code == 201
        children.append((child, mt.OCI_MANIFEST, {"architecture": arch, "os": "linux"}))
    return children


def test_index_as_a_referrer(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    children = _push_index_children(registry, repo_name)
    bundle = index_manifest(children, artifact_type=BUNDLE, subject=subject_of(subject))
    r = push_manifest(registry, repo_name, "bundle", bundle, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    assert r.headers.get("OCI-Subject") == subject_digest

    untyped = index_manifest(children[:1], subject=subject_of(subject))
    r = push_manifest(registry, repo_name, digest_of(untyped), untyped, mt.OCI_INDEX)
    assert r.status_code == 201, r.text
    assert r.headers.get("OCI-Subject") == subject_digest

    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    found = by_digest(descriptors)
    assert set(found) == {digest_of(bundle), digest_of(untyped)}
    assert_descriptor(found[digest_of(bundle)], bundle, mt.OCI_INDEX, BUNDLE)
    # An index without artifactType has none to report: the field is omitted.
    assert_descriptor(found[digest_of(untyped)], untyped, mt.OCI_INDEX, None)

    descriptors, _ = list_referrers(registry, repo_name, subject_digest, BUNDLE)
    assert [d["digest"] for d in descriptors] == [digest_of(bundle)]


def test_referrers_of_an_index_subject(registry: httpx.Client, repo_name: str) -> None:
    children = _push_index_children(registry, repo_name)
    index = index_manifest(children)
    assert push_manifest(registry, repo_name, "multi", index, mt.OCI_INDEX).status_code == 201
    signature, _ = push_artifact(registry, repo_name, SIGNATURE, subject_of(index, mt.OCI_INDEX))
    descriptors, _ = list_referrers(registry, repo_name, digest_of(index))
    assert len(descriptors) == 1
    assert_descriptor(descriptors[0], signature, mt.OCI_MANIFEST, SIGNATURE)
    # The children have no referrers of their own.
    assert list_referrers(registry, repo_name, digest_of(children[0][0]))[0] == []


def test_referrer_chain(registry: httpx.Client, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    sbom, sbom_digest = push_artifact(registry, repo_name, SBOM, subject_of(subject))
    signature, _ = push_artifact(registry, repo_name, SIGNATURE, subject_of(sbom))
    assert [d["digest"] for d in list_referrers(registry, repo_name, subject_digest)[0]] == [sbom_digest]
    descriptors, _ = list_referrers(registry, repo_name, sbom_digest)
    assert len(descriptors) == 1
    assert_descriptor(descriptors[0], signature, mt.OCI_MANIFEST, SIGNATURE)


def test_referrers_are_scoped_to_the_repository(registry: httpx.Client, repo_name: str) -> None:
    other = f"{repo_name}-other"
    subject, subject_digest = push_image(registry, repo_name, "v1")
    push_image(registry, other, "v1", layers=[f"layer of {repo_name}:v1".encode()])
    # The same subject bytes exist in both repositories; the referrer only in `other`.
    push_artifact(registry, other, SBOM, subject_of(subject))
    assert list_referrers(registry, repo_name, subject_digest)[0] == []
    assert len(list_referrers(registry, other, subject_digest)[0]) == 1


def test_referrers_in_multi_level_repository(registry: httpx.Client, repo_name: str) -> None:
    repo = f"{repo_name}/team/app"
    subject, subject_digest = push_image(registry, repo, "v1")
    sbom, _ = push_artifact(registry, repo, SBOM, subject_of(subject))
    descriptors, _ = list_referrers(registry, repo, subject_digest)
    assert [d["digest"] for d in descriptors] == [digest_of(sbom)]


@pytest.mark.parametrize("reference", ["sha256:abc", "notadigest", "latest", "sha256:" + "G" * 64])
def test_invalid_digest_is_400(registry: httpx.Client, repo_name: str, reference: str) -> None:
    push_image(registry, repo_name, "v1")
    r = registry.get(f"/v2/{repo_name}/referrers/{reference}")
    assert_error(r, 400, None)


def test_referrers_survive_restart(registry: httpx.Client, registry_server: Any, repo_name: str) -> None:
    subject, subject_digest = push_image(registry, repo_name, "v1")
    sbom, _ = push_artifact(registry, repo_name, SBOM, subject_of(subject), annotations={"k": "v"})
    registry_server.restart()
    descriptors, _ = list_referrers(registry, repo_name, subject_digest)
    assert len(descriptors) == 1
    assert_descriptor(descriptors[0], sbom, mt.OCI_MANIFEST, SBOM, {"k": "v"})
