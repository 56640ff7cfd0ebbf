"""Tag listing (/v2/<name>/tags/list) and the catalog (/v2/_catalog): order, `n`/`last` and `Link` paging.

The registry process is shared by the module, so catalog tests only assert on repositories they create,
which share a unique prefix, and reach them with `last`.

"Lexically" means byte (code point) order, as distribution sorts. Most production PostgreSQL servers
default to a natural-language collation (en_US), under which `ORDER BY name` puts "a" before "B" and
ignores punctuation; so this module's database deliberately uses an en-US ICU collation, and the order
the registry answers with must not depend on it.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import push_image, push_manifest
from tests.harness.plugin import TestDatabase, _psql
from tests.harness.token import TokenServiceProcess, add_project
from tests.integration.registry.helpers import assert_error

pytestmark = pytest.mark.integration

LINK_RE = re.compile(r'^\s*<([^>]+)>\s*;\s*rel="?next"?\s*$')


class NaturalCollationDatabase(TestDatabase):
    """A fresh database whose default collation is ICU en-US (falls back to the server default)."""

    def create(self) -> NaturalCollationDatabase:
        try:
            _psql(
                f"CREATE DATABASE \"{self.name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except subprocess.CalledProcessError:
            super().create()
        return self


@pytest.fixture(scope="module")
def module_database() -> Iterator[TestDatabase]:
    """Overrides the plugin's: the registry of this module runs on a natural-language collation."""
    db = NaturalCollationDatabase().create()
    try:
        yield db
    finally:
        db.drop()


def next_link(resp: httpx.Response) -> str | None:
    """The URL of the `rel="next"` Link, or None when the header is absent."""
    values = resp.headers.get_list("Link")
    if not values:
        return None
    assert len(values) == 1, values
    match = LINK_RE.match(values[0])
    assert match, f'Link header is not `<url>; rel="next"`: {values[0]!r}'
    return match.group(1)


def link_query(link: str) -> tuple[str, dict[str, list[str]]]:
    parsed = urlparse(link)
    return parsed.path, parse_qs(parsed.query)


def tag_all(client: httpx.Client, repo: str, tags: list[str]) -> bytes:
    """One image, tagged with every name in `tags` (one manifest, many tags: cheap)."""
    data, _ = push_image(client, repo, tags[0])
    for tag in tags[1:]:
        r = push_manifest(client, repo, tag, data, mt.OCI_MANIFEST)
        assert r.status_code == 201, r.text
    return data


def get_tags(client: httpx.Client, url: str, repo: str) -> tuple[list[str], str | None]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["name"] == repo
    tags = body["tags"]
    assert isinstance(tags, list), body
    return tags, next_link(r)


def walk(client: httpx.Client, url: str, key: str) -> list[list[str]]:
    """Follow `rel="next"` links from `url`; returns the pages' entries."""
    pages = []
    seen_urls = set()
    next_url: str | None = url
    while next_url is not None:
        assert next_url not in seen_urls, f"Link loops back to {next_url}"
        seen_urls.add(next_url)
        assert len(pages) < 500, "paging does not end"
        r = client.get(next_url)
        assert r.status_code == 200, r.text
        page = r.json()[key]
        assert isinstance(page, list), r.json()
        pages.append(page)
        next_url = next_link(r)
    return pages


# --------------------------------------------------------------------------------------------- tags

# Mixed case, digits, separators: byte order differs from most natural-language collations.
MIXED_TAGS = ["latest", "v1.10", "v1.2", "V2", "_build", "1.0", "a-b", "a.b", "a_b", "Z", "a", "v1", "v10"]


def test_tags_list_sorted_lexically(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, MIXED_TAGS)
    r = registry.get(f"/v2/{repo_name}/tags/list")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"name": repo_name, "tags": sorted(MIXED_TAGS)}
    assert next_link(r) is None


def test_tags_list_has_each_tag_once(registry: httpx.Client, repo_name: str) -> None:
    push_image(registry, repo_name, "v1", layers=[b"first"])
    push_image(registry, repo_name, "v1", layers=[b"second"])
    push_image(registry, repo_name, "v2", layers=[b"second"])
    tags, link = get_tags(registry, f"/v2/{repo_name}/tags/list", repo_name)
    assert tags == ["v1", "v2"]
    assert link is None


def test_tags_list_multi_level_name(registry: httpx.Client, repo_name: str) -> None:
    repo = f"{repo_name}/team/app"
    tag_all(registry, repo, ["b", "a"])
    tags, _ = get_tags(registry, f"/v2/{repo}/tags/list", repo)
    assert tags == ["a", "b"]


def test_tags_list_n_limits_and_links_to_the_rest(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, MIXED_TAGS)
    expected = sorted(MIXED_TAGS)
    tags, link = get_tags(registry, f"/v2/{repo_name}/tags/list?n=3", repo_name)
    assert tags == expected[:3]
    assert link is not None, "more tags remain, so a Link rel=next is required"
    path, query = link_query(link)
    assert path == f"/v2/{repo_name}/tags/list"
    assert query.get("n") == ["3"]
    assert query.get("last") == [expected[2]]

    tags, _ = get_tags(registry, link, repo_name)
    assert tags == expected[3:6]


def test_tags_list_last_continues_after_a_tag(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, MIXED_TAGS)
    expected = sorted(MIXED_TAGS)
    r = registry.get(f"/v2/{repo_name}/tags/list", params={"last": expected[4]})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == expected[5:]
    assert next_link(r) is None
    r = registry.get(f"/v2/{repo_name}/tags/list", params={"n": 2, "last": expected[4]})
    assert r.json()["tags"] == expected[5:7]
    assert next_link(r) is not None


def test_tags_list_last_need_not_be_a_tag(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, ["v1", "v2", "v3", "v4"])
    r = registry.get(f"/v2/{repo_name}/tags/list", params={"last": "v15"})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["v2", "v3", "v4"]
    r = registry.get(f"/v2/{repo_name}/tags/list", params={"last": "0"})
    assert r.json()["tags"] == ["v1", "v2", "v3", "v4"]


def test_tags_list_last_is_the_final_tag(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, ["v1", "v2"])
    for params in ({"last": "v2"}, {"last": "v2", "n": 5}, {"last": "zzz"}):
        r = registry.get(f"/v2/{repo_name}/tags/list", params=params)
        assert r.status_code == 200, r.text
        assert r.json() == {"name": repo_name, "tags": []}
        assert next_link(r) is None


def test_tags_list_links_page_through_every_tag_once(registry: httpx.Client, repo_name: str) -> None:
    all_tags = [f"t{i:02d}" for i in range(25)]
    tag_all(registry, repo_name, list(reversed(all_tags)))
    pages = walk(registry, f"/v2/{repo_name}/tags/list?n=4", "tags")
    assert [tag for page in pages for tag in page] == all_tags
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 4, 1]


def test_tags_list_links_when_count_is_a_multiple_of_n(registry: httpx.Client, repo_name: str) -> None:
    all_tags = ["a", "b", "c", "d", "e", "f"]
    tag_all(registry, repo_name, all_tags)
    pages = walk(registry, f"/v2/{repo_name}/tags/list?n=3", "tags")
    assert [tag for page in pages for tag in page] == all_tags
    assert pages[:2] == [["a", "b", "c"], ["d", "e", "f"]]
    assert all(page == [] for page in pages[2:])


def test_tags_list_n_zero(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, ["v1", "v2"])
    r = registry.get(f"/v2/{repo_name}/tags/list", params={"n": 0})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == repo_name
    assert r.json()["tags"] == []
    assert next_link(r) is None


def test_tags_list_n_at_least_the_count(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, ["v1", "v2", "v3"])
    for n in (3, 4, 100):
        tags, link = get_tags(registry, f"/v2/{repo_name}/tags/list?n={n}", repo_name)
        assert tags == ["v1", "v2", "v3"]
        if n > 3:
            assert link is None


def test_tags_list_follows_tag_deletes(registry: httpx.Client, repo_name: str) -> None:
    tag_all(registry, repo_name, ["v1", "v2", "v3"])
    assert registry.delete(f"/v2/{repo_name}/manifests/v2").status_code == 202
    tags, _ = get_tags(registry, f"/v2/{repo_name}/tags/list", repo_name)
    assert tags == ["v1", "v3"]


def test_tags_list_unknown_repository(registry: httpx.Client, repo_name: str) -> None:
    assert_error(registry.get(f"/v2/{repo_name}/tags/list"), 404, "NAME_UNKNOWN")
    assert_error(registry.get(f"/v2/{repo_name}/tags/list?n=2"), 404, "NAME_UNKNOWN")


# ------------------------------------------------------------------------------------------ catalog


@pytest.fixture
def catalog_prefix(module_database: TestDatabase, token_server: TokenServiceProcess) -> str:
    """A fresh project, so its repositories sort together in the catalog."""
    name = f"catalog{uuid.uuid4().hex[:10]}"
    add_project(module_database, name)
    return name


def make_repos(client: httpx.Client, prefix: str, suffixes: list[str]) -> list[str]:
    repos = [f"{prefix}/{suffix}" for suffix in suffixes]
    for repo in repos:
        push_image(client, repo, "v1")
    return sorted(repos)


def test_catalog_lists_repositories_sorted(registry: httpx.Client, catalog_prefix: str) -> None:
    ours = make_repos(
        registry, catalog_prefix, ["zeta", "alpha", "mid/deep/name", "ab", "a_b", "a.b", "a-b", "a0", "a__b", "a/b"]
    )
    r = registry.get("/v2/_catalog", params={"n": len(ours), "last": catalog_prefix})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"repositories": ours}


def test_catalog_n_and_last(registry: httpx.Client, catalog_prefix: str) -> None:
    ours = make_repos(registry, catalog_prefix, ["a", "b", "c", "d"])
    r = registry.get("/v2/_catalog", params={"n": 2, "last": catalog_prefix})
    assert r.status_code == 200, r.text
    assert r.json()["repositories"] == ours[:2]
    link = next_link(r)
    assert link is not None
    path, query = link_query(link)
    assert path == "/v2/_catalog"
    assert query.get("n") == ["2"]
    assert query.get("last") == [ours[1]]

    r = registry.get(link)
    assert r.status_code == 200, r.text
    assert r.json()["repositories"] == ours[2:4]

    r = registry.get("/v2/_catalog", params={"n": 3, "last": ours[0]})
    assert r.json()["repositories"] == ours[1:4]


def test_catalog_links_page_through_our_repositories(registry: httpx.Client, catalog_prefix: str) -> None:
    ours = make_repos(registry, catalog_prefix, ["r1", "r2", "r3"])
    url: str | None = f"/v2/_catalog?n=1&last={catalog_prefix}"
    seen: list[str] = []
    while url is not None and len(seen) < len(ours):
        r = registry.get(url)
        assert r.status_code == 200, r.text
        page = r.json()["repositories"]
        assert len(page) == 1, page
        seen.extend(page)
        url = next_link(r)
        if len(seen) < len(ours):
            assert url is not None
    assert seen == ours


def test_catalog_full_walk_is_sorted_and_complete(registry: httpx.Client, catalog_prefix: str) -> None:
    ours = make_repos(registry, catalog_prefix, ["x", "y"])
    pages = walk(registry, "/v2/_catalog?n=2", "repositories")
    everything = [repo for page in pages for repo in page]
    assert everything == sorted(everything)
    assert len(everything) == len(set(everything)), "a repository was listed twice"
    assert all(len(page) == 2 for page in pages[:-1])
    assert set(ours) <= set(everything)
    unpaged = [repo for page in walk(registry, "/v2/_catalog", "repositories") for repo in page]
    assert unpaged == everything


def test_catalog_last_after_everything(registry: httpx.Client, catalog_prefix: str) -> None:
    make_repos(registry, catalog_prefix, ["only"])
    r = registry.get("/v2/_catalog", params={"last": "~" * 10})
    assert r.status_code == 200, r.text
    assert r.json()["repositories"] == []
    assert next_link(r) is None
