"""The registry's permission matrix: every kind of account by pull, push and delete, in a private project,
a public one, and a project the account has nothing to do with — through the real token service.

A refused request must also change nothing: each refusal is checked against what the registry holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import digest_of, image_manifest, push_blob, push_manifest
from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.token import add_member, add_project, add_robot, add_user

pytestmark = pytest.mark.integration

PW = "Matrix-pw1"
ROBOT_SECRET = "matrix-robot-secret"
ROLES = {1: "padmin", 2: "dev", 3: "guest", 4: "maint", 5: "lguest"}
WHO = ["anonymous", "outsider", *ROLES.values(), "robot-a", "admin"]
PROJECTS = ("mx-a", "mx-b", "mx-pub")  # A private (roles here), B private (nobody's), public (roles here too)

PULLERS = {"padmin", "dev", "guest", "maint", "lguest", "robot-a", "admin"}
PUSHERS = {"padmin", "dev", "maint", "robot-a", "admin"}
DELETERS = {"padmin", "maint", "admin"}


@dataclass
class World:
    registry: RegistryProcess
    layers: list[bytes]
    config: bytes
    manifests: dict[tuple[str, str], str]  # (project, who) → digest of a manifest only that test may delete


def credentials(who: str) -> tuple[str, str] | None:
    return {
        "anonymous": None,
        "admin": ("admin", "Harbor12345"),
        "robot-a": ("robot$mx-a+ci", ROBOT_SECRET),
    }.get(who, (who, PW))


def client(registry: RegistryProcess, who: str) -> httpx.Client:
    assert registry.token is not None
    auth = RegistryTokenAuth(f"{registry.token.url}/service/token", "berth-registry", credentials(who))
    return httpx.Client(base_url=registry.url, timeout=60, auth=auth)


def manifest(world: World, note: str) -> bytes:
    return image_manifest(world.config, world.layers, annotations={"matrix": note})


@pytest.fixture(scope="module")
def world(registry_server: RegistryProcess, module_database: TestDatabase) -> Iterator[World]:
    db = module_database
    for name in (*ROLES.values(), "outsider"):
        add_user(db, name, PW)
    for project in PROJECTS:
        add_project(db, project, public=project == "mx-pub")
    for role, name in ROLES.items():
        add_member(db, "mx-a", name, role)
        add_member(db, "mx-pub", name, role)
    add_robot(db, "ci", ROBOT_SECRET, project="mx-a", access=[("repository", "pull"), ("repository", "push")])
    layers = [b"matrix layer"]
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    world = World(registry_server, layers, config, {})
    with registry_server.client() as admin:
        for project in PROJECTS:
            repo = f"{project}/app"
            for blob in (config, *layers):
                push_blob(admin, repo, blob)
            assert push_manifest(admin, repo, "seed", manifest(world, "seed"), mt.OCI_MANIFEST).status_code == 201
            for who in WHO:
                r = push_manifest(admin, repo, f"victim-{who}", manifest(world, who), mt.OCI_MANIFEST)
                assert r.status_code == 201, r.text
                world.manifests[(project, who)] = r.headers["Docker-Content-Digest"]
    yield world


def refused(status: int) -> bool:
    # The distribution spec answers a missing or insufficient token with 401 (a challenge), and Berth
    # answers 403 DENIED for what no token could ever grant; both are refusals, never 404 or 5xx.
    return status in (401, 403)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("project", PROJECTS)
def test_pull(world: World, who: str, project: str) -> None:
    may = project == "mx-pub" or (project == "mx-a" and who in PULLERS) or who == "admin"
    with client(world.registry, who) as c:
        manifest_status = c.get(f"/v2/{project}/app/manifests/seed", headers={"Accept": mt.OCI_MANIFEST}).status_code
        tags_status = c.get(f"/v2/{project}/app/tags/list").status_code
        blob_status = c.head(f"/v2/{project}/app/blobs/{digest_of(world.config)}").status_code
    statuses = (manifest_status, tags_status, blob_status)
    if may:
        assert statuses == (200, 200, 200)
    else:
        assert all(refused(s) for s in statuses), statuses


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("project", PROJECTS)
def test_push(world: World, who: str, project: str) -> None:
    # The robot's permissions name its own project only; in the public project it may pull, not push.
    may = who == "admin" or (who in PUSHERS and (project == "mx-a" or (project == "mx-pub" and who != "robot-a")))
    tag = f"pushed-by-{who}"
    with client(world.registry, who) as c:
        started = c.post(f"/v2/{project}/app/blobs/uploads/")
        put = push_manifest(c, f"{project}/app", tag, manifest(world, "seed"), mt.OCI_MANIFEST)
    with world.registry.client() as admin:
        exists = admin.head(f"/v2/{project}/app/manifests/{tag}", headers={"Accept": mt.OCI_MANIFEST})
    if may:
        assert (started.status_code, put.status_code, exists.status_code) == (202, 201, 200)
    else:
        assert refused(started.status_code) and refused(put.status_code), (started.status_code, put.status_code)
        assert exists.status_code == 404, "a refused push must not create the tag"


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("project", PROJECTS)
def test_delete(world: World, who: str, project: str) -> None:
    may = (project in ("mx-a", "mx-pub") and who in DELETERS) or who == "admin"
    digest = world.manifests[(project, who)]
    with client(world.registry, who) as c:
        r = c.delete(f"/v2/{project}/app/manifests/{digest}")
    with world.registry.client() as admin:
        left = admin.head(f"/v2/{project}/app/manifests/{digest}", headers={"Accept": mt.OCI_MANIFEST})
    if may:
        assert (r.status_code, left.status_code) == (202, 404)
    else:
        assert refused(r.status_code), r.status_code
        assert left.status_code == 200, "a refused delete must leave the manifest"


def test_catalog_is_for_the_system_administrator_only(world: World) -> None:
    for who in WHO:
        with client(world.registry, who) as c:
            r = c.get("/v2/_catalog", params={"n": 1000})
        if who == "admin":
            assert r.status_code == 200
            assert {"mx-a/app", "mx-b/app", "mx-pub/app"} <= set(r.json()["repositories"])
        else:
            assert refused(r.status_code), (who, r.status_code)
