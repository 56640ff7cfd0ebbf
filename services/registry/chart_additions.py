"""What Harbor's API shows of a Helm chart beyond its Chart.yaml (the artifact's "additions"): its
README.md, values.yaml and dependencies, read from the chart layer at push and kept with the manifest,
because core has no storage driver (the blobs may be on S3). Bounded: a layer larger than MAX_CHART_BYTES
is not opened, a file larger than MAX_FILE_BYTES is not kept; a chart that does not unpack keeps nothing
(the push itself stands: Helm checked the chart, and the registry stores bytes, not opinions)."""

from __future__ import annotations

import asyncio
import io
import tarfile
from typing import Any

import yaml

from services.common.oci.digest import InvalidDigest, parse_digest
from services.common.storage import PathNotFound, StorageDriver
from services.common.storage.paths import blob_path

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_CHART_BYTES = 16 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024
README, VALUES, DEPENDENCIES = "readme.md", "values.yaml", "dependencies"


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
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            top: dict[str, tarfile.TarInfo] = {}
            for member in tar.getmembers():
                parts = member.name.split("/")
                # Only the chart's own files, not those of the charts it vendors under charts/.
                if len(parts) == 2:
                    top.setdefault(parts[1].lower(), member)
            readme = _text(tar, top.get("readme.md"))
            values = _text(tar, top.get("values.yaml"))
            dependencies = _dependencies(_text(tar, top.get("chart.yaml")), _text(tar, top.get("requirements.yaml")))
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return None
    additions: dict[str, Any] = {DEPENDENCIES: dependencies}
    if readme is not None:
        additions[README] = readme
    if values is not None:
        additions[VALUES] = values
    return additions


async def chart_additions(
    storage: StorageDriver | None, artifact_type: str | None, layers: tuple[tuple[str, str, int], ...]
) -> dict[str, Any] | None:
    """The additions of a pushed Helm chart; None for anything else, or a chart layer too large or gone."""
    if storage is None or artifact_type != HELM_CONFIG:
        return None
    layer = next((x for x in layers if x[1] == HELM_CHART_LAYER), None)
    if layer is None or layer[2] > MAX_CHART_BYTES:
        return None
    try:
        data = b"".join([chunk async for chunk in storage.read(blob_path(parse_digest(layer[0])))])
    except (PathNotFound, InvalidDigest):
        return None
    return await asyncio.to_thread(parse_chart, data)
