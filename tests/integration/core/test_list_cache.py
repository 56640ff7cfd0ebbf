"""Core's artifact list cache never outlives a change, whoever makes it (real token, registry and two core
processes on one database).

Core (`stack.core`) lists; every change is made behind its back: through the registry, through a second
core process (`other`), or in SQL. The next list shows the change as soon as PostgreSQL has delivered the
change's notification: the checks retry within the harness's deadline (generous, for a loaded CI
machine), as the registry's cache tests do. A change made with triggers switched off (no notification)
shows that the list really is served from the cache, so the tests above it would fail without
invalidation.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.auth.authenticate import Principal
from services.common.cache import CORE_LISTENER, LookupCache
from services.common.config.live import SystemConfig
from services.common.migrations import apply_migrations
from services.common.oci import mediatypes as mt
from services.common.settings import Settings
from services.core.api.artifacts import ZERO_TIME
from services.core.artifacts.service import ArtifactService
from services.core.audit.forward import AuditForwarder
from services.core.auditing import AuditLog
from services.core.labels.service import LabelService
from services.core.listing import Page
from services.core.projects.models import ProjectRef
from services.core.projects.service import ProjectService
from tests.harness.core import CoreProcess
from tests.harness.oci import digest_of, image_manifest, push_image
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, REDIS_URL, TestDatabase
from tests.harness.token import add_project
from tests.harness.waiting import async_eventually, eventually
from tests.integration.core.registry_stack import ADMIN, Stack, running_stack
from tests.integration.core.test_query_counts import Counting

pytestmark = pytest.mark.integration

PROJECT = "lc"


@dataclass
class World:
    stack: Stack
    other: CoreProcess  # a second core on the same database: its writes are "behind core's back"

    def registry(self) -> httpx.Client:
        return self.stack.registry_client(*ADMIN)


@pytest.fixture(scope="module")
def world(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_stack(module_database, tmp_path_factory) as s:
        add_project(module_database, PROJECT)
        other = CoreProcess(
            tmp_path_factory.mktemp("other-core"),
            module_database,
            settings={"redis": {"url": REDIS_URL, "key_prefix": s.registry.redis_prefix}},
        )
        other.start()
        try:
            yield World(s, other)
        finally:
            other.stop()


@pytest.fixture
def repo(unique: str) -> str:
    return f"cache-{unique}"


def psql(db: TestDatabase, sql: str) -> str:
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", db.name, "-tAc", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def silently(db: TestDatabase, sql: str) -> None:
    """`sql` with triggers switched off for the session: a change nobody is told about."""
    psql(db, f"SET session_replication_role = replica; {sql}")


def listing(api: httpx.Client, repo: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    query = {"with_tag": "true", "with_label": "true", "page_size": "10", **params}
    r = api.get(f"/projects/{PROJECT}/repositories/{repo}/artifacts", params=query)
    assert r.status_code == 200, r.text
    return r.json(), int(r.headers["X-Total-Count"])


def tags_of(rows: list[dict[str, Any]]) -> set[str]:
    return {t["name"] for a in rows for t in a["tags"] or ()}


def cached_listing(api: httpx.Client, repo: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """The list, twice: the second answer is the cached one, and must equal the first."""
    first = listing(api, repo, **params)
    assert listing(api, repo, **params) == first
    return first


def test_the_list_is_served_from_the_cache(world: World, repo: str) -> None:
    """The premise of every test here: without a notification, core keeps its page (and so the tests
    below, which expect the change at once, fail when invalidation is off)."""
    db = world.stack.db
    with world.registry() as reg:
        push_image(reg, f"{PROJECT}/{repo}", "v1")
    api = world.stack.api()
    rows, total = cached_listing(api, repo)
    assert total == 1 and tags_of(rows) == {"v1"}
    silently(db, f"UPDATE tags SET name = 'silent' WHERE name = 'v1' AND repository_id = {repo_id(db, repo)}")
    time.sleep(0.5)
    assert tags_of(listing(api, repo)[0]) == {"v1"}  # the cached page: nothing said the repository changed
    # Another page of the same repository was not cached: it is read now.
    assert tags_of(listing(api, repo, page_size="11")[0]) == {"silent"}
    psql(db, f"UPDATE repositories SET description = 'touched' WHERE id = {repo_id(db, repo)}")
    eventually(lambda: tags_of(listing(api, repo)[0]) == {"silent"}, "the notification drops the page")


def repo_id(db: TestDatabase, repo: str) -> int:
    return int(psql(db, f"SELECT id FROM repositories WHERE name = '{PROJECT}/{repo}'"))


def test_a_manifest_pushed_through_the_registry_is_listed(world: World, repo: str) -> None:
    with world.registry() as reg:
        push_image(reg, f"{PROJECT}/{repo}", "v1")
        api = world.stack.api()
        assert cached_listing(api, repo)[1] == 1
        push_image(reg, f"{PROJECT}/{repo}", "v2", layers=[b"another layer"])
    eventually(lambda: listing(api, repo)[1] == 2, "the pushed artifact is counted")
    assert tags_of(listing(api, repo)[0]) == {"v1", "v2"}


def test_a_tag_deleted_through_the_registry_is_gone(world: World, repo: str) -> None:
    with world.registry() as reg:
        data, _ = push_image(reg, f"{PROJECT}/{repo}", "v1")
        assert reg.put(
            f"/v2/{PROJECT}/{repo}/manifests/v2", content=data, headers={"Content-Type": mt.OCI_MANIFEST}
        ).is_success
        api = world.stack.api()
        assert tags_of(cached_listing(api, repo)[0]) == {"v1", "v2"}
        assert reg.delete(f"/v2/{PROJECT}/{repo}/manifests/v1").status_code == 202
    eventually(lambda: tags_of(listing(api, repo)[0]) == {"v2"}, "the deleted tag is gone")


def test_labels_attached_renamed_and_deleted_through_another_core_are_shown(world: World, repo: str) -> None:
    with world.registry() as reg:
        _, digest = push_image(reg, f"{PROJECT}/{repo}", "v1")
    api, other = world.stack.api(), world.other.client(ADMIN)
    r = other.post("/labels", json={"name": f"l-{repo}", "scope": "g"})
    assert r.status_code == 201, r.text
    label_id = int(r.headers["Location"].rsplit("/", 1)[1])

    def labels() -> list[str]:
        rows, _ = listing(api, repo)
        return [x["name"] for x in rows[0]["labels"] or ()]

    assert cached_listing(api, repo)[0][0]["labels"] == []
    r = other.post(f"/projects/{PROJECT}/repositories/{repo}/artifacts/{digest}/labels", json={"id": label_id})
    assert r.status_code == 200, r.text
    eventually(lambda: labels() == [f"l-{repo}"], "the attached label is shown")
    assert labels() == labels()  # cached again
    assert other.put(f"/labels/{label_id}", json={"name": f"renamed-{repo}"}).status_code == 200
    eventually(lambda: labels() == [f"renamed-{repo}"], "the renamed label is shown")
    # Filtered by the label: the filter is part of the key, and the page changes with the label too.
    q = {"q": f"labels=({label_id})"}
    assert cached_listing(api, repo, **q)[1] == 1
    assert other.delete(f"/labels/{label_id}").status_code == 200
    eventually(lambda: labels() == [], "the deleted label is gone")
    eventually(lambda: listing(api, repo, **q)[1] == 0, "the label filter matches nothing")


def test_pulls_recorded_by_the_registry_are_shown(world: World, repo: str) -> None:
    db = world.stack.db
    with world.registry() as reg:
        push_image(reg, f"{PROJECT}/{repo}", "v1")
        api = world.stack.api()
        rows, _ = cached_listing(api, repo)
        assert rows[0]["pull_time"] == ZERO_TIME
        assert reg.get(f"/v2/{PROJECT}/{repo}/manifests/v1", headers={"Accept": mt.OCI_MANIFEST}).is_success
    # The registry writes pulls in batches (about every second): wait for that commit, then at most
    # the deadline again.
    eventually(
        lambda: (
            psql(db, f"SELECT pull_time IS NOT NULL FROM artifacts WHERE repository_id = {repo_id(db, repo)}") == "t"
        ),
        "the registry flushed the pull",
    )
    eventually(lambda: listing(api, repo)[0][0]["pull_time"] != ZERO_TIME, "the pull time is shown")


def test_a_repository_deleted_through_another_core_is_gone(world: World, repo: str) -> None:
    with world.registry() as reg:
        push_image(reg, f"{PROJECT}/{repo}", "v1")
    api = world.stack.api()
    assert cached_listing(api, repo)[1] == 1
    assert world.other.client(ADMIN).delete(f"/projects/{PROJECT}/repositories/{repo}").status_code == 200
    path = f"/projects/{PROJECT}/repositories/{repo}/artifacts"
    eventually(lambda: api.get(path).status_code == 404, "the deleted repository's list is a 404")
    # Pushed again (a new repository of the same name): its own list, not the old one's.
    with world.registry() as reg:
        push_image(reg, f"{PROJECT}/{repo}", "again", layers=[b"a new layer"])
    assert tags_of(listing(api, repo)[0]) == {"again"}


def test_core_own_changes_are_listed_at_once(world: World, repo: str) -> None:
    """Read-your-writes through one core, without waiting for the notification."""
    with world.registry() as reg:
        _, digest = push_image(reg, f"{PROJECT}/{repo}", "v1")
    api = world.stack.api()
    base = f"/projects/{PROJECT}/repositories/{repo}/artifacts"
    assert tags_of(cached_listing(api, repo)[0]) == {"v1"}
    assert api.post(f"{base}/{digest}/tags", json={"name": "v2"}).status_code == 201
    assert tags_of(listing(api, repo)[0]) == {"v1", "v2"}
    assert api.delete(f"{base}/{digest}/tags/v1").status_code == 200
    assert tags_of(listing(api, repo)[0]) == {"v2"}
    r = api.post("/labels", json={"name": f"own-{repo}", "scope": "g"})
    label_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert api.post(f"{base}/{digest}/labels", json={"id": label_id}).status_code == 200
    assert [x["name"] for x in listing(api, repo)[0][0]["labels"]] == [f"own-{repo}"]
    assert api.delete(f"{base}/{digest}").status_code == 200
    assert listing(api, repo) == ([], 0)


def all_pages(api: httpx.Client, repo: str, size: int) -> tuple[list[str], set[int]]:
    """Every page's digests in order, and the totals the pages answered."""
    digests: list[str] = []
    totals: set[int] = set()
    number = 1
    while True:
        rows, total = listing(api, repo, page=str(number), page_size=str(size))
        totals.add(total)
        digests += [a["digest"] for a in rows]
        if len(rows) < size:
            return digests, totals
        number += 1


def push_many(reg: httpx.Client, repo: str, n: int, start: int = 0) -> list[str]:
    """n images by tag, the same blobs, each manifest unique by an annotation; their digests, oldest first."""
    name = f"{PROJECT}/{repo}"
    push_image(reg, name, "base")
    digests = []
    for i in range(start, start + n):
        manifest = image_manifest(
            json.dumps({"architecture": "amd64", "os": "linux"}).encode(),
            [f"layer of {name}:base".encode()],
            annotations={"seq": str(i)},
        )
        r = reg.put(f"/v2/{name}/manifests/t{i}", content=manifest, headers={"Content-Type": mt.OCI_MANIFEST})
        assert r.status_code == 201, r.text
        digests.append(digest_of(manifest))
    return digests


def test_pages_stay_consistent_while_the_list_changes(world: World, repo: str) -> None:
    """Deep pages are slices of one cached order of the whole list: across changes made through the
    registry (a push, a delete) and through core, every page agrees with every other and with the total,
    newest first, nothing lost or doubled."""
    api = world.stack.api()
    with world.registry() as reg:
        pushed = push_many(reg, repo, 10)
        base_digest = listing(api, repo, page_size="100")[0][-1]["digest"]  # "base", the oldest
        expected = [*reversed(pushed), base_digest]
        assert all_pages(api, repo, 3) == (expected, {11})
        assert all_pages(api, repo, 3) == (expected, {11})  # the same from the cache
        newer = push_many(reg, repo, 1, start=100)[0]
        expected.insert(0, newer)
        eventually(lambda: all_pages(api, repo, 3) == (expected, {12}), "the push shifts every page")
        # A delete through the registry, behind core's back.
        assert reg.delete(f"/v2/{PROJECT}/{repo}/manifests/{pushed[4]}").status_code == 202
        expected.remove(pushed[4])
        eventually(lambda: all_pages(api, repo, 3) == (expected, {11}), "the deleted artifact is gone")
    # A delete through core is listed at once.
    assert api.delete(f"/projects/{PROJECT}/repositories/{repo}/artifacts/{pushed[7]}").status_code == 200
    expected.remove(pushed[7])
    assert all_pages(api, repo, 3) == (expected, {10})
    assert all_pages(api, repo, 4) == (expected, {10})


def test_a_page_whose_artifact_vanished_is_read_whole(world: World, repo: str) -> None:
    """An artifact of the cached order that is gone when its page is read (its notification not yet
    there; here never: it is deleted silently) is neither shown nor leaves the page short: the page and
    its total are read from the database."""
    db = world.stack.db
    api = world.stack.api()
    with world.registry() as reg:
        pushed = push_many(reg, repo, 6)
    newest_first = list(reversed(pushed))
    assert [a["digest"] for a in cached_listing(api, repo, page_size="2")[0]] == newest_first[:2]  # the order
    silently(db, f"DELETE FROM artifacts WHERE digest = '{newest_first[3]}' AND repository_id = {repo_id(db, repo)}")
    rows, total = listing(api, repo, page="2", page_size="2")
    assert [a["digest"] for a in rows] == [newest_first[2], newest_first[4]] and total == 6


async def seed_repository(conn: asyncpg.Connection) -> tuple[int, int]:
    """A migrated database with user o, project p and repository p/r: (o's id, p/r's id)."""
    await apply_migrations(conn)
    owner = await conn.fetchval("INSERT INTO users (username) VALUES ('o') RETURNING id")
    await conn.execute("INSERT INTO projects (name, owner_id) VALUES ('p', $1)", owner)
    repository = await conn.fetchval("INSERT INTO repositories (name) VALUES ('p/r') RETURNING id")
    return owner, repository


def artifact_service(counting: Counting, cache: LookupCache) -> ArtifactService:
    """Core's artifact service on one counted connection, wired as core's app does."""
    db: Any = _Pool(counting)
    audit = AuditLog(db, AuditForwarder())
    config = SystemConfig(Settings(), db)
    projects = ProjectService(db, audit, config)
    return ArtifactService(db, projects, LabelService(db, projects, cache, audit), cache, config)


async def test_concurrent_misses_share_one_read_of_the_order(
    pg_database: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests missing the same list at once read its ids once; a request that begins after the
    repository changed does not share a read begun before the change (it could miss the change)."""
    from services.core.artifacts import artifact_store

    conn = await asyncpg.connect(pg_database.dsn())
    try:
        _, repository = await seed_repository(conn)
        cache = LookupCache(1 << 20)
        cache.live = True
        service = artifact_service(Counting(conn), cache)
        reads: list[int] = []
        gate = asyncio.Event()

        async def slow_order(ex: Any, repository_id: int, terms: Any, sort: Any) -> Any:
            reads.append(repository_id)
            await gate.wait()
            return array("q", [])

        monkeypatch.setattr(artifact_store, "list_order", slow_order)
        first = [asyncio.ensure_future(service._order(repository, (), ())) for _ in range(10)]
        # The ten requests take their first step in one turn of the loop, before the read they start does:
        # once it has begun, a request that did not share it would have begun its own.
        await async_eventually(lambda: len(reads) >= 1, "the first read begins")
        assert len(reads) == 1
        cache.invalidate(repository)
        late = asyncio.ensure_future(service._order(repository, (), ()))
        await async_eventually(lambda: len(reads) >= 2, "a request after the change reads anew")
        gate.set()
        await asyncio.gather(*first, late)
        # The read begun before the change was not cached; the one after it was.
        await service._order(repository, (), ())
        assert len(reads) == 2
    finally:
        await conn.close()


def listeners(db: TestDatabase) -> str:
    return f"application_name = '{CORE_LISTENER}' AND datname = '{db.name}'"


def test_a_lost_listener_connection_bypasses_the_cache_until_it_is_back(world: World, repo: str) -> None:
    db = world.stack.db
    with world.registry() as reg:
        push_image(reg, f"{PROJECT}/{repo}", "v1")
    api = world.stack.api()
    assert tags_of(cached_listing(api, repo)[0]) == {"v1"}
    # Both cores listen; only `stack.core`'s connection matters here, both are cut.
    killed = psql(db, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {listeners(db)}")
    assert int(killed) >= 1
    # A change nobody is told about: only a bypassed (or emptied) cache shows it.
    silently(db, f"UPDATE tags SET name = 'unannounced' WHERE repository_id = {repo_id(db, repo)}")
    eventually(lambda: tags_of(listing(api, repo)[0]) == {"unannounced"}, "the change is seen after the loss")
    eventually(
        lambda: int(psql(db, f"SELECT count(*) FROM pg_stat_activity WHERE {listeners(db)}")) == 2,
        "both cores listen again",
        deadline_s=20,
    )
    # Back: the cache works again (a silent change is not seen on a cached page) ...
    assert tags_of(cached_listing(api, repo)[0]) == {"unannounced"}
    silently(db, f"UPDATE tags SET name = 'later' WHERE repository_id = {repo_id(db, repo)}")
    assert tags_of(listing(api, repo)[0]) == {"unannounced"}
    # ... and notified changes drop it.
    psql(db, f"UPDATE repositories SET description = 'x' WHERE id = {repo_id(db, repo)}")
    eventually(lambda: tags_of(listing(api, repo)[0]) == {"later"}, "the notification drops the page")


class _Pool:
    def __init__(self, pool: Counting) -> None:
        self.pool = pool


async def test_statement_counts_on_a_miss_and_a_hit(pg_database: TestDatabase) -> None:
    """A miss runs the permission check, the repository's id, the list's ids in order (once, until the
    repository changes) and the page's rows by id; a hit only the first two (the permission check runs
    every time)."""
    conn = await asyncpg.connect(pg_database.dsn())
    try:
        owner, repository = await seed_repository(conn)
        for i in range(20):
            await conn.execute(
                "INSERT INTO artifacts (repository_id, digest, media_type, size, content) VALUES ($1, $2, $3, 2, '{}')",
                repository,
                f"sha256:{i:02}",
                mt.OCI_MANIFEST,
            )
        cache = LookupCache(1 << 20)
        cache.live = True
        counting = Counting(conn)
        service = artifact_service(counting, cache)
        admin = Principal(kind="user", name="admin", user_id=owner, sysadmin=True)
        rendered: list[int] = []

        def render(rows: list[Any]) -> bytes:
            rendered.append(len(rows))
            return repr([a.digest for a in rows]).encode()

        async def page(size: int) -> tuple[bytes, int]:
            counting.count = 0
            return await service.list(
                admin, ProjectRef(name="p"), "r", [], [], Page(1, size), with_tag=True, render=render
            )

        for size in (1, 10, 100):
            body, total = await page(size)
            # The first miss reads the order too; the others slice it.
            assert counting.count == (4 if size == 1 else 3) and total == 20 and rendered[-1] == min(size, 20)
            assert await page(size) == (body, total)
            assert counting.count == 2 and len(rendered) == 1 + [1, 10, 100].index(size)
        cache.invalidate(repository)
        await page(10)
        assert counting.count == 4
        # Without notifications (the cache bypassed), a page and its count, as before the cache.
        cache.live = False
        await page(10)
        assert counting.count == 4
    finally:
        await conn.close()
