"""Repositories, artifacts and tags as the REST API shows them; rows come from the registry's tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from services.common.oci import mediatypes as mt
from services.core.labels.models import LabelView
from services.core.listing import ListKeys

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
IMAGE_CONFIGS = frozenset({mt.OCI_CONFIG, mt.DOCKER_CONFIG})

# Harbor's accessory types, by the accessory's artifactType; any other referrer is a plain subject accessory.
ACCESSORY_TYPES = {
    "application/vnd.dev.cosign.artifact.sig.v1+json": "signature.cosign",
    "application/vnd.cncf.notary.signature": "signature.notation",
    "application/vnd.goharbor.harbor.sbom.v1": "harbor.sbom",
}
SUBJECT_ACCESSORY = "subject.accessory"

# What the lists accept (their stores map each key to a column). A project's repositories are filtered by
# name; every visible project's by name and project_id.
_REPOSITORY_SORTS = frozenset({"name", "id", "creation_time", "update_time", "pull_count"})
PROJECT_REPOSITORY_LIST = ListKeys(filters={"name": "str"}, sorts=_REPOSITORY_SORTS)
REPOSITORY_LIST = ListKeys(filters={"name": "str", "project_id": "int"}, sorts=_REPOSITORY_SORTS)
ARTIFACT_LIST = ListKeys(
    filters={
        "digest": "str",
        # Harbor's media_type is the config's for an image; here both keys match the manifest's media type.
        "media_type": "str",
        "manifest_media_type": "str",
        "artifact_type": "str",
        "type": "str",
        "tags": "str",
        # Harbor's artifact DAO reads labels only as an intersection list of label ids: labels=(1 2).
        "labels": "int_all",
        "push_time": "time",
        "pull_time": "time",
    },
    sorts=frozenset({"push_time", "creation_time", "pull_time", "id", "digest"}),
)
TAG_LIST = ListKeys(filters={"name": "str"}, sorts=frozenset({"name", "id", "push_time"}))
# An artifact's accessories, by the columns of Harbor's accessory DAO that vary here (`type` is Harbor's
# accessory type, `artifact_id` the accessory's own artifact).
ACCESSORY_LIST = ListKeys(
    filters={"type": "str", "digest": "str", "artifact_id": "int", "creation_time": "time"},
    sorts=frozenset({"creation_time", "id", "digest", "size", "type"}),
)


def artifact_kind(manifest_media_type: str, artifact_type: str | None) -> str:
    """Harbor's `type`: IMAGE for images and indexes, CHART for Helm charts, else the artifactType.

    The registry stores an image manifest's artifactType, or its config media type when it has none
    (the OCI image spec's rule), so `artifact_type` alone tells an image config from a chart's."""
    if artifact_type is None:
        return "IMAGE" if manifest_media_type in mt.MANIFESTS else "UNKNOWN"
    if artifact_type in IMAGE_CONFIGS:
        return "IMAGE"
    if artifact_type == HELM_CONFIG:
        return "CHART"
    return artifact_type


# Harbor's additions of each type, with the content type each is served as: an image's build history (from
# its config), a chart's README, values and dependencies (kept by the registry from the chart layer).
BUILD_HISTORY, README, VALUES, DEPENDENCIES = "build_history", "readme.md", "values.yaml", "dependencies"
ADDITION_TYPES = {
    BUILD_HISTORY: "application/json",
    README: "text/markdown",
    VALUES: "text/plain",
    DEPENDENCIES: "application/json",
}


def additions_of(kind: str, is_index: bool) -> tuple[str, ...]:
    if kind == "CHART":
        return (README, VALUES, DEPENDENCIES)
    if kind == "IMAGE" and not is_index:
        return (BUILD_HISTORY,)
    return ()


@dataclass(frozen=True, slots=True)
class Addition:
    content_type: str
    body: str


@dataclass(frozen=True, slots=True)
class RepositoryView:
    id: int
    project_id: int
    name: str  # full: <project>/<path>
    description: str
    artifact_count: int
    pull_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TagView:
    id: int
    name: str
    repository_id: int
    artifact_id: int
    pushed_at: dt.datetime
    pulled_at: dt.datetime | None
    # Whether an enabled immutable tag rule of the project protects it (set by the service).
    immutable: bool = False


@dataclass(frozen=True, slots=True)
class ReferenceView:
    parent_id: int
    child_id: int
    child_digest: str
    platform: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AccessoryView:
    id: int
    digest: str
    artifact_type: str | None
    size: int
    created_at: dt.datetime

    @property
    def kind(self) -> str:
        return ACCESSORY_TYPES.get(self.artifact_type or "", SUBJECT_ACCESSORY)


@dataclass(frozen=True, slots=True)
class ArtifactView:
    id: int
    project_id: int
    repository_id: int
    repository: str
    digest: str
    manifest_media_type: str
    artifact_type: str | None
    # The config blob's media type (Harbor's `media_type` of an image); None for an index.
    config_media_type: str | None
    size: int  # the manifest, its blobs and its children's
    pushed_at: dt.datetime
    pulled_at: dt.datetime | None
    pull_count: int
    annotations: dict[str, Any] | None
    config: dict[str, Any] | None
    tags: tuple[TagView, ...]
    references: tuple[ReferenceView, ...]
    accessories: tuple[AccessoryView, ...]
    # Attached labels (global and the project's), by name; empty when the query did not ask for them.
    labels: tuple[LabelView, ...] = ()
    # A Helm chart's icon, by digest (GET /icons/{digest}); None when the chart carries none.
    icon: str | None = None

    @property
    def kind(self) -> str:
        return artifact_kind(self.manifest_media_type, self.artifact_type)

    @property
    def additions(self) -> tuple[str, ...]:
        return additions_of(self.kind, self.config_media_type is None)


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """`{reference}` in a path: a tag or a digest, never both."""

    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return self.tag if self.tag is not None else str(self.digest)
