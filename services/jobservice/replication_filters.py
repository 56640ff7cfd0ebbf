"""Which artifacts a replication policy copies, and where to (Harbor's pkg/reg/filter and its destination
namespace rules), as pure functions of the policy's stored filters.

- `name`: a doublestar pattern on the repository's full name (`library/**`); `excludes` inverts it.
- `tag`: a doublestar pattern on each tag; an artifact goes with the tags that pass (`matches`: the tags
  that match; `excludes`: those that do not), and stays if none do. An untagged artifact goes (by digest)
  only when the policy has no tag filter.
- `label`: `matches`: the artifact carries every label named; `excludes`: none of them.
- `resource`: `image` takes images only (an image index, or a manifest whose config is an image config);
  `artifact` takes everything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.immutable import glob_match
from services.common.oci import mediatypes as mt

IMAGE_CONFIGS = frozenset({mt.OCI_CONFIG, mt.DOCKER_CONFIG})


@dataclass(frozen=True, slots=True)
class Selected:
    repository: str
    digest: str
    tags: tuple[str, ...]  # empty: copied by digest
    resource_type: str


def _filter(filters: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((f for f in filters if f.get("type") == kind), None)


def _passes(f: Mapping[str, Any] | None, value: str) -> bool:
    if f is None:
        return True
    matched = glob_match(str(f["value"]), value)
    return matched if f.get("decoration", "matches") == "matches" else not matched


def resource_type(media_type: str, config_media_type: str | None) -> str:
    if media_type in mt.INDEXES or config_media_type in IMAGE_CONFIGS:
        return "image"
    return "artifact"


def select(
    filters: Sequence[Mapping[str, Any]],
    repository: str,
    digest: str,
    tags: Sequence[str],
    labels: frozenset[str],
    kind: str,
) -> Selected | None:
    """The artifact as the policy copies it (with the tags that pass), or None when it does not go."""
    if not _passes(_filter(filters, "name"), repository):
        return None
    resource = _filter(filters, "resource")
    if resource is not None and resource["value"] == "image" and kind != "image":
        return None
    label = _filter(filters, "label")
    if label is not None:
        named = frozenset(label["value"])
        if label.get("decoration", "matches") == "matches" and not named <= labels:
            return None
        if label.get("decoration", "matches") == "excludes" and named & labels:
            return None
    tag = _filter(filters, "tag")
    if tag is None:
        return Selected(repository, digest, tuple(tags), kind)
    passing = tuple(t for t in tags if _passes(tag, t))
    return Selected(repository, digest, passing, kind) if passing else None


def destination(repository: str, namespace: str, replace_count: int) -> str:
    """The repository's name on the destination: Harbor's legacy mode (-1) puts `namespace` in place of
    the first path component; a count of N drops the first N components and puts `namespace` in front.
    ValueError when the repository has too few components to drop (its last one always stays)."""
    if not namespace:
        return repository
    parts = repository.split("/")
    if replace_count < 0:
        return "/".join([namespace, *parts[1:]]) if len(parts) > 1 else f"{namespace}/{repository}"
    if replace_count >= len(parts):
        raise ValueError(f"dest_namespace_replace_count {replace_count} would drop every component of {repository}")
    return "/".join([namespace, *parts[replace_count:]])


def deletion_taken(filters: Sequence[Mapping[str, Any]], repository: str, tag: str | None) -> bool:
    """Whether the name filter (and, with `tag`, the tag filter) takes the repository: what judges a deleted
    artifact (its labels and kind are gone with it), and a remote repository before its tags are listed."""
    if not _passes(_filter(filters, "name"), repository):
        return False
    return tag is None or _passes(_filter(filters, "tag"), tag)
