"""GET /api/v2.0/permissions (Harbor's robot permission lists) and that robots get nothing outside them:
refused at creation and update with a 400 naming the entry, ignored when a stored row holds one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.common import rbac
from tests.harness.core import CoreProcess
from tests.harness.token import add_group_member, add_member, add_project, add_robot, add_user, query

pytestmark = pytest.mark.integration

PW = "pw-Secret1"
ADMIN = ("admin", "Harbor12345")
ROLES = {1: "pl-padmin", 2: "pl-dev", 3: "pl-guest", 4: "pl-maint", 5: "pl-lguest"}
PROJECT = "perm-a"
ROBOT_SECRET = "Robot-Secret-1"


def as_json(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"resource": r, "action": a} for r, a in pairs]


SYSTEM = as_json(rbac.ROBOT_PERMISSIONS["system"])
PROJECT_LIST = as_json(rbac.ROBOT_PERMISSIONS["project"])


@dataclass
class World:
    core: CoreProcess
    project_id: int


@pytest.fixture(scope="module")
def world(core: CoreProcess) -> Iterator[World]:
    db = core.database
    for name in [*ROLES.values(), "pl-outsider", "pl-grouped"]:
        add_user(db, name, PW)
    add_project(db, PROJECT)
    add_project(db, "perm-g")
    for role, name in ROLES.items():
        add_member(db, PROJECT, name, role)
    add_group_member(db, "perm-g", "pl-admins", ["pl-grouped"], 1)
    project_id = query(db, "SELECT id FROM projects WHERE name = $1", PROJECT)[0]["id"]
    yield World(core, project_id)


def client(core: CoreProcess, who: str | tuple[str, str]) -> httpx.Client:
    if isinstance(who, tuple):
        return core.client(who)
    if who == "anonymous":
        return core.client()
    return core.client(ADMIN if who == "admin" else (who, PW))


def robot_body(name: str, access: list[dict[str, str]], project: str = PROJECT) -> dict[str, Any]:
    return {
        "name": name,
        "level": "project",
        "duration": -1,
        "permissions": [{"kind": "project", "namespace": project, "access": access}],
    }


def robots_named(core: CoreProcess, name: str) -> int:
    return len(query(core.database, "SELECT 1 FROM robots WHERE name LIKE $1", f"%{name}"))


# --- the endpoint ----------------------------------------------------------------------------------------


def test_sysadmin_gets_both_lists(world: World) -> None:
    with client(world.core, "admin") as c:
        r = c.get("/permissions")
    assert r.status_code == 200, r.text
    assert r.json() == {"system": SYSTEM, "project": PROJECT_LIST}
    assert {"resource": "catalog", "action": "read"} in r.json()["system"]
    assert {"resource": "repository", "action": "push"} in r.json()["project"]
    assert {"resource": "member", "action": "create"} not in r.json()["project"]


@pytest.mark.parametrize("who", ["pl-padmin", "pl-grouped"])
def test_project_admins_get_the_project_list_only(world: World, who: str) -> None:
    with client(world.core, who) as c:
        r = c.get("/permissions")
    assert r.status_code == 200, r.text
    assert r.json() == {"system": [], "project": PROJECT_LIST}


@pytest.mark.parametrize("who", ["pl-maint", "pl-dev", "pl-guest", "pl-lguest", "pl-outsider", "anonymous"])
def test_others_are_refused(world: World, who: str) -> None:
    with client(world.core, who) as c:
        r = c.get("/permissions")
    assert r.status_code == (401 if who == "anonymous" else 403), r.text


def test_robots_are_refused(world: World, unique: str) -> None:
    robot = add_robot(world.core.database, f"p{unique}", ROBOT_SECRET, project=PROJECT, access=[("robot", "read")])
    system = add_robot(world.core.database, f"s{unique}", ROBOT_SECRET)
    for name in (robot.name, system.name):
        with client(world.core, (name, ROBOT_SECRET)) as c:
            assert c.get("/permissions").status_code == 403


# --- creation and update -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "action"),
    [
        ("member", "create"),  # the project admin holds these, but a robot may not be given them
        ("robot", "create"),
        ("robot", "list"),
        ("repository", "create"),
        ("tag-retention", "operate"),
        ("configuration", "read"),
        ("export-cve", "create"),
        ("repository", "scanner-pull"),
    ],
)
@pytest.mark.parametrize("who", ["pl-padmin", "admin"])
def test_an_entry_outside_the_list_is_refused_and_nothing_written(
    world: World, unique: str, who: str, resource: str, action: str
) -> None:
    name = f"out-{unique}"
    access = [{"resource": "repository", "action": "pull"}, {"resource": resource, "action": action}]
    with client(world.core, who) as c:
        r = c.post("/robots", json=robot_body(name, access))
    assert r.status_code == 400, r.text
    assert repr(resource) in r.text and repr(action) in r.text
    assert robots_named(world.core, name) == 0


def test_a_system_entry_outside_the_list_is_refused(world: World, unique: str) -> None:
    name = f"sysout-{unique}"
    body = {
        "name": name,
        "level": "system",
        "duration": -1,
        "permissions": [{"kind": "system", "namespace": "/", "access": [{"resource": "catalog", "action": "list"}]}],
    }
    with client(world.core, "admin") as c:
        r = c.post("/robots", json=body)
    assert r.status_code == 400, r.text
    assert "'catalog'" in r.text and "'list'" in r.text
    assert robots_named(world.core, name) == 0


def test_an_update_outside_the_list_is_refused_and_changes_nothing(world: World, unique: str) -> None:
    pull = [{"resource": "repository", "action": "pull"}]
    with client(world.core, "pl-padmin") as c:
        r = c.post("/robots", json=robot_body(f"upd-{unique}", pull))
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        wider = robot_body(f"upd-{unique}", [*pull, {"resource": "member", "action": "list"}])["permissions"]
        r = c.put(f"/robots/{rid}", json={"permissions": wider})
        assert r.status_code == 400 and "'member'" in r.text, r.text
        assert c.get(f"/robots/{rid}").json()["permissions"][0]["access"] == pull


def test_every_listed_permission_is_accepted(world: World, unique: str) -> None:
    with client(world.core, "admin") as c:
        r = c.post("/robots", json=robot_body(f"all-{unique}", PROJECT_LIST))
        assert r.status_code == 201, r.text
        stored = c.get(f"/robots/{r.json()['id']}").json()["permissions"][0]["access"]
        assert sorted(map(str, stored)) == sorted(map(str, PROJECT_LIST))
        system = {
            "name": f"allsys-{unique}",
            "level": "system",
            "duration": -1,
            "permissions": [
                {"kind": "system", "namespace": "/", "access": SYSTEM},
                {"kind": "project", "namespace": "*", "access": PROJECT_LIST},
            ],
        }
        r = c.post("/robots", json=system)
        assert r.status_code == 201, r.text


def test_a_project_admin_may_give_every_listed_permission_it_holds(world: World, unique: str) -> None:
    held = [p for p in PROJECT_LIST if p != {"resource": "metadata", "action": "list"}]
    with client(world.core, "pl-padmin") as c:
        r = c.post("/robots", json=robot_body(f"held-{unique}", held))
    assert r.status_code == 201, r.text


# --- stored rows ---------------------------------------------------------------------------------------


def test_a_stored_entry_outside_the_list_grants_nothing_in_core(world: World, unique: str) -> None:
    db = world.core.database
    # Written directly, past the API's validation: robot list and member list were grantable before.
    outside = add_robot(db, f"o{unique}", ROBOT_SECRET, project=PROJECT, access=[("robot", "list"), ("member", "list")])
    mixed = add_robot(db, f"m{unique}", ROBOT_SECRET, project=PROJECT, access=[("project", "read"), ("member", "list")])
    q = {"q": f"Level=project,ProjectID={world.project_id}"}
    with client(world.core, (outside.name, ROBOT_SECRET)) as c:
        # Nothing it holds counts, so the private project is not even visible to it.
        assert c.get("/robots", params=q).status_code == 404
        assert c.get(f"/projects/{PROJECT}/members").status_code == 404
    with client(world.core, (mixed.name, ROBOT_SECRET)) as c:
        assert c.get(f"/projects/{PROJECT}").status_code == 200
        assert c.get(f"/projects/{PROJECT}/members").status_code == 403
