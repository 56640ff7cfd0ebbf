"""/api/v2.0/robots against a real core and a real token service: who may manage which robots, what they
may be given, and that the secret (shown once) is what the token service then accepts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase
from tests.harness.token import TokenServiceProcess, add_member, add_user, query

pytestmark = pytest.mark.integration

PW = "pw-Secret1"
ADMIN = ("admin", "Harbor12345")
ROLES = {1: "r-padmin", 2: "r-dev", 3: "r-guest", 4: "r-maint", 5: "r-lguest"}
PUSH_PULL = [{"resource": "repository", "action": "push"}, {"resource": "repository", "action": "pull"}]


@dataclass
class World:
    core: CoreProcess
    token: TokenServiceProcess
    a_id: int
    b_robot: int  # a robot of project B


@pytest.fixture(scope="module")
def world(
    core: CoreProcess, module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    db = core.database
    for name in [*ROLES.values(), "r-outsider", "r-bowner"]:
        add_user(db, name, PW)
    with core.client(ADMIN) as c:
        for pname in ("rob-a", "rob-b"):
            assert c.post("/projects", json={"project_name": pname}).status_code == 201
        a_id = c.get("/projects/rob-a").json()["project_id"]
    for role, name in ROLES.items():
        add_member(db, "rob-a", name, role)
    add_member(db, "rob-b", "r-bowner", 1)
    with core.client(("r-bowner", PW)) as c:
        r = c.post("/robots", json=robot_body("b-bot", "rob-b"))
        assert r.status_code == 201, r.text
        b_robot = r.json()["id"]
    token = TokenServiceProcess(tmp_path_factory.mktemp("token"), module_database)
    token.start()
    try:
        yield World(core, token, a_id, b_robot)
    finally:
        token.stop()


def robot_body(name: str, project: str, access: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "level": "project",
        "duration": -1,
        "permissions": [{"kind": "project", "namespace": project, "access": access or PUSH_PULL}],
        **extra,
    }


def as_(core: CoreProcess, who: str) -> httpx.Client:
    if who == "anonymous":
        return core.client()
    return core.client(ADMIN if who == "admin" else (who, PW))


def ask_token(world: World, auth: tuple[str, str], *scopes: str) -> httpx.Response:
    params = [("service", "berth-registry"), *(("scope", s) for s in scopes)]
    return httpx.get(world.token.token_url(), params=params, auth=auth, timeout=30)


def granted(resp: httpx.Response) -> dict[str, list[str]]:
    assert resp.status_code == 200, resp.text
    claims = jwt.decode(resp.json()["token"], options={"verify_signature": False})
    return {a["name"]: a["actions"] for a in claims["access"]}


def create(world: World, who: str, body: dict[str, Any]) -> dict[str, Any]:
    with as_(world.core, who) as c:
        r = c.post("/robots", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"/api/v2.0/robots/{created['id']}"
    return created


def test_project_admin_creates_a_robot_whose_secret_gets_tokens(world: World, unique: str) -> None:
    created = create(world, "r-padmin", robot_body(f"ci-{unique}", "rob-a"))
    assert created["name"] == f"robot$rob-a+ci-{unique}"
    assert set(created) == {"id", "name", "secret", "creation_time", "expires_at"}
    assert created["expires_at"] == -1
    auth = (created["name"], created["secret"])
    r = ask_token(world, auth, "repository:rob-a/app:pull,push", "repository:rob-b/app:pull")
    assert granted(r) == {"rob-a/app": ["pull", "push"], "rob-b/app": []}


@pytest.mark.parametrize("who", ["r-maint", "r-dev", "r-guest", "r-lguest", "r-outsider", "anonymous"])
def test_only_project_admins_create(world: World, who: str, unique: str) -> None:
    with as_(world.core, who) as c:
        r = c.post("/robots", json=robot_body(f"x-{unique}", "rob-a"))
    assert r.status_code == (401 if who == "anonymous" else 404 if who == "r-outsider" else 403), r.text


@pytest.mark.parametrize("who", ["r-padmin", "r-maint", "r-dev", "r-guest", "r-lguest", "r-outsider", "admin"])
def test_list_and_read(world: World, who: str, unique: str) -> None:
    created = create(world, "admin", robot_body(f"l-{unique}", "rob-a"))
    with as_(world.core, who) as c:
        listed = c.get("/robots", params={"q": f"Level=project,ProjectID={world.a_id}", "page_size": 100})
        one = c.get(f"/robots/{created['id']}")
    if who in ("r-lguest", "r-outsider"):
        assert (listed.status_code, one.status_code) == ((403, 403) if who == "r-lguest" else (404, 404))
        return
    assert (listed.status_code, one.status_code) == (200, 200), listed.text
    assert created["id"] in [r["id"] for r in listed.json()]
    assert int(listed.headers["X-Total-Count"]) >= 1
    for body in (listed.text, one.text):
        assert created["secret"] not in body and "secret" not in body and "$argon2" not in body
    assert one.json()["permissions"][0]["namespace"] == "rob-a"


def test_listing_needs_a_project_unless_sysadmin(world: World) -> None:
    with as_(world.core, "r-padmin") as c:
        assert c.get("/robots").status_code == 403
        assert c.get("/robots", params={"q": "Level=system"}).status_code == 403
    with as_(world.core, "anonymous") as c:
        assert c.get("/robots").status_code == 401
    with as_(world.core, "admin") as c:
        r = c.get("/robots", params={"q": "level=project"})
        assert r.status_code == 200 and all(x["level"] == "project" for x in r.json())


def test_another_projects_robot_is_out_of_reach(world: World, unique: str) -> None:
    with as_(world.core, "r-padmin") as c:
        assert c.post("/robots", json=robot_body(f"b-{unique}", "rob-b")).status_code == 404
        assert c.get(f"/robots/{world.b_robot}").status_code == 404
        assert c.put(f"/robots/{world.b_robot}", json={"disable": True}).status_code == 404
        assert c.patch(f"/robots/{world.b_robot}", json={}).status_code == 404
        assert c.delete(f"/robots/{world.b_robot}").status_code == 404
        # Nor by moving its own robot there.
        mine = c.post("/robots", json=robot_body(f"m-{unique}", "rob-a")).json()["id"]
        moved = [{"kind": "project", "namespace": "rob-b", "access": PUSH_PULL}]
        assert c.put(f"/robots/{mine}", json={"permissions": moved}).status_code == 404


def test_maintainer_cannot_change_robots(world: World, unique: str) -> None:
    created = create(world, "r-padmin", robot_body(f"mt-{unique}", "rob-a"))
    with as_(world.core, "r-maint") as c:
        assert c.put(f"/robots/{created['id']}", json={"disable": True}).status_code == 403
        assert c.patch(f"/robots/{created['id']}", json={}).status_code == 403
        assert c.delete(f"/robots/{created['id']}").status_code == 403


def test_system_robots_are_sysadmin_only(world: World, unique: str) -> None:
    body = {
        "name": f"sys-{unique}",
        "level": "system",
        "duration": -1,
        "permissions": [
            {"kind": "system", "namespace": "/", "access": [{"resource": "project", "action": "create"}]},
            {"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]},
        ],
    }
    with as_(world.core, "r-padmin") as c:
        assert c.post("/robots", json=body).status_code == 403
        # A project robot cannot carry system permissions either.
        bad = robot_body(f"s-{unique}", "rob-a")
        bad["permissions"].append(body["permissions"][0])
        assert c.post("/robots", json=bad).status_code == 400
    created = create(world, "admin", body)
    assert created["name"] == f"robot$sys-{unique}"
    r = ask_token(world, (created["name"], created["secret"]), "repository:rob-b/app:pull,push")
    assert granted(r) == {"rob-b/app": ["pull"]}
    with as_(world.core, "r-padmin") as c:
        assert c.get(f"/robots/{created['id']}").status_code == 403


def test_disable_refresh_and_delete(world: World, unique: str) -> None:
    created = create(world, "r-padmin", robot_body(f"d-{unique}", "rob-a"))
    rid, name, old = created["id"], created["name"], created["secret"]
    scope = "repository:rob-a/app:pull"
    with as_(world.core, "r-padmin") as c:
        assert c.put(f"/robots/{rid}", json={"disable": True}).status_code == 200
        assert c.get(f"/robots/{rid}").json()["disable"] is True
        assert ask_token(world, (name, old), scope).status_code == 401
        assert c.put(f"/robots/{rid}", json={"disable": False}).status_code == 200
        assert granted(ask_token(world, (name, old), scope)) == {"rob-a/app": ["pull"]}

        r = c.patch(f"/robots/{rid}", json={})
        assert r.status_code == 200
        new = r.json()["secret"]
        assert new and new != old
        assert ask_token(world, (name, old), scope).status_code == 401
        assert granted(ask_token(world, (name, new), scope)) == {"rob-a/app": ["pull"]}

        assert c.patch(f"/robots/{rid}", json={"secret": "weak"}).status_code == 400
        assert c.patch(f"/robots/{rid}", json={"secret": "Chosen-Secret9"}).json() == {"secret": "Chosen-Secret9"}
        assert granted(ask_token(world, (name, "Chosen-Secret9"), scope)) == {"rob-a/app": ["pull"]}

        assert c.delete(f"/robots/{rid}").status_code == 200
        assert c.get(f"/robots/{rid}").status_code == 404
    assert ask_token(world, (name, "Chosen-Secret9"), scope).status_code == 401
    logs = world.core.settled_logs()
    assert created["secret"] not in logs and new not in logs


def test_duration_sets_expiry(world: World, unique: str) -> None:
    created = create(world, "r-padmin", robot_body(f"e-{unique}", "rob-a", duration=3))
    expires = dt.datetime.fromtimestamp(created["expires_at"], dt.UTC)
    assert abs(expires - (dt.datetime.now(dt.UTC) + dt.timedelta(days=3))) < dt.timedelta(minutes=5)
    with as_(world.core, "r-padmin") as c:
        assert c.get(f"/robots/{created['id']}").json()["duration"] == 3
    auth = (created["name"], created["secret"])
    assert ask_token(world, auth, "repository:rob-a/app:pull").status_code == 200
    query(
        world.core.database, "UPDATE robots SET expires_at = now() - interval '1 second' WHERE id = $1", created["id"]
    )
    assert ask_token(world, auth, "repository:rob-a/app:pull").status_code == 401


@pytest.mark.parametrize(
    ("access", "word"),
    [
        ([{"resource": "no-such-thing", "action": "pull"}], "no-such-thing"),
        ([{"resource": "repository", "action": "fly"}], "fly"),
    ],
)
def test_unknown_permissions_are_refused(world: World, unique: str, access: list[dict[str, str]], word: str) -> None:
    with as_(world.core, "r-padmin") as c:
        r = c.post("/robots", json=robot_body(f"u-{unique}", "rob-a", access))
    assert r.status_code == 400 and word in r.text


def test_duplicate_name_conflicts(world: World, unique: str) -> None:
    create(world, "r-padmin", robot_body(f"dup-{unique}", "rob-a"))
    with as_(world.core, "r-padmin") as c:
        assert c.post("/robots", json=robot_body(f"dup-{unique}", "rob-a")).status_code == 409


def test_bad_names_and_durations(world: World, unique: str) -> None:
    with as_(world.core, "r-padmin") as c:
        assert c.post("/robots", json=robot_body(f"Bad+{unique}", "rob-a")).status_code == 400
        assert c.post("/robots", json=robot_body(f"n-{unique}", "rob-a", duration=-2)).status_code == 400
        # Harbor's rule: 0 is the configured robot_token_duration (30 days unless changed).
        zero = c.post("/robots", json=robot_body(f"z-{unique}", "rob-a", duration=0))
        assert zero.status_code == 201 and c.get(f"/robots/{zero.json()['id']}").json()["duration"] == 30
