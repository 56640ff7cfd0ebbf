"""Which artifacts a replication policy takes, with which tags, and their names on the destination."""

from __future__ import annotations

from typing import Any

import pytest

from services.jobservice.replication_filters import deletion_taken, destination, select


def chosen(filters: list[dict[str, Any]], repository: str = "library/app", tags: tuple[str, ...] = ("v1", "dev"),
           labels: frozenset[str] = frozenset(), kind: str = "image") -> tuple[str, ...] | None:  # fmt: skip
    found = select(filters, repository, "sha256:" + "a" * 64, tags, labels, kind)
    return None if found is None else found.tags


def test_no_filters_take_everything_with_every_tag() -> None:
    assert chosen([]) == ("v1", "dev")
    assert chosen([], tags=()) == ()  # untagged: by digest


@pytest.mark.parametrize(
    ("name", "decoration", "repository", "taken"),
    [
        ("library/**", "matches", "library/a/b", True),
        ("library/*", "matches", "library/a/b", False),
        ("library/**", "excludes", "library/app", False),
        ("{library,apps}/app", "matches", "apps/app", True),
    ],
)
def test_the_name_filter_is_doublestar_on_the_full_name(
    name: str, decoration: str, repository: str, taken: bool
) -> None:
    filters = [{"type": "name", "value": name, "decoration": decoration}]
    assert (chosen(filters, repository) is not None) is taken


def test_the_tag_filter_keeps_the_tags_that_pass_and_drops_untagged() -> None:
    assert chosen([{"type": "tag", "value": "v*", "decoration": "matches"}]) == ("v1",)
    assert chosen([{"type": "tag", "value": "v*", "decoration": "excludes"}]) == ("dev",)
    assert chosen([{"type": "tag", "value": "rc*", "decoration": "matches"}]) is None
    assert chosen([{"type": "tag", "value": "**", "decoration": "matches"}], tags=()) is None


def test_labels_all_for_matches_none_for_excludes() -> None:
    both = frozenset({"release", "qa"})
    assert chosen([{"type": "label", "value": ["release", "qa"], "decoration": "matches"}], labels=both)
    assert chosen([{"type": "label", "value": ["release", "prod"], "decoration": "matches"}], labels=both) is None
    assert chosen([{"type": "label", "value": ["prod"], "decoration": "excludes"}], labels=both)
    assert chosen([{"type": "label", "value": ["qa"], "decoration": "excludes"}], labels=both) is None


def test_the_resource_filter_image_leaves_other_artifacts() -> None:
    assert chosen([{"type": "resource", "value": "image"}], kind="artifact") is None
    assert chosen([{"type": "resource", "value": "artifact"}], kind="artifact") == ("v1", "dev")


@pytest.mark.parametrize(
    ("repository", "namespace", "count", "name"),
    [
        ("library/app", "", -1, "library/app"),
        ("library/app", "mirror", -1, "mirror/app"),
        ("library/team/app", "mirror", -1, "mirror/team/app"),
        ("app", "mirror", -1, "mirror/app"),
        ("library/team/app", "mirror", 0, "mirror/library/team/app"),
        ("library/team/app", "mirror", 2, "mirror/app"),
        ("library/team/app", "m/n", 1, "m/n/team/app"),
    ],
)
def test_destination_names(repository: str, namespace: str, count: int, name: str) -> None:
    assert destination(repository, namespace, count) == name


def test_dropping_every_component_is_refused() -> None:
    with pytest.raises(ValueError, match="every component"):
        destination("library/app", "mirror", 2)


def test_a_deletion_is_judged_by_name_and_the_tag_the_event_names() -> None:
    filters = [{"type": "name", "value": "library/*"}, {"type": "tag", "value": "v*"}]
    assert deletion_taken(filters, "library/app", None)
    assert deletion_taken(filters, "library/app", "v2")
    assert not deletion_taken(filters, "library/app", "dev")
    assert not deletion_taken(filters, "other/app", None)
