"""Rows of the registry's metadata, as the stores return them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Manifest:
    id: int
    repository_id: int
    digest: str
    media_type: str
    size: int
    content: bytes
    subject_digest: str | None


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    annotations: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository: str
    size: int


@dataclass(frozen=True, slots=True)
class NewManifest:
    """Everything written in the one transaction that makes a manifest visible."""

    repository: str
    digest: str
    media_type: str
    artifact_type: str | None
    content: bytes
    subject_digest: str | None
    annotations: dict[str, Any] | None
    blob_digests: tuple[str, ...]
    child_digests: tuple[tuple[str, dict[str, Any] | None], ...]
    tag: str | None
    # The config blob's JSON text when small enough to keep with the manifest (core's extra_attrs).
    config: str | None = None
    # A Helm chart's README.md, values.yaml and dependencies as JSON text (services/registry/chart_additions.py).
    additions: str | None = None
    # The digest of a Helm chart's icon (metadata.icons), if the chart carries one.
    icon: str | None = None
