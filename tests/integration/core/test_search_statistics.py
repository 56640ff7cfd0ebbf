"""/search, /statistics and /projects/{p}/summary against real token, registry and core processes.

Images are pushed through the registry; every expected figure is computed here from the bytes pushed and
the memberships made (a model of the world), never read back from the tables the server reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from services.core.listing import like_pattern
from services.core.projects.store import search_projects
from services.core.security.access import Viewer
from services.core.statistics import store
from services.core.statistics.service import SEARCH_LIMIT
from tests.harness.oci import digest_of, push_image
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_group_member, add_member, add_project, add_user
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, running_stack
from tests.integration.core.test_query_counts import Counting

pytestmark = pytest.mark.integration

PW = "Stats-pw1"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
SHARED = b"a layer shared by two artifacts, two repositories and two projects"


@dataclass
class World:
    """What has been created, and so what every figure must be."""

    public: dict[str, bool] = field(default_factory=lambda: {"library": True})
    member_of: dict[str, set[str]] = field(default_factory=dict)  # user → projects (directly or by group)
    # (repository, manifest digest) → the (digest, size) of the manifest, its config and its layers.
    artifacts: dict[tuple[str, str], frozenset[tuple[str, int]]] = field(default_factory=dict)
    repositories: set[str] = field(default_factory=set)
    manifest_size: dict[str, int] = field(default_factory=dict)

    def storage(self, project: str | None = None) -> int:
        blobs: set[tuple[str, int]] = set()
        for (repo, _), referenced in self.artifacts.items():
            if project is None or repo.split("/")[0] == project:
                blobs |= referenced
        return sum(size for _, size in blobs)

    def statistics(self, user: str | None) -> dict[str, int]:
        """Harbor's Statistic for `user` (None: the sysadmin)."""

        def project_of(repo: str) -> str:
            return repo.split("/")[0]

        seen = set(self.public) if user is None else self.member_of.get(user, set())
        private = {p for p in self.public if not self.public[p] and p in seen}
        public = {p for p in self.public if self.public[p]}
        return {
            "public_project_count": len(public),
            "private_project_count": len(private),
            "public_repo_count": sum(project_of(r) in public for r in self.repositories),
            "private_repo_count": sum(project_of(r) in private for r in self.repositories),
            "total_project_count": len(self.public) if user is None else 0,
            "total_repo_count": len(self.repositories) if user is None else 0,
            "total_storage_consumption": self.storage() if user is None else 0,
        }

    def push(self, stack: Stack, repo: str, tag: str, layers: list[bytes], config: bytes = CONFIG) -> str:
        with stack.registry_client(*ADMIN) as reg:
            manifest, digest = push_image(reg, repo, tag, layers=layers, config=config)
        self.artifacts[(repo, digest)] = frozenset((digest_of(data), len(data)) for data in (manifest, config, *layers))
        self.repositories.add(repo)
        self.manifest_size[digest] = len(manifest)
        return digest

    def delete_artifact(self, stack: Stack, repo: str, digest: str) -> None:
        project, _, path = repo.partition("/")
        with stack.api() as api:
            r = api.delete(f"/projects/{project}/repositories/{path.replace('/', '%252F')}/artifacts/{digest}")
            assert r.status_code == 200, r.text
        del self.artifacts[(repo, digest)]

    def delete_repository(self, stack: Stack, repo: str) -> None:
        project, _, path = repo.partition("/")
        with stack.api() as api:
            r = api.delete(f"/projects/{project}/repositories/{path.replace('/', '%252F')}")
            assert r.status_code == 200, r.text
        self.artifacts = {k: v for k, v in self.artifacts.items() if k[0] != repo}
        self.repositories.discard(repo)


@dataclass
class Setup:
    stack: Stack
    world: World


def _project(world: World, db: TestDatabase, name: str, public: bool = False) -> None:
    add_project(db, name, public=public)
    world.public[name] = public


def _member(world: World, db: TestDatabase, project: str, user: str, role: int) -> None:
    add_member(db, project, user, role)
    world.member_of.setdefault(user, set()).add(project)


@pytest.fixture(scope="module")
def setup(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    db = module_database
    world = World()
    with running_stack(db, tmp_path_factory) as stack:
        # Nothing pushed yet: the bootstrap's public `library` alone, and no storage.
        with stack.api() as api:
            assert api.get("/statistics").json() == world.statistics(None)
        for user in ("alice", "bob", "carol", "gina", "pa", "maint", "guest", "lg"):
            add_user(db, user, PW)
        _project(world, db, "sa")
        _project(world, db, "sb")
        _project(world, db, "spub", public=True)
        _project(world, db, "sq_x", public=True)
        _project(world, db, "sqax", public=True)
        _member(world, db, "sa", "alice", 2)
        _member(world, db, "sa", "pa", 1)
        _member(world, db, "sa", "maint", 4)
        _member(world, db, "sa", "guest", 3)
        _member(world, db, "sa", "lg", 5)
        _member(world, db, "sb", "bob", 2)
        # gina sees sb through a group only.
        add_group_member(db, "sb", "sb-readers", ["gina"], 3)
        world.member_of.setdefault("gina", set()).add("sb")
        for repo in ("sa/app", "sa/web", "sb/app", "sb/secret", "spub/app", "sq_x/tool", "sqax/tool"):
            world.push(stack, repo, "1.0", [f"own layer of {repo}".encode()])
        yield Setup(stack, world)


# --- search ---------------------------------------------------------------------------------------------


def _search(stack: Stack, auth: tuple[str, str] | None, q: str) -> tuple[list[str], list[str]]:
    with stack.api(auth) as api:
        r = api.get("/search", params={"q": q})
        assert r.status_code == 200, r.text
        body = r.json()
    assert set(body) == {"project", "repository"}
    return [p["name"] for p in body["project"]], [x["repository_name"] for x in body["repository"]]


def test_search_shows_only_what_the_caller_may_see(setup: Setup) -> None:
    stack = setup.stack
    assert _search(stack, None, "app") == ([], ["spub/app"])
    assert _search(stack, ("carol", PW), "app") == ([], ["spub/app"])
    assert _search(stack, ("alice", PW), "app") == ([], ["sa/app", "spub/app"])
    assert _search(stack, ("bob", PW), "app") == ([], ["sb/app", "spub/app"])
    assert _search(stack, ("gina", PW), "app") == ([], ["sb/app", "spub/app"])
    assert _search(stack, ADMIN, "app") == ([], ["sa/app", "sb/app", "spub/app"])
    # Project names match too; a private project of B never shows to a member of A, nor its repositories.
    assert _search(stack, ("alice", PW), "sb") == ([], [])
    assert _search(stack, ("alice", PW), "secret") == ([], [])
    assert _search(stack, None, "sa") == ([], [])
    assert _search(stack, ("alice", PW), "sa") == (["sa"], ["sa/app", "sa/web"])
    assert _search(stack, ADMIN, "sb") == (["sb"], ["sb/app", "sb/secret"])
    assert _search(stack, None, "sp") == (["spub"], ["spub/app"])


def test_search_renders_harbors_shapes(setup: Setup) -> None:
    with setup.stack.api(("alice", PW)) as api:
        body = api.get("/search", params={"q": "sa"}).json()
    (project,) = body["project"]
    assert project["name"] == "sa" and project["repo_count"] == 2 and project["metadata"]["public"] == "false"
    assert project["current_user_role_id"] == 2
    first = body["repository"][0]
    assert first == {
        "project_id": project["project_id"],
        "project_name": "sa",
        "project_public": False,
        "repository_name": "sa/app",
        "pull_count": 0,
        "artifact_count": 1,
    }


def test_search_takes_like_metacharacters_literally(setup: Setup) -> None:
    stack = setup.stack
    # `_` is one character in LIKE: unescaped, "q_x" would match "sqax" too.
    assert _search(stack, ADMIN, "q_x") == (["sq_x"], ["sq_x/tool"])
    assert _search(stack, ADMIN, "qax") == (["sqax"], ["sqax/tool"])
    # `%` appears in no name: unescaped it would match everything.
    assert _search(stack, ADMIN, "%") == ([], [])
    assert _search(stack, ADMIN, "s%a") == ([], [])
    assert _search(stack, ADMIN, "\\") == ([], [])


def test_search_needs_q(setup: Setup) -> None:
    with setup.stack.api() as api:
        assert_error(api.get("/search"), 400)
        assert_error(api.get("/search", params={"q": ""}), 400)
        assert_error(api.get("/search", params={"q": "   "}), 400)
        assert_error(api.get("/search", params={"q": "x" * 2000}), 400)


def test_search_answers_a_bounded_number_of_results(setup: Setup) -> None:
    for i in range(SEARCH_LIMIT + 5):
        _project(setup.world, setup.stack.db, f"bulk{i:03}", public=True)
    projects, _ = _search(setup.stack, None, "bulk")
    assert projects == [f"bulk{i:03}" for i in range(SEARCH_LIMIT)]


# --- statistics -----------------------------------------------------------------------------------------


def _statistics(stack: Stack, auth: tuple[str, str]) -> dict[str, Any]:
    with stack.api(auth) as api:
        r = api.get("/statistics")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def _check_statistics(setup: Setup) -> None:
    world = setup.world
    assert _statistics(setup.stack, ADMIN) == world.statistics(None)
    for user in ("alice", "bob", "carol", "gina", "lg"):
        assert _statistics(setup.stack, (user, PW)) == world.statistics(user), user


def test_statistics_are_exact_for_each_caller(setup: Setup) -> None:
    with setup.stack.api(None) as anonymous:
        assert_error(anonymous.get("/statistics"), 401)
    _check_statistics(setup)
    # Spot checks of the model itself, so a wrong model cannot hide a wrong answer.
    alice = _statistics(setup.stack, ("alice", PW))
    assert alice["private_project_count"] == 1 and alice["private_repo_count"] == 2
    assert alice["total_storage_consumption"] == 0 and alice["total_project_count"] == 0
    assert _statistics(setup.stack, ("carol", PW))["private_project_count"] == 0


def test_statistics_follow_pushes_and_deletes(setup: Setup) -> None:
    stack, world = setup.stack, setup.world
    _project(world, stack.db, "sc")
    _member(world, stack.db, "sc", "carol", 2)
    before = _statistics(stack, ADMIN)
    world.push(stack, "sc/one", "1.0", [b"sc one layer"])
    digest = world.push(stack, "sc/two", "1.0", [b"sc two layer"])
    _check_statistics(setup)
    after = _statistics(stack, ADMIN)
    assert after["total_repo_count"] == before["total_repo_count"] + 2
    assert after["private_repo_count"] == before["private_repo_count"] + 2
    # The artifact goes, its repository stays (Harbor's rule): storage drops, counts do not.
    world.delete_artifact(stack, "sc/two", digest)
    _check_statistics(setup)
    world.delete_repository(stack, "sc/one")
    world.delete_repository(stack, "sc/two")
    _check_statistics(setup)
    assert _statistics(stack, ADMIN)["total_repo_count"] == before["total_repo_count"]
    assert _statistics(stack, ADMIN)["total_storage_consumption"] == before["total_storage_consumption"]


# --- project summary and storage ------------------------------------------------------------------------


def _summary(stack: Stack, auth: tuple[str, str] | None, project: str) -> dict[str, Any]:
    with stack.api(auth) as api:
        r = api.get(f"/projects/{project}/summary")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def _storage(stack: Stack, project: str) -> int:
    quota = _summary(stack, ADMIN, project)["quota"]
    assert quota["hard"] == {"storage": -1}
    used: int = quota["used"]["storage"]
    return used


def test_storage_counts_each_distinct_blob_once(setup: Setup) -> None:
    stack, world = setup.stack, setup.world
    _project(world, stack.db, "sd")
    _project(world, stack.db, "se")
    config = json.dumps({"architecture": "arm64", "os": "linux", "of": "sd"}).encode()
    own = [b"sd layer one", b"sd layer two", b"sd layer three"]
    total_before = _statistics(stack, ADMIN)["total_storage_consumption"]
    # SHARED in two artifacts of one repository, in a second repository, and in another project.
    first = world.push(stack, "sd/app", "1", [SHARED, own[0]], config)
    second = world.push(stack, "sd/app", "2", [SHARED, own[1]], config)
    web = world.push(stack, "sd/web", "1", [SHARED, own[2]], config)
    # The same manifest in two repositories of the project: its bytes count once.
    same = world.push(stack, "sd/copy", "1", [SHARED, own[0]], config)
    assert same == first
    world.push(stack, "se/app", "1", [SHARED, b"se layer"])

    sizes = world.manifest_size
    by_hand = len(SHARED) + sum(len(x) for x in own) + len(config) + sizes[first] + sizes[second] + sizes[web]
    assert _storage(stack, "sd") == by_hand == world.storage("sd")
    assert _storage(stack, "se") == world.storage("se")
    total = _statistics(stack, ADMIN)["total_storage_consumption"]
    assert total == world.storage()
    # SHARED once in the total, though in both projects' figures; se's CONFIG was in the total already.
    assert total - total_before == world.storage("sd") + world.storage("se") - len(SHARED) - len(CONFIG)

    # Deleting the second artifact frees its own layer and its manifest, not the shared layer.
    sd_before = world.storage("sd")
    second_manifest = sizes[second]
    world.delete_artifact(stack, "sd/app", second)
    assert _storage(stack, "sd") == sd_before - len(own[1]) - second_manifest == world.storage("sd")
    # The copy of the first manifest goes: the first still holds all its bytes.
    world.delete_artifact(stack, "sd/copy", same)
    assert _storage(stack, "sd") == sd_before - len(own[1]) - second_manifest
    assert _statistics(stack, ADMIN)["total_storage_consumption"] == world.storage()
    _check_statistics(setup)


def test_summary_counts_members_by_role_and_hides_what_the_caller_may_not_read(setup: Setup) -> None:
    stack, world = setup.stack, setup.world
    full = _summary(stack, ("alice", PW), "sa")
    assert full == {
        "repo_count": 2,
        "project_admin_count": 1,
        "maintainer_count": 1,
        "developer_count": 1,
        "guest_count": 1,
        "limited_guest_count": 1,
        "quota": {"hard": {"storage": -1}, "used": {"storage": world.storage("sa")}},
    }
    # A group counts as a member, as in Harbor.
    sb = _summary(stack, ("gina", PW), "sb")
    assert (sb["developer_count"], sb["guest_count"], sb["project_admin_count"]) == (1, 1, 0)
    # A limited guest must not learn who else is there; anonymous callers of a public project see neither
    # members nor quota.
    limited = _summary(stack, ("lg", PW), "sa")
    assert limited == {"repo_count": 2, "quota": full["quota"]}
    assert _summary(stack, None, "spub") == {"repo_count": 1}
    assert _summary(stack, ("carol", PW), "spub") == {"repo_count": 1}
    assert _summary(stack, ADMIN, "sa") == full
    with stack.api() as api:
        project_id = api.get("/projects/sa").json()["project_id"]
        assert api.get(f"/projects/{project_id}/summary").json() == full


def test_summary_of_an_invisible_project_is_404(setup: Setup) -> None:
    stack = setup.stack
    for auth in (("carol", PW), ("bob", PW), None):
        with stack.api(auth) as api:
            assert_error(api.get("/projects/sa/summary"), 404)
            assert_error(api.get("/projects/nosuch/summary"), 404)
    with stack.api() as api:
        project_id = api.get("/projects/sa").json()["project_id"]
    with stack.api(("carol", PW)) as api:
        assert_error(api.get(f"/projects/{project_id}/summary"), 404)


# --- statement counts -----------------------------------------------------------------------------------


async def test_each_query_is_one_statement(setup: Setup) -> None:
    conn = await asyncpg.connect(setup.stack.db.dsn())
    try:
        sa_id = await conn.fetchval("SELECT id FROM projects WHERE name = 'sa'")
        alice = await conn.fetchval("SELECT id FROM users WHERE username = 'alice'")
        viewers = (Viewer(None, False, ()), Viewer(alice, False, ()), Viewer(1, True, ()), Viewer(None, False, ("sb",)))
        pattern = like_pattern("s")
        for viewer in viewers:
            ex = Counting(conn)
            await search_projects(ex, viewer, pattern, SEARCH_LIMIT)
            await store.search_repositories(ex, viewer, pattern, SEARCH_LIMIT)
            assert ex.count == 2
            ex = Counting(conn)
            await store.counts(ex, viewer, with_storage=viewer.sees_all)
            assert ex.count == 1
        ex = Counting(conn)
        usage = await store.project_usage(ex, sa_id, with_storage=True)
        assert ex.count == 1 and usage.storage == setup.world.storage("sa")
    finally:
        await conn.close()
