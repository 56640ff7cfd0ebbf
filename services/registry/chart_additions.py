"""What Harbor's API shows of a Helm chart beyond its Chart.yaml (the artifact's "additions"): its
README.md, values.yaml and dependencies, read from the chart layer at push and kept with the manifest,
because core has no storage driver (the blobs may be on S3). Bounded: a layer larger than MAX_CHART_BYTES
is not opened, a file larger than MAX_FILE_BYTES is not kept; a chart that does not unpack keeps nothing
(the push itself stands: Helm checked the chart, and the registry stores bytes, not opinions).

The chart's icon too (Harbor's GET /icons/{digest}), but never fetched from where Chart.yaml's `icon`
points: Harbor downloads that URL, which would let anyone who may push make this server request any
address (SSRF). Berth keeps an icon the chart carries itself: a `data:` URL in Chart.yaml, or a file of
the archive the `icon` names relatively (`icon: icon.png`); a raster image must look like its type."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import posixpath
import tarfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import yaml

from services.common.oci.digest import InvalidDigest, parse_digest
from services.common.storage import PathNotFound, StorageDriver
from services.common.storage.paths import blob_path

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_CHART_BYTES = 16 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024
README, VALUES, DEPENDENCIES = "readme.md", "values.yaml", "dependencies"
MAX_ICON_BYTES = 256 * 1024
ICON_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
              ".svg": "image/svg+xml", ".webp": "image/webp"}  # fmt: skip
# The first bytes of each raster type; an SVG is text that has an <svg element.
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a"),
          "image/webp": (b"RIFF",)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChartIcon:
    digest: str  # sha256 of `content`: what the artifact's `icon` names
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ChartContents:
    additions: dict[str, Any]
    icon: ChartIcon | None = None


def _icon_of(content: bytes, content_type: str) -> ChartIcon | None:
    if not content or len(content) > MAX_ICON_BYTES or content_type not in ICON_TYPES.values():
        return None
    if content_type == "image/svg+xml":
        if b"<svg" not in content[:4096].lower():
            return None
    elif not content.startswith(_MAGIC[content_type]):
        return None
    return ChartIcon("sha256:" + hashlib.sha256(content).hexdigest(), content_type, content)


def data_url_icon(url: str) -> ChartIcon | None:
    """The icon in a `data:[<type>][;base64],<data>` URL; None for anything else."""
    if url[:5].lower() != "data:" or "," not in url or len(url) > 2 * MAX_ICON_BYTES:
        return None
    header, _, payload = url[5:].partition(",")
    params = [p.strip().lower() for p in header.split(";")]
    try:
        content = (
            base64.b64decode(payload.strip(), validate=True) if "base64" in params[1:] else unquote_to_bytes(payload)
        )
    except (binascii.Error, ValueError):
        return None
    return _icon_of(content, params[0])


def _relative_icon(
    tar: tarfile.TarFile, files: dict[str, tarfile.TarInfo], chart_dir: str, ref: str
) -> ChartIcon | None:
    """A file of the archive that the icon names relatively to the chart's directory."""
    if not ref or "://" in ref or ref.startswith(("/", "\\")) or ":" in ref.split("/", 1)[0]:
        return None  # a URL (not fetched, see above), an absolute path or a Windows drive
    path = posixpath.normpath(ref)
    if path.startswith("..") or path == ".":
        return None
    member = files.get(f"{chart_dir}/{path}")
    content_type = ICON_TYPES.get(posixpath.splitext(path)[1].lower())
    if member is None or not member.isfile() or member.size > MAX_ICON_BYTES or content_type is None:
        return None
    extracted = tar.extractfile(member)
    return None if extracted is None else _icon_of(extracted.read(), content_type)


def _icon(
    tar: tarfile.TarFile, files: dict[str, tarfile.TarInfo], chart_dir: str, chart_yaml: str | None
) -> ChartIcon | None:
    if chart_yaml is None:
        return None
    try:
        doc = yaml.safe_load(chart_yaml)
    except yaml.YAMLError:
        return None
    ref = doc.get("icon") if isinstance(doc, dict) else None
    if not isinstance(ref, str):
        return None
    ref = ref.strip()
    return data_url_icon(ref) if ref[:5].lower() == "data:" else _relative_icon(tar, files, chart_dir, ref)


def _text(tar: tarfile.TarFile, member: tarfile.TarInfo | None) -> str | None:
    if member is None or not member.isfile() or member.size > MAX_FILE_BYTES:
        return None
    extracted = tar.extractfile(member)
    if extracted is None:
        return None
    try:
        return extracted.read().decode("utf-8").replace("\x00", "")
    except UnicodeDecodeError:
        return None


def _dependencies(chart_yaml: str | None, requirements_yaml: str | None) -> list[dict[str, Any]]:
    """Chart.yaml's dependencies (apiVersion v2), else requirements.yaml's (v1): name, version, repository."""
    for text in (chart_yaml, requirements_yaml):
        if text is None:
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        found = doc.get("dependencies") if isinstance(doc, dict) else None
        if isinstance(found, list) and found:
            return [
                # No NUL: PostgreSQL's jsonb refuses it.
                {key: str(d.get(key, "")).replace("\x00", "") for key in ("name", "version", "repository")}
                for d in found
                if isinstance(d, dict)
            ]
    return []


def parse_chart(data: bytes) -> dict[str, Any] | None:
    """The additions of a chart archive (`<chart>/README.md` etc. at its top directory), or None."""
    contents = read_chart(data)
    return None if contents is None else contents.additions


def read_chart(data: bytes) -> ChartContents | None:
    """The additions and the icon of a chart archive, or None."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            top: dict[str, tarfile.TarInfo] = {}
            files: dict[str, tarfile.TarInfo] = {}  # by exact path, for an icon named relatively
            chart_dir = ""
            for member in tar.getmembers():
                parts = member.name.split("/")
                chart_dir = chart_dir or parts[0]
                if parts[0] == chart_dir:
                    files.setdefault(posixpath.normpath(member.name), member)
                # Only the chart's own files, not those of the charts it vendors under charts/.
                if len(parts) == 2:
                    top.setdefault(parts[1].lower(), member)
            readme = _text(tar, top.get("readme.md"))
            values = _text(tar, top.get("values.yaml"))
            chart_yaml = _text(tar, top.get("chart.yaml"))
            dependencies = _dependencies(chart_yaml, _text(tar, top.get("requirements.yaml")))
            icon = _icon(tar, files, chart_dir, chart_yaml)
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return None
    additions: dict[str, Any] = {DEPENDENCIES: dependencies}
    if readme is not None:
        additions[README] = readme
    if values is not None:
        additions[VALUES] = values
    return ChartContents(additions, icon)


async def chart_additions(
    storage: StorageDriver | None, artifact_type: str | None, layers: tuple[tuple[str, str, int], ...]
) -> ChartContents | None:
    """The additions and icon of a pushed Helm chart; None for anything else, or a chart layer too large
    or gone."""
    if storage is None or artifact_type != HELM_CONFIG:
        return None
    layer = next((x for x in layers if x[1] == HELM_CHART_LAYER), None)
    if layer is None or layer[2] > MAX_CHART_BYTES:
        return None
    try:
        data = b"".join([chunk async for chunk in storage.read(blob_path(parse_digest(layer[0])))])
    except (PathNotFound, InvalidDigest):
        return None
    return await asyncio.to_thread(read_chart, data)
