"""Understanding a pushed manifest: which kind it is and what it references. Pure; no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.common.oci import mediatypes as mt
from services.common.oci.digest import InvalidDigest, parse_digest
from services.registry.errors import ManifestInvalid

# Layers that live elsewhere (Windows base layers): the registry never holds their bytes.
FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    artifact_type: str | None
    subject_digest: str | None
    annotations: dict[str, Any] | None
    blob_digests: tuple[str, ...]
    child_digests: tuple[tuple[str, dict[str, Any] | None], ...]
    # An image manifest's config descriptor: (digest, media type, size); None for an index.
    config: tuple[str, str, int] | None = None
    # An image manifest's layers held here, as (digest, media type, size), in order.
    layers: tuple[tuple[str, str, int], ...] = ()


def _media_type_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip() or None


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    if not isinstance(value.get("mediaType"), str) or not value["mediaType"]:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    try:
        parse_digest(digest)
    except InvalidDigest as exc:
        raise ManifestInvalid(f"{where}.digest: {exc}") from None
    return value


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("manifest schemaVersion must be 2 (schema 1 is not supported)")

    declared = doc.get("mediaType")
    header = _media_type_of(content_type)
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("manifest mediaType must be a string")
    if declared and header and header in mt.MANIFESTS and declared != header:
        raise ManifestInvalid(f"manifest mediaType {declared!r} does not match Content-Type {header!r}")
    media_type = declared or header
    if media_type not in mt.MANIFESTS:
        raise ManifestInvalid(
            f"unsupported manifest media type {media_type!r}; supported: {', '.join(sorted(mt.MANIFESTS))}"
        )

    artifact_type = doc.get("artifactType")
    if artifact_type is not None and (not isinstance(artifact_type, str) or not artifact_type):
        raise ManifestInvalid("artifactType must be a non-empty string")
    annotations = doc.get("annotations")
    if annotations is not None and not (
        isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())
    ):
        raise ManifestInvalid("annotations must map strings to strings")
    subject_digest = None
    if doc.get("subject") is not None:
        subject_digest = _descriptor(doc["subject"], "subject")["digest"]

    if media_type in mt.IMAGE_MANIFESTS:
        if "manifests" in doc:
            raise ManifestInvalid("an image manifest must not have 'manifests'")
        config = _descriptor(doc.get("config"), "config")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise ManifestInvalid("layers must be a list of descriptors")
        blobs = [config["digest"]]
        held: list[tuple[str, str, int]] = []
        for i, layer in enumerate(layers):
            layer = _descriptor(layer, f"layers[{i}]")
            if layer["mediaType"] in FOREIGN_LAYERS and layer.get("urls"):
                continue
            blobs.append(layer["digest"])
            held.append((layer["digest"], layer["mediaType"], layer["size"]))
        if artifact_type is None:
            artifact_type = config["mediaType"]
        return ParsedManifest(
            media_type=media_type,
            artifact_type=artifact_type,
            subject_digest=subject_digest,
            annotations=annotations,
            blob_digests=tuple(dict.fromkeys(blobs)),
            child_digests=(),
            config=(config["digest"], config["mediaType"], config["size"]),
            layers=tuple(held),
        )

    if "config" in doc or "layers" in doc:
        raise ManifestInvalid("an index must not have 'config' or 'layers'")
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise ManifestInvalid("manifests must be a list of descriptors")
    children: dict[str, dict[str, Any] | None] = {}
    for i, entry in enumerate(manifests):
        entry = _descriptor(entry, f"manifests[{i}]")
        platform = entry.get("platform")
        if platform is not None and not isinstance(platform, dict):
            raise ManifestInvalid(f"manifests[{i}].platform must be an object")
        children.setdefault(entry["digest"], platform)
    return ParsedManifest(
        media_type=media_type,
        artifact_type=artifact_type,
        subject_digest=subject_digest,
        annotations=annotations,
        blob_digests=(),
        child_digests=tuple(children.items()),
    )
