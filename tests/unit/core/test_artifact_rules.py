"""The pure rules of the artifact API: references, repository paths, copy sources, Harbor's type."""

from __future__ import annotations

import pytest

from services.common.oci import mediatypes as mt
from services.core.artifacts.models import HELM_CONFIG, ArtifactRef, artifact_kind
from services.core.artifacts.references import check_repository_path, parse_copy_source, parse_reference
from services.core.errors import BadRequest

DIGEST = "sha256:" + "a" * 64


def test_a_reference_is_a_tag_or_a_digest() -> None:
    assert parse_reference("v1.0") == ArtifactRef(tag="v1.0")
    assert parse_reference(DIGEST) == ArtifactRef(digest=DIGEST)
    for bad in ("", "-v", "a/b", "sha256:short", "x" * 129, "sha256:" + "A" * 64 + "!"):
        with pytest.raises(BadRequest):
            parse_reference(bad)


@pytest.mark.parametrize("path", ["", "..", "a/../b", "a//b", "/a", "a/", ".", "a/./b", "A", "a b", "a%2Fb"])
def test_paths_that_could_escape_are_refused(path: str) -> None:
    with pytest.raises(BadRequest):
        check_repository_path(path)


def test_nested_paths_are_kept() -> None:
    assert check_repository_path("team/app") == "team/app"


def test_copy_sources() -> None:
    assert parse_copy_source("p/a/b:1.0") == ("p", "p/a/b", ArtifactRef(tag="1.0"))
    assert parse_copy_source(f"p/r@{DIGEST}") == ("p", "p/r", ArtifactRef(digest=DIGEST))
    for bad in ("p/r", "p:1.0", "p/r@sha256:x", "../p/r:1", "p//r:1", "p/r:a/b", "p/../r:1"):
        with pytest.raises(BadRequest):
            parse_copy_source(bad)


def test_harbors_type() -> None:
    assert artifact_kind(mt.OCI_MANIFEST, mt.OCI_CONFIG) == "IMAGE"
    assert artifact_kind(mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG) == "IMAGE"
    assert artifact_kind(mt.OCI_INDEX, None) == "IMAGE"
    assert artifact_kind(mt.OCI_MANIFEST, HELM_CONFIG) == "CHART"
    assert artifact_kind(mt.OCI_MANIFEST, "application/vnd.example+json") == "application/vnd.example+json"
