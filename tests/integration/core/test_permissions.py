"""The permission matrix: anonymous, a plain user, each role (1..5) and the sysadmin, against each endpoint, and
"a member of project A can neither see nor touch anything of project B"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.token import add_group_member, add_member, add_robot, add_user, query

pytestmark = pytest.mark.integration

PW = "pw-Secret1"
ROLES = {1: "padmin", 2: "dev", 3: "guest", 4: "maint", 5: "lguest"}
ROBOT_SECRET = "robot-Secret1"
ROBOT_A_ACCESS = [
    ("project", "read"),
    ("member", "list"),
    ("member", "create"),
    ("member", "update"),
    ("member", "delete"),
    ("robot", "list"),
    ("robot", "read"),
    ("robot", "create"),
    ("robot", "update"),
    ("robot", "delete"),
    ("repository", "pull"),
    ("repository", "push"),
]
WHO = ["anonymous", "outsider", *ROLES.values(), "admin"]


@dataclass
class World:
    core: CoreProcess
    a_member: int  # a member id (of `victim`) in project A
    b_member: int  # a member id in project B
    b_id: int  # project B's id
    b_robot: int  # a robot of project B


@pytest.fixture(scope="module")
def world(core: CoreProcess) -> Iterator[World]:
    db = core.database
    for name in [*ROLES.values(), "outsider", "bowner", "victim", "grouped"]:
        add_user(db, name, PW)
    for pname in ("proj-a", "proj-b", "proj-pub"):
        with core.client(("admin", "Harbor12345")) as c:
            public = "true" if pname == "proj-pub" else "false"
            assert c.post("/projects", json={"project_name": pname, "metadata": {"public": public}}).status_code == 201
    for role, name in ROLES.items():
        add_member(db, "proj-a", name, role)
        add_member(db, "proj-pub", name, role)
    add_member(db, "proj-a", "victim", 3)
    add_member(db, "proj-b", "bowner", 1)
    add_group_member(db, "proj-a", "devs-a", ["grouped"], 2)
    rows = query(
        db,
        "SELECT m.id, p.name FROM project_members m JOIN projects p ON p.id = m.project_id"
        " JOIN users u ON u.id = m.entity_id AND m.entity_type = 'u'"
        " WHERE u.username IN ('victim', 'bowner')",
    )
    ids = {r["name"]: r["id"] for r in rows}
    b_robot = add_robot(db, "bbot", ROBOT_SECRET, project="proj-b", access=[("repository", "pull")])
    # A robot of A whose stored permissions name members and robots too (written directly, as an old or
    # tampered row would be; Harbor's robot list excludes them, so they grant nothing) and repositories.
    add_robot(db, "all", ROBOT_SECRET, project="proj-a", access=ROBOT_A_ACCESS)
    (b_project,) = query(db, "SELECT id FROM projects WHERE name = 'proj-b'")
    yield World(core, ids["proj-a"], ids["proj-b"], b_project["id"], b_robot.id)


def client(core: CoreProcess, who: str) -> httpx.Client:
    if who == "anonymous":
        return core.client()
    if who == "robot-a":
        return core.client(("robot$proj-a+all", ROBOT_SECRET))
    return core.client(("admin", "Harbor12345") if who == "admin" else (who, PW))


@pytest.mark.parametrize("who", WHO)
def test_get_private_project(world: World, who: str) -> None:
    with client(world.core, who) as c:
        status = c.get("/projects/proj-a").status_code
        head = c.head("/projects/proj-a").status_code
    expected = 200 if who not in ("anonymous", "outsider") else 404
    assert (status, head) == (expected, expected)


@pytest.mark.parametrize("who", WHO)
def test_update_project(world: World, who: str) -> None:
    with client(world.core, who) as c:
        r = c.put("/projects/proj-a", json={"metadata": {"auto_scan": "true"}})
    # Only projectAdmin and sysadmin: a maintainer writing project settings was CVE-2024-22278.
    allowed = {"padmin", "admin"}
    assert r.status_code == (
        200 if who in allowed else 401 if who == "anonymous" else 404 if who == "outsider" else 403
    )


@pytest.mark.parametrize("who", WHO)
def test_delete_project_refusals(world: World, who: str) -> None:
    if who in ("padmin", "admin"):
        name = f"del-{who}"
        with client(world.core, "admin") as c:
            assert c.post("/projects", json={"project_name": name}).status_code == 201
        add_member(world.core.database, name, "padmin", 1)
        with client(world.core, who) as c:
            assert c.delete(f"/projects/{name}").status_code == 200
        return
    with client(world.core, who) as c:
        r = c.delete("/projects/proj-a")
    assert r.status_code == (401 if who == "anonymous" else 404 if who == "outsider" else 403)


@pytest.mark.parametrize("who", WHO)
def test_list_and_read_members(world: World, who: str) -> None:
    with client(world.core, who) as c:
        listed = c.get("/projects/proj-a/members").status_code
        one = c.get(f"/projects/proj-a/members/{world.a_member}").status_code
    readers = {"padmin", "dev", "guest", "maint", "admin"}  # limitedGuest may not see members
    expected = 200 if who in readers else 404 if who in ("anonymous", "outsider") else 403
    assert (listed, one) == (expected, expected)


@pytest.mark.parametrize("who", WHO)
def test_public_project_members(world: World, who: str) -> None:
    with client(world.core, who) as c:
        assert c.get("/projects/proj-pub").status_code == 200
        r = c.get("/projects/proj-pub/members")
    readers = {"padmin", "dev", "guest", "maint", "admin"}
    assert r.status_code == (200 if who in readers else 401 if who == "anonymous" else 403)


@pytest.mark.parametrize("who", WHO)
def test_change_members(world: World, who: str) -> None:
    managers = {"padmin", "admin"}
    denied = 401 if who == "anonymous" else 404 if who == "outsider" else 403
    with client(world.core, who) as c:
        r = c.post("/projects/proj-a/members", json={"role_id": 3, "member_user": {"username": "outsider"}})
        assert r.status_code == (201 if who in managers else denied)
        mid = int(r.headers["Location"].rsplit("/", 1)[1]) if r.status_code == 201 else world.a_member
        assert c.put(f"/projects/proj-a/members/{mid}", json={"role_id": 3}).status_code == (
            200 if who in managers else denied
        )
        if who in managers:
            assert c.delete(f"/projects/proj-a/members/{mid}").status_code == 200
        else:
            assert c.delete(f"/projects/proj-a/members/{mid}").status_code == denied


@pytest.mark.parametrize("who", [*ROLES.values(), "outsider", "grouped", "robot-a"])
def test_member_of_a_cannot_touch_b(world: World, who: str) -> None:
    b, bot = world.b_member, world.b_robot
    b_robot_body = {
        "name": f"from-{who}",
        "level": "project",
        "duration": -1,
        "permissions": [
            {"kind": "project", "namespace": "proj-b", "access": [{"resource": "repository", "action": "pull"}]}
        ],
    }
    with client(world.core, who) as c:
        statuses = [
            c.get("/projects/proj-b").status_code,
            c.head("/projects/proj-b").status_code,
            c.put("/projects/proj-b", json={"metadata": {"public": "true"}}).status_code,
            c.delete("/projects/proj-b").status_code,
            c.get("/projects/proj-b/members").status_code,
            c.get(f"/projects/proj-b/members/{b}").status_code,
            c.post("/projects/proj-b/members", json={"role_id": 1, "member_user": {"username": who}}).status_code,
            c.put(f"/projects/proj-b/members/{b}", json={"role_id": 5}).status_code,
            c.delete(f"/projects/proj-b/members/{b}").status_code,
            # B's member id through A's path: scoped to A, so not found (or refused), never B's row.
            c.get(f"/projects/proj-a/members/{b}").status_code,
            c.put(f"/projects/proj-a/members/{b}", json={"role_id": 5}).status_code,
            c.delete(f"/projects/proj-a/members/{b}").status_code,
            # B's robots: neither listed, read, changed, refreshed, deleted, nor created in B.
            c.get("/robots", params={"q": f"Level=project,ProjectID={world.b_id}"}).status_code,
            c.get(f"/robots/{bot}").status_code,
            c.put(f"/robots/{bot}", json={"disable": True}).status_code,
            c.patch(f"/robots/{bot}", json={}).status_code,
            c.delete(f"/robots/{bot}").status_code,
            c.post("/robots", json=b_robot_body).status_code,
        ]
        names = [p["name"] for p in c.get("/projects", params={"page_size": 100}).json()]
    assert all(s in (403, 404) for s in statuses), statuses
    assert all(s == 404 for s in statuses[:9]), statuses
    assert "proj-b" not in names
    with client(world.core, "bowner") as c:
        assert c.get(f"/projects/proj-b/members/{b}").json()["role_id"] == 1
    with client(world.core, "admin") as c:
        robot = c.get(f"/robots/{bot}").json()
        assert robot["disable"] is False
        names = {r["name"] for r in c.get("/robots", params={"q": f"Level=project,ProjectID={world.b_id}"}).json()}
        assert names == {"robot$proj-b+bbot"}, "nothing was created in B"


@pytest.mark.parametrize("who", WHO)
def test_list_visibility(world: World, who: str) -> None:
    with client(world.core, who) as c:
        r = c.get("/projects", params={"q": "name=~proj-", "page_size": 100})
    names = {p["name"] for p in r.json()}
    if who == "admin":
        assert names == {"proj-a", "proj-b", "proj-pub"}
    elif who in ("anonymous", "outsider"):
        assert names == {"proj-pub"}
    else:
        assert names == {"proj-a", "proj-pub"}
        roles = {p["name"]: p["current_user_role_id"] for p in r.json()}
        assert roles["proj-a"] == {v: k for k, v in ROLES.items()}[who]


def test_group_membership_grants_access(world: World) -> None:
    with client(world.core, "grouped") as c:
        body = c.get("/projects/proj-a").json()
        assert body["current_user_role_ids"] == [2]
        assert c.get("/projects/proj-a/members").status_code == 200
        assert c.put("/projects/proj-a", json={}).status_code == 403


def test_create_project(world: World) -> None:
    with client(world.core, "anonymous") as c:
        assert c.post("/projects", json={"project_name": "anon-made"}).status_code == 401
    with client(world.core, "outsider") as c:
        assert c.post("/projects", json={"project_name": "outsider-made"}).status_code == 201
        body = c.get("/projects/outsider-made").json()
        assert body["owner_name"] == "outsider" and body["current_user_role_id"] == 1
        assert c.delete("/projects/outsider-made").status_code == 200


def test_robot_uses_the_api_within_its_permissions(world: World) -> None:
    # member list is on the role table but not on Harbor's robot list: a stored entry for it grants nothing.
    access = [("project", "read"), ("log", "list"), ("member", "list")]
    add_robot(world.core.database, "ci", "robot-secret", project="proj-a", access=access)
    with world.core.client(("robot$proj-a+ci", "robot-secret")) as c:
        assert c.get("/projects/proj-a").status_code == 200
        assert c.get("/projects/proj-a/logs").status_code == 200
        assert c.get("/projects/proj-a/members").status_code == 403
        assert c.put("/projects/proj-a", json={}).status_code == 403
        assert c.get("/projects/proj-b").status_code == 404
        assert {p["name"] for p in c.get("/projects", params={"q": "name=~proj-"}).json()} == {"proj-a", "proj-pub"}
        assert c.post("/projects", json={"project_name": "robot-made"}).status_code == 403
        assert c.get("/users/current").status_code == 403
    # Exactly the listed permissions: pull alone does not read the project (visible, so 403, not 404).
    add_robot(world.core.database, "puller", "robot-secret", project="proj-a", access=[("repository", "pull")])
    with world.core.client(("robot$proj-a+puller", "robot-secret")) as c:
        assert c.get("/projects/proj-a").status_code == 403
    with world.core.client(("robot$proj-a+ci", "wrong")) as c:
        assert c.get("/projects").status_code == 401
