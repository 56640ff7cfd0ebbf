"""GET /api/v2.0/users/current/permissions against a real core: what each role, a public project's visitor,
an outsider, the sysadmin and robots hold in a project scope and at /system, full and relative, as Harbor's
[{"resource", "action"}]; and that what it reports is what core enforces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.common.rbac import PROJECT_POLICIES, PUBLIC_PROJECT_POLICIES, Policy, Resource, Role
from services.core.permissions.service import PROJECT_SCOPE_POLICIES, SYSTEM_SCOPE_POLICIES
from tests.harness.core import CoreProcess
from tests.harness.token import add_member, add_user
from tests.integration.core.registry_stack import ADMIN, assert_error

pytestmark = pytest.mark.integration

PW = "Perms-pw1"
ROLES = {Role.PROJECT_ADMIN: "p-admin", Role.MAINTAINER: "p-maint", Role.DEVELOPER: "p-dev", Role.GUEST: "p-guest"}
ROLES[Role.LIMITED_GUEST] = "p-lguest"


@dataclass
class World:
    core: CoreProcess
    private: int  # project perm-a's id
    public: int  # project perm-pub's id
    robot: tuple[str, str]  # a project robot of perm-a: repository pull and push, artifact read
    system_robot: tuple[str, str]  # project create at /system, repository pull in every project


def _robot(core: CoreProcess, body: dict[str, Any]) -> tuple[str, str]:
    with core.client(ADMIN) as c:
        r = c.post("/robots", json=body)
    assert r.status_code == 201, r.text
    return r.json()["name"], r.json()["secret"]


@pytest.fixture(scope="module")
def world(core: CoreProcess) -> World:
    db = core.database
    for name in [*ROLES.values(), "p-outsider", "p-pubdev"]:
        add_user(db, name, PW)
    with core.client(ADMIN) as c:
        assert c.post("/projects", json={"project_name": "perm-a"}).status_code == 201
        assert c.post("/projects", json={"project_name": "perm-pub", "metadata": {"public": "true"}}).status_code == 201
        private = c.get("/projects/perm-a").json()["project_id"]
        public = c.get("/projects/perm-pub").json()["project_id"]
    for role, name in ROLES.items():
        add_member(db, "perm-a", name, role)
    add_member(db, "perm-pub", "p-pubdev", Role.DEVELOPER)
    access = [
        {"resource": "repository", "action": "pull"},
        {"resource": "repository", "action": "push"},
        {"resource": "artifact", "action": "read"},
    ]
    robot = _robot(
        core,
        {
            "name": "perm-bot",
            "level": "project",
            "duration": -1,
            "permissions": [{"kind": "project", "namespace": "perm-a", "access": access}],
        },
    )
    system_robot = _robot(
        core,
        {
            "name": "perm-sys",
            "level": "system",
            "duration": -1,
            "permissions": [
                {"kind": "system", "namespace": "/", "access": [{"resource": "project", "action": "create"}]},
                {"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]},
            ],
        },
    )
    return World(core, private, public, robot, system_robot)


def client(world: World, who: str | tuple[str, str] | None) -> httpx.Client:
    if who is None or isinstance(who, tuple):
        return world.core.client(who)
    return world.core.client(ADMIN if who == "admin" else (who, PW))


def permissions(world: World, who: str | tuple[str, str] | None, scope: str, relative: bool = True) -> Any:
    with client(world, who) as c:
        r = c.get("/users/current/permissions", params={"scope": scope, "relative": str(relative).lower()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list) and all(set(p) == {"resource", "action"} for p in body)
    return body


def relative(policies: frozenset[Policy] | tuple[Policy, ...]) -> set[tuple[str, str]]:
    """Harbor's relative names: the project itself is "."."""
    return {("." if r is Resource.PROJECT else r.value, a.value) for r, a in policies}


def pairs(body: list[dict[str, str]]) -> set[tuple[str, str]]:
    found = {(p["resource"], p["action"]) for p in body}
    assert len(found) == len(body), "no pair twice"
    return found


def test_each_role_holds_its_role_table_in_the_project(world: World) -> None:
    scope = f"/project/{world.private}"
    for role, name in ROLES.items():
        assert pairs(permissions(world, name, scope)) == relative(PROJECT_POLICIES[role]), role
    dev = pairs(permissions(world, "p-dev", scope))
    assert ("repository", "push") in dev and ("artifact", "delete") not in dev and (".", "delete") not in dev
    assert (".", "delete") in pairs(permissions(world, "p-admin", scope))


def test_full_resources_and_a_fixed_order(world: World) -> None:
    scope = f"/project/{world.private}"
    full = permissions(world, "p-maint", scope, relative=False)
    assert {p["resource"] for p in full} >= {f"/project/{world.private}", f"/project/{world.private}/repository"}
    assert all(p["resource"].startswith(f"/project/{world.private}") for p in full)
    # The same order both ways, and the same at every call.
    rel = permissions(world, "p-maint", scope)
    assert [p["action"] for p in rel] == [p["action"] for p in full]
    assert permissions(world, "p-maint", scope) == rel
    # A trailing slash or a sub-resource still names the project: relative names are relative to it.
    assert pairs(permissions(world, "p-maint", f"{scope}/")) == pairs(rel) - {(".", "read")}
    below = permissions(world, "p-maint", f"{scope}/repository")
    assert pairs(below) == {(".", a) for r, a in pairs(rel) if r == "repository"}
    assert pairs(permissions(world, "p-maint", f"{scope}/repository", relative=False)) == pairs(full)


def test_the_sysadmin_holds_everything_in_any_project(world: World) -> None:
    everything = relative(PROJECT_SCOPE_POLICIES)
    assert pairs(permissions(world, "admin", f"/project/{world.private}")) == everything
    # As Harbor's admin evaluator: the project is not looked up.
    assert pairs(permissions(world, "admin", "/project/999999")) == everything
    system = permissions(world, "admin", "/system")
    assert pairs(system) == set(SYSTEM_SCOPE_POLICIES) and ("user", "create") in pairs(system)
    assert ("/system/user", "create") in pairs(permissions(world, "admin", "/system", relative=False))


def test_outsiders_hold_nothing_in_a_private_project_and_the_public_policies_in_a_public_one(world: World) -> None:
    assert permissions(world, "p-outsider", f"/project/{world.private}") == []
    assert permissions(world, "p-outsider", "/project/999999") == []
    assert pairs(permissions(world, "p-outsider", f"/project/{world.public}")) == relative(PUBLIC_PROJECT_POLICIES)
    # A member of a public project holds its role's and the public policies.
    expected = relative(PROJECT_POLICIES[Role.DEVELOPER] | PUBLIC_PROJECT_POLICIES)
    assert pairs(permissions(world, "p-pubdev", f"/project/{world.public}")) == expected


def test_users_hold_nothing_at_system_and_unknown_scopes_hold_nothing(world: World) -> None:
    assert permissions(world, "p-admin", "/system") == []
    for scope in ("", "/", "/foo", "/project/abc", "/projects/1", "project/1"):
        assert permissions(world, "admin", scope) == [], scope
    with client(world, "p-dev") as c:
        r = c.get("/users/current/permissions")
        assert r.status_code == 200 and r.json() == []


def test_robots_hold_their_permissions(world: World) -> None:
    mine = pairs(permissions(world, world.robot, f"/project/{world.private}"))
    assert mine == {("repository", "pull"), ("repository", "push"), ("artifact", "read")}
    assert permissions(world, world.robot, "/system") == []
    # Another (public) project: only what anyone may do there.
    assert pairs(permissions(world, world.robot, f"/project/{world.public}")) == relative(PUBLIC_PROJECT_POLICIES)
    assert pairs(permissions(world, world.system_robot, "/system")) == {("project", "create")}
    assert pairs(permissions(world, world.system_robot, f"/project/{world.private}")) == {("repository", "pull")}


def test_what_is_reported_is_what_core_enforces(world: World) -> None:
    scope = f"/project/{world.private}"
    for name in ("p-guest", "p-lguest"):
        holds = ("member", "list") in pairs(permissions(world, name, scope))
        with client(world, name) as c:
            r = c.get(f"/projects/{world.private}/members")
        assert (r.status_code == 200) is holds, (name, r.status_code)
    with client(world, "p-maint") as c:
        assert (".", "update") not in pairs(permissions(world, "p-maint", scope))
        assert c.put(f"/projects/{world.private}", json={"metadata": {"public": "true"}}).status_code == 403


def test_anonymous_callers_are_asked_to_authenticate_and_bad_input_is_400(world: World) -> None:
    with world.core.client() as c:
        assert_error(c.get("/users/current/permissions", params={"scope": f"/project/{world.public}"}), 401)
    with client(world, "p-dev") as c:
        assert_error(c.get("/users/current/permissions", params={"relative": "maybe"}), 400)
        assert_error(c.get("/users/current/permissions", params={"scope": "/project/1\x00"}), 400)
        assert_error(c.get("/users/current/permissions", params={"scope": "/system" + "x" * 2000}), 400)
