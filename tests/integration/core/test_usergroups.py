"""/api/v2.0/usergroups against a real core (db_auth and ldap_auth), a real slapd and a real token service:
CRUD, paging, who may do what, and that an LDAP group made a project member gives its directory members
that role in a token, until the group is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase
from tests.harness.slapd import SlapdServer, group_dn, user_dn
from tests.harness.token import TokenServiceProcess, add_member, add_user, query
from tests.integration.ldap.conftest import USERS, start_slapd, token_for
from tests.integration.token.helpers import ask, assert_error, granted

pytestmark = pytest.mark.integration

PW = "pw-Secret1"
ADMIN = ("admin", "Harbor12345")
WHO = ["anonymous", "ug-plain", "ug-padmin", "admin"]


@pytest.fixture(scope="module")
def people(core: CoreProcess) -> CoreProcess:
    add_user(core.database, "ug-plain", PW)
    add_user(core.database, "ug-padmin", PW)
    with core.client(ADMIN) as c:
        assert c.post("/projects", json={"project_name": "ug-proj"}).status_code == 201
    add_member(core.database, "ug-proj", "ug-padmin", 1)
    return core


def as_(core: CoreProcess, who: str) -> httpx.Client:
    if who == "anonymous":
        return core.client()
    return core.client(ADMIN if who == "admin" else (who, PW))


def create(core: CoreProcess, body: dict[str, Any]) -> int:
    with core.client(ADMIN) as c:
        r = c.post("/usergroups", json=body)
    assert r.status_code == 201, r.text
    group_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert r.headers["Location"] == f"/api/v2.0/usergroups/{group_id}"
    return group_id


def test_crud_round_trip(people: CoreProcess, unique: str) -> None:
    gid = create(people, {"group_name": f"web-{unique}", "group_type": 2})
    with people.client(ADMIN) as c:
        assert c.get(f"/usergroups/{gid}").json() == {
            "id": gid,
            "group_name": f"web-{unique}",
            "group_type": 2,
            "ldap_group_dn": "",
        }
        listed = c.get("/usergroups", params={"group_name": unique})
        assert listed.status_code == 200
        assert [g["id"] for g in listed.json()] == [gid]
        assert listed.headers["X-Total-Count"] == "1"
        # PUT changes the name only, whatever else the body says.
        r = c.put(f"/usergroups/{gid}", json={"group_name": f"web2-{unique}", "group_type": 3, "ldap_group_dn": ""})
        assert r.status_code == 200, r.text
        assert c.get(f"/usergroups/{gid}").json()["group_name"] == f"web2-{unique}"
        assert c.get(f"/usergroups/{gid}").json()["group_type"] == 2
        assert c.delete(f"/usergroups/{gid}").status_code == 200
        assert_error(c.get(f"/usergroups/{gid}"), 404, "NOT_FOUND")
        assert_error(c.delete(f"/usergroups/{gid}"), 404, "NOT_FOUND")
        assert_error(c.put(f"/usergroups/{gid}", json={"group_name": "x"}), 404, "NOT_FOUND")


def test_duplicate_names_of_one_type_conflict(people: CoreProcess, unique: str) -> None:
    create(people, {"group_name": f"dup-{unique}", "group_type": 2})
    with people.client(ADMIN) as c:
        assert_error(c.post("/usergroups", json={"group_name": f"dup-{unique}", "group_type": 2}), 409, "CONFLICT")
    # Another type may use the name (Harbor's rule: name and type), but a rename onto a taken name may not.
    other = create(people, {"group_name": f"dup-{unique}", "group_type": 3})
    second = create(people, {"group_name": f"dup2-{unique}", "group_type": 3})
    with people.client(ADMIN) as c:
        assert_error(c.put(f"/usergroups/{second}", json={"group_name": f"dup-{unique}"}), 409, "CONFLICT")
        assert c.put(f"/usergroups/{other}", json={"group_name": f"dup-{unique}"}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"group_name": "x"},  # no group_type
        {"group_type": 2},  # an HTTP group needs a name
        {"group_type": 2, "group_name": ""},
        {"group_type": 2, "group_name": "   "},
        {"group_type": "2", "group_name": "x"},
        {"group_type": True, "group_name": "x"},
        {"group_type": 4, "group_name": "x"},
        {"group_type": 2, "group_name": 5},
        {"group_type": 2, "group_name": "x", "unknown": 1},
        {"group_type": 2, "group_name": "x", "ldap_group_dn": "cn=x,dc=berth,dc=test"},
        {"group_type": 2, "group_name": "x" * 256},
        {"group_type": 2, "group_name": "a\u0000b"},
        # LDAP groups need auth_mode ldap_auth, which this core does not have.
        {"group_type": 1, "ldap_group_dn": "cn=devs,ou=groups,dc=berth,dc=test"},
    ],
)
def test_bad_bodies_are_400(people: CoreProcess, body: dict[str, Any]) -> None:
    with people.client(ADMIN) as c:
        assert_error(c.post("/usergroups", json=body), 400, "BAD_REQUEST")


def test_malformed_requests(people: CoreProcess, unique: str) -> None:
    gid = create(people, {"group_name": f"m-{unique}", "group_type": 2})
    with people.client(ADMIN) as c:
        assert_error(
            c.post("/usergroups", content=b"{not json", headers={"Content-Type": "application/json"}),
            400,
            "BAD_REQUEST",
        )
        assert_error(c.post("/usergroups", json=[{"group_type": 2}]), 400, "BAD_REQUEST")
        big = b'{"group_type": 2, "group_name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
        r = c.post("/usergroups", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.json()["errors"][0]["code"] == "PAYLOAD_TOO_LARGE"
        for path in ("/usergroups/0", "/usergroups/abc", "/usergroups/-1"):
            assert_error(c.get(path), 400, "BAD_REQUEST")
        assert_error(c.put(f"/usergroups/{gid}", json={"group_name": ""}), 400, "BAD_REQUEST")
        assert_error(c.put(f"/usergroups/{gid}", json={"group_name": "y", "extra": True}), 400, "BAD_REQUEST")
        assert_error(c.get("/usergroups", params={"page_size": "101"}), 400, "BAD_REQUEST")
        assert c.get(f"/usergroups/{gid}").json()["group_name"] == f"m-{unique}"


def test_paging_and_links(people: CoreProcess, unique: str) -> None:
    ids = [create(people, {"group_name": f"pg{unique}-{i}", "group_type": 2}) for i in range(5)]
    with people.client(ADMIN) as c:
        first = c.get("/usergroups", params={"group_name": f"pg{unique}", "page_size": 2})
        assert [g["id"] for g in first.json()] == ids[:2]
        assert first.headers["X-Total-Count"] == "5"
        assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' not in first.headers["Link"]
        last = c.get("/usergroups", params={"group_name": f"pg{unique}", "page": 3, "page_size": 2})
        assert [g["id"] for g in last.json()] == ids[4:]
        assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
        assert f"group_name=pg{unique}" in last.headers["Link"]
        found = c.get("/usergroups/search", params={"groupname": f"pg{unique}", "page": 2, "page_size": 2})
    assert found.status_code == 200
    assert found.json() == [{"id": i, "group_name": f"pg{unique}-{n}", "group_type": 2} for n, i in enumerate(ids)][2:4]
    assert found.headers["X-Total-Count"] == "5"


def test_name_filters_take_like_metacharacters_literally(people: CoreProcess, unique: str) -> None:
    gid = create(people, {"group_name": f"pct{unique}%_x", "group_type": 2})
    create(people, {"group_name": f"pct{unique}ab", "group_type": 2})
    with people.client(ADMIN) as c:
        assert [g["id"] for g in c.get("/usergroups", params={"group_name": f"{unique}%_"}).json()] == [gid]
        assert c.get("/usergroups", params={"group_name": "%"}).headers["X-Total-Count"] != "0"
        assert c.get("/usergroups", params={"ldap_group_dn": "*"}).json() == []


@pytest.mark.parametrize("who", WHO)
def test_only_the_sysadmin_manages_groups(people: CoreProcess, who: str, unique: str) -> None:
    gid = create(people, {"group_name": f"perm-{unique}", "group_type": 2})
    with as_(people, who) as c:
        answers = [
            c.get("/usergroups"),
            c.get(f"/usergroups/{gid}"),
            c.post("/usergroups", json={"group_name": f"perm2-{unique}", "group_type": 2}),
            c.put(f"/usergroups/{gid}", json={"group_name": f"perm3-{unique}"}),
            c.delete(f"/usergroups/{gid}"),
        ]
    if who == "admin":
        assert [r.status_code for r in answers] == [200, 200, 201, 200, 200]
        return
    for r in answers:
        assert_error(r, 401 if who == "anonymous" else 403, "UNAUTHORIZED" if who == "anonymous" else "FORBIDDEN")
    with people.client(ADMIN) as c:
        assert c.get(f"/usergroups/{gid}").json()["group_name"] == f"perm-{unique}"
        assert c.get("/usergroups", params={"group_name": f"perm2-{unique}"}).json() == []


@pytest.mark.parametrize("who", WHO)
def test_anybody_authenticated_searches(people: CoreProcess, who: str, unique: str) -> None:
    gid = create(people, {"group_name": f"srch-{unique}", "group_type": 2})
    with as_(people, who) as c:
        r = c.get("/usergroups/search", params={"groupname": f"srch-{unique}"})
        missing = c.get("/usergroups/search")
    if who == "anonymous":
        assert_error(r, 401, "UNAUTHORIZED")
        return
    assert r.status_code == 200, r.text
    assert r.json() == [{"id": gid, "group_name": f"srch-{unique}", "group_type": 2}]
    assert_error(missing, 400, "BAD_REQUEST")


def test_deleting_a_group_drops_its_memberships(people: CoreProcess, unique: str) -> None:
    gid = create(people, {"group_name": f"mem-{unique}", "group_type": 2})
    with people.client(ADMIN) as c:
        r = c.post("/projects/ug-proj/members", json={"role_id": 2, "member_group": {"id": gid}})
        assert r.status_code == 201, r.text
        assert query(people.database, "SELECT 1 FROM project_members WHERE entity_type = 'g' AND entity_id = $1", gid)
        assert c.delete(f"/usergroups/{gid}").status_code == 200
        names = [m["entity_name"] for m in c.get("/projects/ug-proj/members", params={"page_size": 100}).json()]
    assert f"mem-{unique}" not in names
    assert not query(people.database, "SELECT 1 FROM project_members WHERE entity_type = 'g' AND entity_id = $1", gid)
    assert not query(people.database, "SELECT 1 FROM user_groups WHERE id = $1", gid)


# --- LDAP groups: a core and a token service in ldap_auth mode against a real slapd ----------------------


@dataclass
class LdapWorld:
    core: CoreProcess
    token: TokenServiceProcess
    directory: SlapdServer


@pytest.fixture(scope="module")
def ldap_world(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapWorld]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"), memberof=True)
    core = CoreProcess(
        tmp_path_factory.mktemp("ldapcore"),
        module_database,
        settings={"auth_mode": "ldap_auth", "ldap": server.settings(cache_seconds=0)},
    )
    token: TokenServiceProcess | None = None
    try:
        core.start()
        token = token_for(tmp_path_factory.mktemp("token"), module_database, server)
        yield LdapWorld(core, token, server)
    finally:
        if token is not None:
            token.stop()
        core.stop()
        server.stop()


def test_an_ldap_group_member_role_reaches_its_directory_users(ldap_world: LdapWorld, unique: str) -> None:
    core, token = ldap_world.core, ldap_world.token
    project = f"lg{unique}"
    with core.client(ADMIN) as c:
        assert c.post("/projects", json={"project_name": project}).status_code == 201
        # Another spelling of the DN: the group is stored under the directory's, which logins use.
        r = c.post("/usergroups", json={"group_type": 1, "ldap_group_dn": group_dn("devs").upper()})
        assert r.status_code == 201, r.text
        gid = int(r.headers["Location"].rsplit("/", 1)[1])
        assert c.get(f"/usergroups/{gid}").json() == {
            "id": gid,
            "group_name": "devs",
            "group_type": 1,
            "ldap_group_dn": group_dn("devs"),
        }
        assert_error(c.post("/usergroups", json={"group_type": 1, "ldap_group_dn": group_dn("devs")}), 409, "CONFLICT")
        assert [g["id"] for g in c.get("/usergroups", params={"ldap_group_dn": group_dn("devs")}).json()] == [gid]
        r = c.post(f"/projects/{project}/members", json={"role_id": 2, "member_group": {"id": gid}})
        assert r.status_code == 201, r.text

    scope = f"repository:{project}/app:pull,push"
    assert granted(ask(token, scope, auth=("alice", USERS["alice"]))) == {f"{project}/app": ["pull", "push"]}
    assert granted(ask(token, scope, auth=("carol", USERS["carol"]))) == {f"{project}/app": []}
    # The login found the group by DN: no second row was made for it.
    assert (
        len(query(core.database, "SELECT 1 FROM user_groups WHERE lower(ldap_dn) = lower($1)", group_dn("devs"))) == 1
    )

    with core.client(ADMIN) as c:
        assert c.delete(f"/usergroups/{gid}").status_code == 200
    assert granted(ask(token, scope, auth=("alice", USERS["alice"]))) == {f"{project}/app": []}


@pytest.mark.parametrize(
    ("dn", "why"),
    [
        (f"cn=nobody,ou=groups,{'dc=berth,dc=test'}", "not found"),
        ("not a dn", "invalid"),
        (user_dn("alice"), "not a group under the group base DN"),
        ("cn=*,ou=groups,dc=berth,dc=test", "a star is not a wildcard in a DN"),
        ("", "missing"),
    ],
)
def test_ldap_groups_must_exist_in_the_directory(ldap_world: LdapWorld, dn: str, why: str) -> None:
    del why  # documents the case
    with ldap_world.core.client(ADMIN) as c:
        assert_error(c.post("/usergroups", json={"group_type": 1, "ldap_group_dn": dn}), 400, "BAD_REQUEST")


def test_ldap_mode_lists_ldap_groups_only(ldap_world: LdapWorld, unique: str) -> None:
    http_id = create(ldap_world.core, {"group_name": f"h-{unique}", "group_type": 2})
    ldap_world.directory.add_group(f"qa{unique}", ["dave"])
    ldap_id = create(
        ldap_world.core, {"group_type": 1, "group_name": f"ops-{unique}", "ldap_group_dn": group_dn(f"qa{unique}")}
    )
    with ldap_world.core.client(ADMIN) as c:
        ids = [g["id"] for g in c.get("/usergroups", params={"page_size": 100}).json()]
        assert ldap_id in ids and http_id not in ids
        assert c.get(f"/usergroups/{ldap_id}").json()["group_name"] == f"ops-{unique}"
        assert c.delete(f"/usergroups/{ldap_id}").status_code == 200
