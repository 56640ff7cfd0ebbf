"""A registry token is bound to the id of the project it was granted in, not only to the project's name.

A token for `p/app` obtained before project `p` was deleted and re-created under the same name (by
someone else) opens nothing in the new `p`: pulls, pushes and mounts are refused as a scope the token lacks,
and nothing is written. Projects are deleted as core deletes them (their repositories first, which core
requires, in one statement here) and re-created directly in the database, as the other tests create them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from services.common.auth.scopes import Access
from services.common.auth.tokens import TokenSigner
from services.common.cache import REGISTRY_LISTENER, ChangeListener, LookupCache
from services.common.db import Database
from services.common.oci import mediatypes as mt
from services.common.settings import DatabaseSettings
from services.registry.token_auth import ProjectIds
from tests.harness.oci import digest_of, image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, RegistryProcess, TestDatabase
from tests.harness.registry_auth import fetch_token
from tests.harness.token import TokenServiceProcess, add_member, add_project, add_user, query
from tests.harness.waiting import async_eventually as wait_until
from tests.harness.waiting import eventually
from tests.integration.registry.helpers import assert_error

pytestmark = pytest.mark.integration
SERVICE = "berth-registry"
PW = "Binding-pw1"
DEADLINE_S = 20


def challenge(resp: httpx.Response) -> dict[str, str]:
    header = resp.headers["WWW-Authenticate"]
    assert header.startswith("Bearer "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def bearer(registry: RegistryProcess, token: str) -> httpx.Client:
    """A client that sends this one token and never asks for another."""
    return httpx.Client(base_url=registry.url, timeout=60, headers={"Authorization": f"Bearer {token}"})


def token_of(token_server: TokenServiceProcess, credentials: tuple[str, str], *scopes: str) -> str:
    return fetch_token(token_server.token_url(), SERVICE, list(scopes), credentials)


def project_id(db: TestDatabase, name: str) -> int | None:
    rows = query(db, "SELECT id FROM projects WHERE name = $1", name)
    return rows[0]["id"] if rows else None


def delete_project(db: TestDatabase, name: str) -> None:
    """As core does it: the repositories first (core refuses to delete a project holding any), then the
    project, whose members go with it."""
    query(
        db,
        "WITH repos AS (DELETE FROM repositories WHERE name >= $1 || '/' AND name < $1 || '0' RETURNING id)"
        " DELETE FROM projects WHERE name = $1",
        name,
    )


def assert_insufficient_scope(resp: httpx.Response, scope: str) -> None:
    assert_error(resp, 401, "UNAUTHORIZED")
    params = challenge(resp)
    assert params["error"] == "insufficient_scope", params
    assert params["scope"] == scope, params


def holdings(db: TestDatabase, repo: str) -> dict[str, object]:
    """What the registry holds for `repo`: its artifacts, tags, linked blobs and open uploads."""
    return {
        "artifacts": sorted(
            r["digest"]
            for r in query(
                db,
                "SELECT a.digest FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = $1",
                repo,
            )
        ),
        "tags": sorted(
            (r["name"], r["digest"])
            for r in query(
                db,
                "SELECT t.name, a.digest FROM tags t JOIN repositories r ON r.id = t.repository_id"
                " JOIN artifacts a ON a.id = t.artifact_id WHERE r.name = $1",
                repo,
            )
        ),
        "blobs": sorted(
            r["digest"]
            for r in query(
                db,
                "SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id"
                " WHERE r.name = $1",
                repo,
            )
        ),
        "uploads": query(db, "SELECT count(*) AS n FROM uploads WHERE repository = $1", repo)[0]["n"],
    }


def refusals(registry: RegistryProcess, repo: str) -> list[dict[str, object]]:
    """The registry's log lines saying why a token was refused for `repo`'s project."""
    found = []
    for line in registry.settled_logs().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(entry, dict)
            and entry.get("event") == "token_refused_for_project"
            and entry["repository"] == repo
        ):
            found.append(entry)
    return found


def blob_exists(db: TestDatabase, digest: str) -> bool:
    return bool(query(db, "SELECT 1 FROM blobs WHERE digest = $1", digest))


@pytest.fixture
def names(module_database: TestDatabase) -> Iterator[dict[str, str]]:
    """A project `p` owned by the admin where alice is a developer, and bob, who will own its successor."""
    u = uuid.uuid4().hex[:8]
    p, alice, bob = f"bind{u}", f"alice-{u}", f"bob-{u}"
    add_project(module_database, p)
    add_user(module_database, alice, PW)
    add_user(module_database, bob, PW)
    add_member(module_database, p, alice, 2)
    yield {"project": p, "repo": f"{p}/app", "alice": alice, "bob": bob}


def recreate(
    db: TestDatabase, names: dict[str, str], registry: RegistryProcess, token_server: TokenServiceProcess, old_id: int
) -> int:
    """`p` deleted and created again by bob (its owner and projectAdmin), who pushes his own `app:v1`."""
    p, repo = names["project"], names["repo"]
    delete_project(db, p)
    add_project(db, p, owner=names["bob"])
    add_member(db, p, names["bob"], 1)
    new_id = project_id(db, p)
    assert new_id is not None and new_id != old_id
    bob_token = token_of(token_server, (names["bob"], PW), f"repository:{repo}:pull,push")
    with bearer(registry, bob_token) as bob:
        # Once bob's pull of alice's old tag is a 404 the registry has heard of the old repository's
        # deletion: from then on nothing it cached about the old project can be served.
        eventually(lambda: bob.get(f"/v2/{repo}/manifests/v1").status_code == 404, "the old repository is gone")
        push_image(bob, repo, "v1", layers=[b"bob's layer " + p.encode()])
    return new_id


def test_a_token_outlives_neither_its_project_nor_a_re_creation_under_the_same_name(
    registry_server: RegistryProcess,
    token_server: TokenServiceProcess,
    module_database: TestDatabase,
    names: dict[str, str],
) -> None:
    db, p, repo = module_database, names["project"], names["repo"]
    old_id = project_id(db, p)
    assert old_id is not None
    alice_token = token_of(token_server, (names["alice"], PW), f"repository:{repo}:pull,push")
    with bearer(registry_server, alice_token) as alice:
        _, old_digest = push_image(alice, repo, "v1", layers=[b"alice's layer " + p.encode()])
        for _ in range(2):  # the second pull is served from the registry's lookup cache
            assert alice.get(f"/v2/{repo}/manifests/v1").status_code == 200

    new_id = recreate(db, names, registry_server, token_server, old_id)
    before = holdings(db, repo)
    (bob_tag,) = before["tags"]  # type: ignore[misc]
    assert bob_tag[1] != old_digest
    bob_layer = b"bob's layer " + p.encode()

    with bearer(registry_server, alice_token) as alice:
        # Pulls: the manifest (cached lookups and all), a blob, the tag list.
        pull = f"repository:{repo}:pull"
        assert_insufficient_scope(alice.get(f"/v2/{repo}/manifests/v1"), pull)
        assert_insufficient_scope(alice.head(f"/v2/{repo}/manifests/v1"), pull)
        assert_insufficient_scope(alice.get(f"/v2/{repo}/blobs/{digest_of(bob_layer)}"), pull)
        assert_insufficient_scope(alice.get(f"/v2/{repo}/tags/list"), pull)
        # Pushes: an upload session, a monolithic blob, a manifest over bob's tag.
        push = f"repository:{repo}:pull,push"
        assert_insufficient_scope(alice.post(f"/v2/{repo}/blobs/uploads/"), push)
        intruder = b"alice's intruding layer " + p.encode()
        r = alice.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(intruder)}, content=intruder)
        assert_insufficient_scope(r, push)
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        manifest = image_manifest(config, [bob_layer])
        assert_insufficient_scope(push_manifest(alice, repo, "v1", manifest, mt.OCI_MANIFEST), push)

    assert holdings(db, repo) == before, "a refused request wrote something"
    assert not blob_exists(db, digest_of(intruder))
    logged = refusals(registry_server, repo)
    assert len(logged) == 7, logged  # one line per refused request
    assert {(e["reason"], e["token_project_id"], e["project_id"], e["subject"]) for e in logged} == {
        ("project_replaced", old_id, new_id, names["alice"])
    }

    # A fresh token: bob (the new owner) pulls and pushes; alice, no member of the new project, gets nothing.
    bob_token = token_of(token_server, (names["bob"], PW), f"repository:{repo}:pull,push")
    with bearer(registry_server, bob_token) as bob:
        assert bob.get(f"/v2/{repo}/manifests/v1").headers["Docker-Content-Digest"] == bob_tag[1]
        push_image(bob, repo, "v2", layers=[b"bob's second layer " + p.encode()])
    fresh = token_of(token_server, (names["alice"], PW), f"repository:{repo}:pull,push")
    with bearer(registry_server, fresh) as alice:
        assert_insufficient_scope(alice.get(f"/v2/{repo}/manifests/v1"), f"repository:{repo}:pull")
    assert project_id(db, p) == new_id


def test_a_token_for_a_deleted_project_is_refused_and_a_push_says_the_project_is_gone(
    registry_server: RegistryProcess,
    token_server: TokenServiceProcess,
    module_database: TestDatabase,
    names: dict[str, str],
) -> None:
    db, p, repo = module_database, names["project"], names["repo"]
    alice_token = token_of(token_server, (names["alice"], PW), f"repository:{repo}:pull,push")
    with bearer(registry_server, alice_token) as alice:
        push_image(alice, repo, "v1")
        assert alice.get(f"/v2/{repo}/manifests/v1").status_code == 200
        assert alice.get(f"/v2/{repo}/manifests/v1").status_code == 200

        delete_project(db, p)

        eventually(lambda: alice.get(f"/v2/{repo}/manifests/v1").status_code == 401, "the pull is refused")
        assert_insufficient_scope(alice.get(f"/v2/{repo}/manifests/v1"), f"repository:{repo}:pull")
        body = assert_error(alice.post(f"/v2/{repo}/blobs/uploads/"), 403, "DENIED")
        assert body is not None and f"project {p} does not exist" in body["message"]
    assert not query(db, "SELECT 1 FROM repositories WHERE name = $1", repo)
    assert {e["reason"] for e in refusals(registry_server, repo)} == {"project_gone"}


def test_a_mount_from_a_re_created_project_falls_back_to_an_upload(
    registry_server: RegistryProcess,
    token_server: TokenServiceProcess,
    module_database: TestDatabase,
    names: dict[str, str],
) -> None:
    db, p, source = module_database, names["project"], names["repo"]
    target_project = f"{p}t"
    add_project(db, target_project)
    add_member(db, target_project, names["alice"], 2)
    target = f"{target_project}/app"
    old_id = project_id(db, p)
    assert old_id is not None
    alice_token = token_of(
        token_server, (names["alice"], PW), f"repository:{target}:pull,push", f"repository:{source}:pull"
    )
    known = b"a layer of the old project " + p.encode()
    with registry_server.client() as admin:
        push_image(admin, source, "v1")
        push_blob(admin, source, known)
    with bearer(registry_server, alice_token) as alice:
        # The mount works while the source project is the one the token was granted in.
        r = alice.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest_of(known), "from": source})
        assert r.status_code == 201, r.text

    new_id = recreate(db, names, registry_server, token_server, old_id)
    bob_layer = b"bob's layer " + p.encode()  # what bob pushed into the new p/app
    before = holdings(db, target)

    with bearer(registry_server, alice_token) as alice:
        r = alice.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest_of(bob_layer), "from": source})
        # Not mounted: an upload session instead, as for any source the token does not cover.
        assert r.status_code == 202, r.text
        assert alice.delete(r.headers["Location"]).status_code == 204
    after = holdings(db, target)
    assert after == before and digest_of(bob_layer) not in after["blobs"]  # type: ignore[operator]
    assert [(e["reason"], e["project_id"]) for e in refusals(registry_server, source)] == [("project_replaced", new_id)]


def test_a_token_issued_without_project_ids_is_refused_for_repositories_and_the_reason_logged(
    registry_server: RegistryProcess, token_server: TokenServiceProcess, module_database: TestDatabase, repo_name: str
) -> None:
    """A token signed by the right key but as tokens were before they carried the project id."""
    with registry_server.client() as admin:
        push_image(admin, repo_name, "v1")
    config = yaml.safe_load(token_server.config_path.read_text())
    signer = TokenSigner(Path(config["token"]["private_key"]).read_bytes())
    legacy, _ = signer.sign(
        issuer="berth-token-issuer",
        subject="admin",
        audience=SERVICE,
        access=[Access("repository", repo_name, ("pull", "push")), Access("registry", "catalog", ("*",))],
        ttl_seconds=600,
        now=int(time.time()),
    )
    with bearer(registry_server, legacy) as old:
        assert_insufficient_scope(old.get(f"/v2/{repo_name}/manifests/v1"), f"repository:{repo_name}:pull")
        assert_insufficient_scope(old.post(f"/v2/{repo_name}/blobs/uploads/"), f"repository:{repo_name}:pull,push")
        # The catalog belongs to no project: the same token still lists it.
        assert old.get("/v2/_catalog").status_code == 200
    logged = refusals(registry_server, repo_name)
    assert [(e["reason"], e["action"], e["token_project_id"]) for e in logged] == [
        ("token_without_project_id", "pull", None),
        ("token_without_project_id", "pull", None),
    ]


# --- where the registry gets a project's current id ----------------------------------------------------


async def test_project_ids_are_cached_for_pulls_and_dropped_with_their_repository_or_project(
    pg_database: TestDatabase,
) -> None:
    """`ProjectIds` against PostgreSQL and the registry's own cache and listener: a pull's lookup is
    answered from the cache, a write's always from the database, and the deletion of the repository or of
    the project (even one deleted by hand with its repositories left) drops the cached id."""
    settings = DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=pg_database.name)
    db, cache = Database(settings), LookupCache(1 << 20)
    listener = ChangeListener(settings, cache, REGISTRY_LISTENER).lifespan(None)
    await db.open()
    await listener.__anext__()
    try:
        ids = ProjectIds(db, cache)
        owner = await db.pool.fetchval("INSERT INTO users (username) VALUES ('owner') RETURNING id")

        async def create(name: str) -> int:
            value: int = await db.pool.fetchval(
                "INSERT INTO projects (name, owner_id) VALUES ($1, $2) RETURNING id", name, owner
            )
            return value

        await wait_until(lambda: cache.live, "the cache listens", DEADLINE_S)
        first = await create("p")
        await db.pool.execute("INSERT INTO repositories (name) VALUES ('p/app')")
        assert await ids.current("p/app", fresh=False) == first
        assert await ids.current("app", fresh=False) is None  # a name without a project

        # Replaced behind the cache's back, breaking core's rule (the repository stays): the project's
        # deletion notifies too (migration 0010), so not even a pull keeps the old id.
        await db.pool.execute("DELETE FROM projects WHERE name = 'p'")
        second = await create("p")
        await wait_until(
            lambda: _equals(ids.current("p/app", fresh=False), second), "the replaced id is dropped", DEADLINE_S
        )
        assert await ids.current("p/app", fresh=True) == second  # a write always reads

        # As core deletes a project: its repositories first, whose notification drops the cached id.
        await db.pool.execute("DELETE FROM repositories WHERE name = 'p/app'")
        await db.pool.execute("DELETE FROM projects WHERE name = 'p'")
        fourth = await create("p")
        await wait_until(
            lambda: _equals(ids.current("p/app", fresh=False), fourth), "the cached id is dropped", DEADLINE_S
        )

        # A project without repositories is not cached: nothing can go stale.
        empty = await create("q")
        assert await ids.current("q/app", fresh=False) == empty
        await db.pool.execute("DELETE FROM projects WHERE name = 'q'")
        assert await ids.current("q/app", fresh=False) is None
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await listener.__anext__()
        await db.close()


async def _equals(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected
