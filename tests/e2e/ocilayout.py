"""Write OCI image layout directories (image-spec v1.1 "image-layout") without any container daemon.

A layout holds `oci-layout`, `index.json` and `blobs/sha256/<hex>`. What gets written:

* `write_image` — one image: a real gzip'd tar layer (a couple of files made with `tarfile`), an OCI image
  config (architecture, os, rootfs.diff_ids = sha256 of the *uncompressed* tar, config, history) and an OCI
  image manifest.
* `write_index` — a multi-arch image index whose children (one per platform, e.g. linux/amd64 and
  linux/arm64) each have their own config and layer.

Either is referenced from `index.json`, annotated with `org.opencontainers.image.ref.name` = tag when a tag
is given, so `skopeo copy oci:<dir>:<tag> ...` finds it. Everything is deterministic for a given `seed`
(fixed tar mtimes, gzip mtime 0), so two writes with the same arguments give the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_LAYOUT_VERSION = "1.0.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

# 2024-01-01T00:00:00Z: a fixed timestamp keeps tar headers and configs reproducible.
FIXED_MTIME = 1704067200
FIXED_CREATED = "2024-01-01T00:00:00Z"

DEFAULT_PLATFORMS: tuple[tuple[str, str], ...] = (("linux", "amd64"), ("linux", "arm64"))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=False).encode()


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            out["platform"] = self.platform
        if self.annotations:
            out["annotations"] = self.annotations
        return out


@dataclass
class Image:
    """One single-platform image inside a layout."""

    os: str
    architecture: str
    manifest: Descriptor
    config: Descriptor
    layers: list[Descriptor]
    diff_ids: list[str]
    files: dict[str, bytes]


@dataclass
class Layout:
    """What was written: the top-level descriptor (manifest or index) plus every blob by digest."""

    path: Path
    tag: str | None
    top: Descriptor
    images: list[Image]
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.top.digest

    @property
    def is_index(self) -> bool:
        return self.top.media_type == OCI_INDEX

    def raw(self, digest: str | None = None) -> bytes:
        return self.blobs[digest or self.top.digest]

    def image_for(self, architecture: str, os: str = "linux") -> Image:
        for image in self.images:
            if image.architecture == architecture and image.os == os:
                return image
        raise KeyError(f"{os}/{architecture}")

    def ref(self) -> str:
        """The `oci:` transport reference skopeo understands."""
        return f"oci:{self.path}:{self.tag}" if self.tag else f"oci:{self.path}"


def make_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar with one directory per path component and the given regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d in dirs:
                    continue
                dirs.add(d)
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = FIXED_MTIME
                tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            info.mtime = FIXED_MTIME
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


class _Writer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.blobs: dict[str, bytes] = {}
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)

    def blob(self, media_type: str, data: bytes, **extra: Any) -> Descriptor:
        digest = sha256_digest(data)
        (self.path / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        self.blobs[digest] = data
        return Descriptor(media_type, digest, len(data), **extra)

    def image(self, os: str, architecture: str, seed: str) -> Image:
        files = {
            "etc/berth-release": f"berth e2e image {seed} {os}/{architecture}\n".encode(),
            "app/hello.sh": f"#!/bin/sh\necho hello from {architecture} ({seed})\n".encode(),
            # Some incompressible-ish bytes so the layer is not trivially tiny.
            "app/data.bin": hashlib.shake_256(f"{seed}/{os}/{architecture}".encode()).digest(64 * 1024),
        }
        tar = make_tar(files)
        diff_id = sha256_digest(tar)
        layer = self.blob(OCI_LAYER, gzip_bytes(tar))
        config_obj = {
            "created": FIXED_CREATED,
            "architecture": architecture,
            "os": os,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh", "/app/hello.sh"],
                "WorkingDir": "/app",
                "Labels": {"org.opencontainers.image.title": f"berth-e2e-{seed}"},
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": FIXED_CREATED, "created_by": f"berth e2e ocilayout ({seed})"}],
        }
        config = self.blob(OCI_CONFIG, canonical_json(config_obj))
        manifest_obj = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [layer.to_json()],
        }
        manifest = self.blob(
            OCI_MANIFEST, canonical_json(manifest_obj), platform={"architecture": architecture, "os": os}
        )
        return Image(os, architecture, manifest, config, [layer], [diff_id], files)

    def finish(self, top: Descriptor, tag: str | None) -> None:
        entry = top.to_json()
        if tag:
            entry["annotations"] = {**entry.get("annotations", {}), REF_NAME: tag}
        (self.path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
        (self.path / "index.json").write_bytes(
            canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]})
        )


def write_image(
    path: Path | str,
    tag: str | None = "latest",
    *,
    os: str = "linux",
    architecture: str = "amd64",
    seed: str = "0",
) -> Layout:
    """A layout holding one single-platform image (manifest → config + one gzip'd tar layer)."""
    path = Path(path)
    w = _Writer(path)
    image = w.image(os, architecture, seed)
    # The top-level entry of index.json does not need the platform; keep it plain.
    top = Descriptor(image.manifest.media_type, image.manifest.digest, image.manifest.size)
    w.finish(top, tag)
    return Layout(path, tag, top, [image], w.blobs)


def write_index(
    path: Path | str,
    tag: str | None = "latest",
    *,
    platforms: tuple[tuple[str, str], ...] | list[tuple[str, str]] = DEFAULT_PLATFORMS,
    seed: str = "0",
) -> Layout:
    """A layout whose index.json references a multi-arch image index, one child image per (os, arch)."""
    path = Path(path)
    w = _Writer(path)
    images = [w.image(os_, arch, seed) for os_, arch in platforms]
    index_obj = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [image.manifest.to_json() for image in images],
    }
    top = w.blob(OCI_INDEX, canonical_json(index_obj))
    w.finish(top, tag)
    return Layout(path, tag, top, images, w.blobs)


def read_blobs(path: Path | str) -> dict[str, bytes]:
    """Every blob of a layout directory, keyed by the digest its file name claims."""
    root = Path(path) / "blobs"
    out: dict[str, bytes] = {}
    for algo_dir in root.iterdir():
        for f in algo_dir.iterdir():
            out[f"{algo_dir.name}:{f.name}"] = f.read_bytes()
    return out


def read_index(path: Path | str) -> dict[str, Any]:
    return json.loads((Path(path) / "index.json").read_text())
