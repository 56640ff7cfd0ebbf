"""Project quotas against real token, registry and core processes: Harbor's /quotas API (list with
reference_id, sort and paging, get, put; 400s naming the field; the sysadmin's alone), storage_limit at
project creation (the sysadmin's, else storage_per_project), the usage in the project summary exact after
pushes, copies and deletes through the API, and the limit at work: a push or a copy past it refused with
403 DENIED and Harbor's message, nothing written, QUOTA_EXCEED on the event stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from services.common.oci import mediatypes as mt
from services.common.quota import display_size
from tests.harness.oci import digest_of, image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import REDIS_URL, TestDatabase
from tests.harness.token import add_member, add_project, add_user, query
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, running_stack, wait_for

pytestmark = pytest.mark.integration

PW = "Quota-pw1"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()


@dataclass
class World:
    stack: Stack
    db: TestDatabase

    def api(self, user: str | None = "admin") -> httpx.Client:
        return self.stack.api(ADMIN if user == "admin" else (None if user is None else (user, PW)))

    def registry(self) -> httpx.Client:
        return self.stack.registry_client(*ADMIN)

    def quota_of(self, project: str) -> dict:
        pid = query(self.db, "SELECT id FROM projects WHERE name = $1", project)[0]["id"]
        r = self.api().get("/quotas", params={"reference": "project", "reference_id": str(pid)})
        assert r.status_code == 200, r.text
        assert r.headers["X-Total-Count"] == "1"
        return dict(r.json()[0])

    def recount(self, project: str) -> int:
        """The usage by its definition, from the tables (services/core/statistics/store.py's rule)."""
        rows = query(
            self.db,
            "SELECT COALESCE(sum(size), 0)::bigint AS n FROM ("
            " SELECT b.digest, b.size FROM repositories r JOIN artifacts a ON a.repository_id = r.id"
            " JOIN artifact_blobs ab ON ab.artifact_id = a.id JOIN blobs b ON b.digest = ab.digest"
            " WHERE r.name LIKE $1 || '/%'"
            " UNION SELECT a.digest, a.size FROM repositories r JOIN artifacts a ON a.repository_id = r.id"
            " WHERE r.name LIKE $1 || '/%') u",
            project,
        )
        return int(rows[0]["n"])

    def used(self, project: str) -> int:
        used = int(self.quota_of(project)["used"]["storage"])
        assert used == self.recount(project)
        return used

    def events(self, kind: str) -> list[dict]:
        """The events of type `kind` on the stream (the outbox rows are gone once the audit consumer has them)."""
        client = redis.Redis.from_url(REDIS_URL)
        try:
            entries = client.xrange(f"{self.stack.registry.redis_prefix}events")
        finally:
            client.close()
        payloads = [json.loads(fields[b"event"]) for _, fields in entries]
        return [p for p in payloads if p["type"] == kind]

    def set_limit(self, project: str, hard: int) -> None:
        r = self.api().put(f"/quotas/{self.quota_of(project)['id']}", json={"hard": {"storage": hard}})
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def world(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_stack(module_database, tmp_path_factory) as s:
        add_user(module_database, "dev", PW)
        for project in ("qa", "qb"):
            add_project(module_database, project)
            add_member(module_database, project, "dev", 2)
        yield World(s, module_database)


def image(size: int, seed: str) -> tuple[bytes, list[bytes]]:
    """A config and one layer of `size` bytes, both unique to `seed`."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = (seed.encode() * (size // max(1, len(seed)) + 1))[:size]
    return config, [layer]


def test_quota_api_shapes_and_errors(world: World) -> None:
    api = world.api()
    q = world.quota_of("qa")
    assert q["ref"]["name"] == "qa" and q["ref"]["owner_name"] == "admin"
    assert q["hard"] == {"storage": -1} and q["used"] == {"storage": 0}
    assert q["creation_time"].endswith("Z") and q["update_time"].endswith("Z")
    assert api.get(f"/quotas/{q['id']}").json() == q

    # Every project has one; paging and sort as Harbor's.
    r = api.get("/quotas", params={"page_size": "1", "sort": "-id"})
    assert r.status_code == 200 and len(r.json()) == 1 and int(r.headers["X-Total-Count"]) >= 2
    assert 'rel="next"' in r.headers["Link"]
    assert r.json()[0]["id"] > q["id"] or r.json()[0]["id"] == max(x["id"] for x in api.get("/quotas").json())
    assert api.get("/quotas", params={"reference": "registry"}).json() == []
    assert_error(api.get("/quotas", params={"sort": "size"}), 400)
    assert_error(api.get("/quotas", params={"reference_id": "x"}), 400)
    assert_error(api.get("/quotas/999999"), 404)

    for bad, field in (
        ({"hard": {"storage": -2}}, "hard.storage"),
        ({"hard": {"storage": "1"}}, "hard.storage"),
        ({"hard": 5}, "hard"),
        ({"hard": {"storage": 1, "count": 1}}, "count"),
        ({"soft": {}}, "soft"),
    ):
        r = api.put(f"/quotas/{q['id']}", json=bad)
        assert_error(r, 400)
        assert field in r.json()["errors"][0]["message"], (bad, r.text)
    assert_error(api.put("/quotas/999999", json={"hard": {"storage": 1}}), 404)

    # The sysadmin's alone: a member may see the quota in the summary, never list or change quotas.
    dev = world.api("dev")
    assert_error(dev.get("/quotas"), 403)
    assert_error(dev.get(f"/quotas/{q['id']}"), 403)
    assert_error(dev.put(f"/quotas/{q['id']}", json={"hard": {"storage": 1}}), 403)
    assert_error(world.api(None).get("/quotas"), 401)
    assert dev.get("/projects/qa/summary").json()["quota"] == {"hard": {"storage": -1}, "used": {"storage": 0}}


def test_storage_limit_at_creation(world: World) -> None:
    api = world.api()
    assert api.post("/projects", json={"project_name": "qlim", "storage_limit": 1048576}).status_code == 201
    assert world.quota_of("qlim")["hard"] == {"storage": 1048576}
    assert api.post("/projects", json={"project_name": "qunl", "storage_limit": -1}).status_code == 201
    assert world.quota_of("qunl")["hard"] == {"storage": -1}
    for bad in (-2, "10", 1.5, True):
        r = api.post("/projects", json={"project_name": "qbad", "storage_limit": bad})
        assert_error(r, 400)
        assert "storage_limit" in r.json()["errors"][0]["message"]
    assert api.head("/projects", params={"project_name": "qbad"}).status_code == 404

    # Omitted or 0, or asked by anyone but the sysadmin: storage_per_project.
    assert api.put("/configurations", json={"storage_per_project": 4096}).status_code == 200
    try:
        assert api.post("/projects", json={"project_name": "qdef"}).status_code == 201
        assert world.quota_of("qdef")["hard"] == {"storage": 4096}
        assert api.post("/projects", json={"project_name": "qzero", "storage_limit": 0}).status_code == 201
        assert world.quota_of("qzero")["hard"] == {"storage": 4096}
        r = world.api("dev").post("/projects", json={"project_name": "qdev", "storage_limit": 10**9})
        assert r.status_code == 201, r.text
        assert world.quota_of("qdev")["hard"] == {"storage": 4096}
    finally:
        assert api.put("/configurations", json={"storage_per_project": -1}).status_code == 200


def test_usage_follows_pushes_copies_and_deletes(world: World) -> None:
    api, reg = world.api(), world.registry()
    config, layers = image(3000, "usage-a")
    manifest, digest = push_image(reg, "qb/app", "1", layers=layers, config=config)
    expected = len(manifest) + len(config) + len(layers[0])
    assert world.used("qb") == expected
    summary = api.get("/projects/qb/summary").json()["quota"]
    assert summary == {"hard": {"storage": -1}, "used": {"storage": expected}}

    # A copy within the project adds nothing; into another project it counts there.
    assert api.post("/projects/qb/repositories/copy/artifacts", params={"from": "qb/app:1"}).status_code == 201
    assert world.used("qb") == expected
    before = world.used("qa")
    assert api.post("/projects/qa/repositories/copy/artifacts", params={"from": "qb/app:1"}).status_code == 201
    assert world.used("qa") == before + expected

    # Deleting one of the two copies keeps the bytes; deleting the repository of the last one frees them.
    assert api.delete(f"/projects/qb/repositories/copy/artifacts/{digest}").status_code == 200
    assert world.used("qb") == expected
    assert api.delete("/projects/qb/repositories/app").status_code == 200
    assert world.used("qb") == 0
    assert api.delete("/projects/qa/repositories/copy").status_code == 200
    assert world.used("qa") == before


def test_limit_refuses_push_and_copy(world: World) -> None:
    api, reg = world.api(), world.registry()
    assert api.post("/projects", json={"project_name": "qfull", "storage_limit": -1}).status_code == 201
    config, layers = image(4000, "full-a")
    manifest, _ = push_image(reg, "qfull/app", "1", layers=layers, config=config)
    used = world.used("qfull")
    world.set_limit("qfull", used + 1000)

    # A push past the limit: 403 DENIED, Harbor's words, nothing written.
    config2, layers2 = image(4000, "full-b")
    for blob in (config2, *layers2):
        push_blob(reg, "qfull/app", blob)
    manifest2 = image_manifest(config2, layers2)
    r = push_manifest(reg, "qfull/app", "2", manifest2, mt.OCI_MANIFEST)
    assert r.status_code == 403, r.text
    adding = len(manifest2) + len(config2) + len(layers2[0])
    message = (
        f"adding {display_size(adding)} of storage resource, which when updated to current usage of"
        f" {display_size(used)} will exceed the configured upper limit of {display_size(used + 1000)}."
    )
    assert r.json()["errors"][0] == {"code": "DENIED", "message": message}
    assert reg.get("/v2/qfull/app/manifests/2", headers={"Accept": mt.OCI_MANIFEST}).status_code == 404
    assert query(world.db, "SELECT 1 FROM artifacts WHERE digest = $1", digest_of(manifest2)) == []
    assert world.used("qfull") == used
    wait_for(lambda: any(e["details"] == message for e in world.events("QUOTA_EXCEED")), "QUOTA_EXCEED on the stream")

    # Adding nothing is fine whatever the limit: a new tag on the same digest, even below the usage.
    world.set_limit("qfull", 1)
    assert push_manifest(reg, "qfull/app", "again", manifest, mt.OCI_MANIFEST).status_code == 201
    assert world.used("qfull") == used

    # A copy past the limit is refused by core the same way.
    config3, layers3 = image(2000, "full-c")
    push_image(reg, "qa/src", "1", layers=layers3, config=config3)
    r = api.post("/projects/qfull/repositories/cp/artifacts", params={"from": "qa/src:1"})
    assert_error(r, 403)
    assert r.json()["errors"][0]["code"] == "DENIED"
    assert "will exceed the configured upper limit of 1 B." in r.json()["errors"][0]["message"]
    assert world.used("qfull") == used
    assert api.get("/projects/qfull/repositories/cp").status_code == 404

    # Raising the limit lets the push through; its usage is the sum.
    world.set_limit("qfull", -1)
    assert push_manifest(reg, "qfull/app", "2", manifest2, mt.OCI_MANIFEST).status_code == 201
    assert world.used("qfull") == used + adding


def test_warning_at_85_percent(world: World) -> None:
    api, reg = world.api(), world.registry()
    assert api.post("/projects", json={"project_name": "qwarn", "storage_limit": 10000}).status_code == 201
    config, layers = image(8000, "warn-a")
    _, digest = push_image(reg, "qwarn/app", "1", layers=layers, config=config)
    used = world.used("qwarn")
    assert used >= 8500
    mine = wait_for(
        lambda: [p for p in world.events("QUOTA_WARNING") if p["repository"] == "qwarn/app"], "QUOTA_WARNING"
    )
    assert len(mine) == 1 and mine[0]["digest"] == digest
    assert mine[0]["details"] == (
        f"quota usage reach 85%: resource storage used {display_size(used)} of {display_size(10000)}"
    )
