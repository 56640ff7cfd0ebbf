"""services.registry.manifest_parse: what a pushed manifest is and what it references."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.common.oci import mediatypes as mt
from services.registry.errors import ManifestInvalid
from services.registry.manifest_parse import ParsedManifest, parse_manifest
from tests.harness.oci import digest_of

CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER_A = b"layer a"
LAYER_B = b"layer b"
FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


def desc(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image(media_type: str | None = mt.OCI_MANIFEST, **fields: Any) -> dict[str, Any]:
    docker = media_type == mt.DOCKER_MANIFEST
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        doc["mediaType"] = media_type
    doc["config"] = desc(mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, CONFIG)
    layer_type = mt.DOCKER_LAYER if docker else mt.OCI_LAYER
    doc["layers"] = [desc(layer_type, LAYER_A), desc(layer_type, LAYER_B)]
    doc.update(fields)
    return doc


def index(media_type: str | None = mt.OCI_INDEX, **fields: Any) -> dict[str, Any]:
    child = mt.DOCKER_MANIFEST if media_type == mt.DOCKER_LIST else mt.OCI_MANIFEST
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        doc["mediaType"] = media_type
    doc["manifests"] = [
        desc(child, b"amd64 manifest", platform={"architecture": "amd64", "os": "linux"}),
        desc(child, b"arm64 manifest", platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
    ]
    doc.update(fields)
    return doc


def parse(doc: Any, content_type: str | None = None) -> ParsedManifest:
    return parse_manifest(json.dumps(doc).encode(), content_type)


def invalid(doc: Any, content_type: str | None = None, match: str | None = None) -> ManifestInvalid:
    with pytest.raises(ManifestInvalid, match=match) as info:
        parse(doc, content_type)
    return info.value


# --- image manifests ----------------------------------------------------------------------------------


def test_oci_image_manifest() -> None:
    parsed = parse(image(), mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST
    assert parsed.blob_digests == (digest_of(CONFIG), digest_of(LAYER_A), digest_of(LAYER_B))
    assert parsed.child_digests == ()
    assert parsed.artifact_type == mt.OCI_CONFIG  # defaults to the config's media type
    assert parsed.subject_digest is None
    assert parsed.annotations is None


def test_media_type_from_body_alone() -> None:
    assert parse(image(), None).media_type == mt.OCI_MANIFEST


def test_media_type_from_header_alone() -> None:
    assert parse(image(media_type=None), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST


def test_content_type_parameters_are_ignored() -> None:
    parsed = parse(image(), f"{mt.OCI_MANIFEST}; charset=utf-8")
    assert parsed.media_type == mt.OCI_MANIFEST
    parsed = parse(image(media_type=None), f"  {mt.OCI_MANIFEST} ;charset=utf-8")
    assert parsed.media_type == mt.OCI_MANIFEST


def test_non_manifest_content_type_does_not_conflict_with_body() -> None:
    assert parse(image(), "application/json").media_type == mt.OCI_MANIFEST


def test_blob_digests_are_deduplicated_in_order() -> None:
    doc = image()
    doc["layers"] = [
        desc(mt.OCI_LAYER, LAYER_B),
        desc(mt.OCI_LAYER, LAYER_A),
        desc(mt.OCI_LAYER, LAYER_B),
        desc(mt.OCI_LAYER, CONFIG),  # same bytes as the config
    ]
    assert parse(doc).blob_digests == (digest_of(CONFIG), digest_of(LAYER_B), digest_of(LAYER_A))


def test_no_layers() -> None:
    assert parse(image(layers=[])).blob_digests == (digest_of(CONFIG),)


def test_explicit_artifact_type_wins() -> None:
    doc = image(artifactType="application/vnd.example.sbom")
    doc["config"] = desc(mt.OCI_EMPTY, mt.EMPTY_JSON)
    parsed = parse(doc)
    assert parsed.artifact_type == "application/vnd.example.sbom"
    assert parsed.blob_digests[0] == mt.EMPTY_JSON_DIGEST


def test_artifact_type_defaults_to_custom_config_media_type() -> None:
    doc = image()
    doc["config"] = desc("application/vnd.cncf.helm.config.v1+json", CONFIG)
    assert parse(doc).artifact_type == "application/vnd.cncf.helm.config.v1+json"


def test_docker_schema2_manifest() -> None:
    parsed = parse(image(mt.DOCKER_MANIFEST), mt.DOCKER_MANIFEST)
    assert parsed.media_type == mt.DOCKER_MANIFEST
    assert parsed.blob_digests == (digest_of(CONFIG), digest_of(LAYER_A), digest_of(LAYER_B))
    assert parsed.artifact_type == mt.DOCKER_CONFIG
    assert parsed.child_digests == ()


@pytest.mark.parametrize("media_type", [FOREIGN, NONDISTRIBUTABLE])
def test_foreign_layers_with_urls_are_not_blobs(media_type: str) -> None:
    doc = image()
    doc["layers"].insert(0, desc(media_type, b"windows base", urls=["https://mcr.example/base.tar.gz"]))
    assert parse(doc).blob_digests == (digest_of(CONFIG), digest_of(LAYER_A), digest_of(LAYER_B))


def test_foreign_layers_without_urls_are_blobs() -> None:
    doc = image()
    doc["layers"].append(desc(FOREIGN, b"pushed anyway"))
    doc["layers"].append(desc(FOREIGN, b"empty urls", urls=[]))
    assert parse(doc).blob_digests[-2:] == (digest_of(b"pushed anyway"), digest_of(b"empty urls"))


def test_ordinary_layer_with_urls_is_a_blob() -> None:
    doc = image()
    doc["layers"] = [desc(mt.OCI_LAYER, LAYER_A, urls=["https://elsewhere.example/a"])]
    assert parse(doc).blob_digests == (digest_of(CONFIG), digest_of(LAYER_A))


def test_sha512_descriptors() -> None:
    doc = image()
    doc["layers"] = [{"mediaType": mt.OCI_LAYER, "digest": digest_of(LAYER_A, "sha512"), "size": len(LAYER_A)}]
    assert parse(doc).blob_digests[1] == digest_of(LAYER_A, "sha512")


# --- indexes ------------------------------------------------------------------------------------------


def test_oci_index() -> None:
    parsed = parse(index(), mt.OCI_INDEX)
    assert parsed.media_type == mt.OCI_INDEX
    assert parsed.blob_digests == ()
    assert parsed.artifact_type is None
    assert parsed.child_digests == (
        (digest_of(b"amd64 manifest"), {"architecture": "amd64", "os": "linux"}),
        (digest_of(b"arm64 manifest"), {"architecture": "arm64", "os": "linux", "variant": "v8"}),
    )


def test_docker_manifest_list() -> None:
    parsed = parse(index(mt.DOCKER_LIST), mt.DOCKER_LIST)
    assert parsed.media_type == mt.DOCKER_LIST
    assert [d for d, _ in parsed.child_digests] == [digest_of(b"amd64 manifest"), digest_of(b"arm64 manifest")]
    assert parsed.child_digests[1][1] == {"architecture": "arm64", "os": "linux", "variant": "v8"}


def test_index_child_without_platform() -> None:
    doc = index(manifests=[desc(mt.OCI_MANIFEST, b"m")])
    assert parse(doc).child_digests == ((digest_of(b"m"), None),)


def test_index_duplicate_children_keep_first_platform() -> None:
    doc = index(
        manifests=[
            desc(mt.OCI_MANIFEST, b"m", platform={"os": "linux"}),
            desc(mt.OCI_MANIFEST, b"m", platform={"os": "windows"}),
        ]
    )
    assert parse(doc).child_digests == ((digest_of(b"m"), {"os": "linux"}),)


def test_empty_index() -> None:
    assert parse(index(manifests=[])).child_digests == ()


def test_index_artifact_type() -> None:
    assert parse(index(artifactType="application/vnd.example.bundle")).artifact_type == (
        "application/vnd.example.bundle"
    )


def test_index_platform_must_be_an_object() -> None:
    invalid(index(manifests=[desc(mt.OCI_MANIFEST, b"m", platform="linux/amd64")]), match="platform")


# --- subject and annotations --------------------------------------------------------------------------


def test_subject_digest() -> None:
    subject = desc(mt.OCI_MANIFEST, b"the subject")
    parsed = parse(image(subject=subject))
    assert parsed.subject_digest == digest_of(b"the subject")
    assert digest_of(b"the subject") not in parsed.blob_digests


def test_subject_on_an_index() -> None:
    assert parse(index(subject=desc(mt.OCI_INDEX, b"s"))).subject_digest == digest_of(b"s")


def test_null_subject_is_none() -> None:
    assert parse(image(subject=None)).subject_digest is None


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param("sha256:abc", id="string"),
        pytest.param({"mediaType": mt.OCI_MANIFEST, "size": 1}, id="no-digest"),
        pytest.param({"mediaType": mt.OCI_MANIFEST, "size": 1, "digest": "sha256:zz"}, id="bad-digest"),
    ],
)
def test_invalid_subject(subject: Any) -> None:
    invalid(image(subject=subject), match="subject")


def test_annotations() -> None:
    annotations = {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "empty": ""}
    assert parse(image(annotations=annotations)).annotations == annotations
    assert parse(index(annotations=annotations)).annotations == annotations


def test_empty_annotations() -> None:
    assert parse(image(annotations={})).annotations == {}


@pytest.mark.parametrize(
    "annotations",
    [
        pytest.param({"a": 1}, id="int"),
        pytest.param({"a": None}, id="null"),
        pytest.param({"a": True}, id="bool"),
        pytest.param({"a": ["x"]}, id="list"),
        pytest.param({"a": {"b": "c"}}, id="object"),
        pytest.param(["a"], id="not-a-map"),
        pytest.param("a=b", id="string"),
    ],
)
def test_invalid_annotations(annotations: Any) -> None:
    invalid(image(annotations=annotations), match="annotations")
    invalid(index(annotations=annotations), match="annotations")


@pytest.mark.parametrize("artifact_type", ["", 5, ["x"]])
def test_invalid_artifact_type(artifact_type: Any) -> None:
    invalid(image(artifactType=artifact_type), match="artifactType")


# --- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"not json", id="text"),
        pytest.param(b"\xff\xfe\xfd", id="binary"),
        pytest.param(b'{"schemaVersion": 2,}', id="trailing-comma"),
    ],
)
def test_not_json(body: bytes) -> None:
    with pytest.raises(ManifestInvalid, match="JSON"):
        parse_manifest(body, mt.OCI_MANIFEST)


def test_deeply_nested_json_is_invalid_not_a_crash() -> None:
    # Within max_manifest_bytes, a client can send nesting deep enough to exhaust the decoder's recursion.
    body = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ManifestInvalid):
        parse_manifest(body, mt.OCI_MANIFEST)


@pytest.mark.parametrize("doc", [[], [image()], "manifest", 2, None])
def test_not_an_object(doc: Any) -> None:
    invalid(doc, mt.OCI_MANIFEST, match="JSON object")


@pytest.mark.parametrize("version", [1, 3, "2", None])
def test_schema_version_must_be_2(version: Any) -> None:
    invalid(image(schemaVersion=version), mt.OCI_MANIFEST, match="schemaVersion")


def test_schema_version_missing() -> None:
    doc = image()
    del doc["schemaVersion"]
    invalid(doc, mt.OCI_MANIFEST, match="schemaVersion")


def test_schema1_manifest() -> None:
    doc = {
        "schemaVersion": 1,
        "name": "library/app",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": digest_of(LAYER_A)}],
    }
    invalid(doc, "application/vnd.docker.distribution.manifest.v1+prettyjws", match="schemaVersion")


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        (image(mt.OCI_MANIFEST), mt.DOCKER_MANIFEST),
        (image(mt.OCI_MANIFEST), mt.OCI_INDEX),
        (index(mt.OCI_INDEX), mt.DOCKER_LIST),
        (image(mt.DOCKER_MANIFEST), f"{mt.OCI_MANIFEST}; charset=utf-8"),
    ],
)
def test_body_media_type_disagrees_with_content_type(doc: dict[str, Any], content_type: str) -> None:
    invalid(doc, content_type, match="does not match Content-Type")


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        pytest.param(image(media_type=None), None, id="none-at-all"),
        pytest.param(image(media_type=None), "application/json", id="json-header"),
        pytest.param(image(media_type=None), "application/vnd.example+json", id="unknown-header"),
        pytest.param(image("application/vnd.example.manifest+json"), None, id="unknown-body"),
        pytest.param(image(mt.OCI_CONFIG), mt.OCI_CONFIG, id="config-media-type"),
        pytest.param(image(media_type=None), "", id="empty-header"),
    ],
)
def test_unsupported_media_type(doc: dict[str, Any], content_type: str | None) -> None:
    invalid(doc, content_type, match="unsupported manifest media type")


def test_media_type_not_a_string() -> None:
    invalid(image(media_type=None, mediaType=5), mt.OCI_MANIFEST, match="mediaType must be a string")


def _layer(**overrides: Any) -> dict[str, Any]:
    layer = desc(mt.OCI_LAYER, LAYER_A)
    layer.update(overrides)
    return {k: v for k, v in layer.items() if v is not ...}


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        pytest.param(_layer(digest=...), r"layers\[0\]\.digest", id="missing-digest"),
        pytest.param(_layer(digest=None), r"layers\[0\]\.digest", id="null-digest"),
        pytest.param(_layer(digest=5), r"layers\[0\]\.digest", id="int-digest"),
        pytest.param(_layer(digest="sha256:abc"), r"layers\[0\]\.digest", id="short-digest"),
        pytest.param(_layer(digest="SHA256:" + "a" * 64), r"layers\[0\]\.digest", id="upper-algorithm"),
        pytest.param(_layer(digest="md5:" + "a" * 32), r"layers\[0\]\.digest", id="md5"),
        pytest.param(_layer(size=-1), r"layers\[0\]\.size", id="negative-size"),
        pytest.param(_layer(size=True), r"layers\[0\]\.size", id="bool-size"),
        pytest.param(_layer(size=1.0), r"layers\[0\]\.size", id="float-size"),
        pytest.param(_layer(size="7"), r"layers\[0\]\.size", id="string-size"),
        pytest.param(_layer(size=...), r"layers\[0\]\.size", id="missing-size"),
        pytest.param(_layer(mediaType=...), r"layers\[0\]\.mediaType", id="missing-media-type"),
        pytest.param(_layer(mediaType=""), r"layers\[0\]\.mediaType", id="empty-media-type"),
        pytest.param("sha256:" + "a" * 64, r"layers\[0\] must be a descriptor", id="string"),
        pytest.param(None, r"layers\[0\] must be a descriptor", id="null"),
    ],
)
def test_bad_layer_descriptor(layer: Any, match: str) -> None:
    invalid(image(layers=[layer]), mt.OCI_MANIFEST, match=match)


def test_zero_size_descriptor_is_fine() -> None:
    assert parse(image(layers=[desc(mt.OCI_LAYER, b"")])).blob_digests[1] == digest_of(b"")


def test_bad_descriptor_position_is_named() -> None:
    doc = image()
    doc["layers"].append(_layer(size=-5))
    invalid(doc, match=r"layers\[2\]\.size")


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(..., id="missing"),
        pytest.param(None, id="null"),
        pytest.param([], id="list"),
        pytest.param({"mediaType": mt.OCI_CONFIG, "size": 2}, id="no-digest"),
    ],
)
def test_bad_config(config: Any) -> None:
    doc = image()
    if config is ...:
        del doc["config"]
    else:
        doc["config"] = config
    invalid(doc, match="config")


@pytest.mark.parametrize("layers", [None, {}, "layers", 3])
def test_layers_not_a_list(layers: Any) -> None:
    invalid(image(layers=layers), match="layers must be a list")


def test_layers_missing() -> None:
    doc = image()
    del doc["layers"]
    invalid(doc, match="layers must be a list")


@pytest.mark.parametrize("manifests", [None, {}, "m"])
def test_manifests_not_a_list(manifests: Any) -> None:
    invalid(index(manifests=manifests), match="manifests must be a list")


def test_manifests_missing() -> None:
    doc = index()
    del doc["manifests"]
    invalid(doc, match="manifests must be a list")


def test_bad_index_entry() -> None:
    doc = index()
    doc["manifests"][1]["digest"] = "sha256:nothex"
    invalid(doc, match=r"manifests\[1\]\.digest")


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_LIST])
def test_index_with_config(media_type: str) -> None:
    invalid(index(media_type, config=desc(mt.OCI_CONFIG, CONFIG)), match="must not have 'config'")


def test_index_with_layers() -> None:
    invalid(index(layers=[]), match="must not have 'config' or 'layers'")


@pytest.mark.parametrize("media_type", [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
def test_image_manifest_with_manifests(media_type: str) -> None:
    invalid(image(media_type, manifests=[]), match="must not have 'manifests'")


def test_errors_are_manifest_invalid_with_400() -> None:
    err = invalid({"schemaVersion": 1})
    assert err.code == "MANIFEST_INVALID"
    assert err.status == 400
