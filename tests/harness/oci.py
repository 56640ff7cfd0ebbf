"""Helpers for tests that speak the distribution API: digests, blob pushes, manifests."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

import httpx

from services.common.oci import mediatypes as mt


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def push_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Monolithic upload (POST ?digest=); returns the digest."""
    digest = digest_of(data, algorithm)
    r = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    if r.status_code == 202:
        # A registry that takes no single-POST upload (CNCF Distribution) opened a session: the bytes go with
        # the closing PUT, as Docker sends them. Appended: httpx's `params` would drop the Location's query.
        location = r.headers["Location"]
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        try:
            r = client.put(location, content=data, headers={"Content-Type": "application/octet-stream"})
        except httpx.RemoteProtocolError:
            # It answered the POST without reading its body, and dropped the connection the PUT went on.
            r = client.put(location, content=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return digest


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image_manifest(
    config: bytes,
    layers: list[bytes],
    *,
    media_type: str = mt.OCI_MANIFEST,
    config_media_type: str | None = None,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> bytes:
    docker = media_type == mt.DOCKER_MANIFEST
    layer_type = mt.DOCKER_LAYER if docker else mt.OCI_LAYER
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_media_type or (mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG), config),
        "layers": [descriptor(layer_type, layer) for layer in layers],
    }
    if artifact_type:
        body["artifactType"] = artifact_type
    if subject:
        body["subject"] = subject
    if annotations:
        body["annotations"] = annotations
    return json.dumps(body, indent=2).encode()


def index_manifest(
    manifests: list[tuple[bytes, str, dict[str, str] | None]],
    *,
    media_type: str = mt.OCI_INDEX,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
) -> bytes:
    """`manifests`: (manifest bytes, its media type, platform or None)."""
    entries = []
    for data, child_type, platform in manifests:
        entry = descriptor(child_type, data)
        if platform:
            entry["platform"] = platform
        entries.append(entry)
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if artifact_type:
        body["artifactType"] = artifact_type
    if subject:
        body["subject"] = subject
    return json.dumps(body, indent=2).encode()


def push_manifest(client: httpx.Client, repo: str, reference: str, data: bytes, media_type: str) -> httpx.Response:
    return client.put(f"/v2/{repo}/manifests/{reference}", content=data, headers={"Content-Type": media_type})


def push_image(
    client: httpx.Client,
    repo: str,
    tag: str,
    *,
    layers: list[bytes] | None = None,
    config: bytes | None = None,
    media_type: str = mt.OCI_MANIFEST,
    **manifest_kwargs: Any,
) -> tuple[bytes, str]:
    """Push config + layers + manifest; returns (manifest bytes, manifest digest)."""
    layers = layers if layers is not None else [f"layer of {repo}:{tag}".encode()]
    config = config if config is not None else json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for blob in [config, *layers]:
        push_blob(client, repo, blob)
    manifest = image_manifest(config, layers, media_type=media_type, **manifest_kwargs)
    r = push_manifest(client, repo, tag, manifest, media_type)
    assert r.status_code == 201, r.text
    return manifest, digest_of(manifest)


def gzip_tar(files: dict[str, bytes]) -> bytes:
    """A .tar.gz of `files` (path in the archive → bytes), as a Helm chart's layer is."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
