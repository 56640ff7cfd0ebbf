"""Projects, members, system endpoints: happy paths and errors against a real core process."""

from __future__ import annotations

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.token import add_group_member, add_member, add_user, query

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")


def errors_of(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"errors"} and {"code", "message"} <= set(body["errors"][0])
    return str(body["errors"][0]["code"])


def create(core: CoreProcess, name: str, auth: tuple[str, str] = ADMIN, public: bool = False) -> int:
    with core.client(auth) as c:
        r = c.post("/projects", json={"project_name": name, "metadata": {"public": str(public).lower()}})
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def test_health_and_systeminfo(core: CoreProcess) -> None:
    with core.client() as anon, core.client(ADMIN) as admin:
        health = anon.get("/health").json()
        assert health["status"] == "healthy"
        assert {c["name"]: c["status"] for c in health["components"]} == {"core": "healthy", "database": "healthy"}
        info = anon.get("/systeminfo").json()
        # Exactly what Harbor 2.13 tells anonymous callers: no version, no feature flags, no addresses.
        assert info == {
            "auth_mode": "db_auth",
            "primary_auth_mode": False,
            "self_registration": False,
            "banner_message": "",
        }
        full = admin.get("/systeminfo").json()
        assert full["external_url"].startswith("http") and full["berth_version"] and full["registry_url"]
        assert full["harbor_version"] and full["with_notary"] is False


def test_current_user(core: CoreProcess, unique: str) -> None:
    add_user(core.database, f"u{unique}", "pw-Secret1", email=f"{unique}@example.com")
    with core.client((f"u{unique}", "pw-Secret1")) as c:
        body = c.get("/users/current").json()
    assert (
        body["username"] == f"u{unique}" and body["sysadmin_flag"] is False and body["email"] == f"{unique}@example.com"
    )
    with core.client() as anon:
        r = anon.get("/users/current")
    assert r.status_code == 401 and errors_of(r) == "UNAUTHORIZED"


def test_wrong_credentials_are_401_with_challenge(core: CoreProcess) -> None:
    for auth in [("admin", "wrong"), ("nobody-here", "x"), ("robot$nope", "x")]:
        with core.client(auth) as c:
            r = c.get("/projects")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="berth"'
        assert errors_of(r) == "UNAUTHORIZED"
    for header in ["Basic !!!", "Basic " + "a" * 10, "Bearer abc"]:
        r = httpx.get(core.api + "/projects", headers={"Authorization": header})
        assert r.status_code == 401, header


def test_create_get_head_update_delete(core: CoreProcess, unique: str) -> None:
    name = f"p-{unique}"
    with core.client(ADMIN) as c:
        r = c.post("/projects", json={"project_name": name, "public": True, "unknown_field": 1})
        assert r.status_code == 201 and r.headers["Location"].startswith("/api/v2.0/projects/")
        pid = int(r.headers["Location"].rsplit("/", 1)[1])
        assert c.post("/projects", json={"project_name": name}).status_code == 409
        body = c.get(f"/projects/{name}").json()
        assert body["project_id"] == pid and body["metadata"]["public"] == "true" and body["owner_name"] == "admin"
        assert body["current_user_role_id"] == 1 and body["repo_count"] == 0
        assert c.get(f"/projects/{pid}").json()["name"] == name
        assert c.head(f"/projects/{name}").status_code == 200
        assert c.head("/projects", params={"project_name": name}).status_code == 200
        assert c.head("/projects", params={"project_name": name + "x"}).status_code == 404
        assert c.put(f"/projects/{pid}", json={"metadata": {"public": "false", "auto_scan": "true"}}).status_code == 200
        body = c.get(f"/projects/{name}").json()
        assert body["metadata"] == {"public": "false", "auto_scan": "true"}
        r = c.post("/projects", json={"project_name": f"q-{unique}"}, headers={"X-Resource-Name-In-Location": "true"})
        assert r.headers["Location"] == f"/api/v2.0/projects/q-{unique}"
        assert c.delete(f"/projects/{name}").status_code == 200
        assert c.get(f"/projects/{name}").status_code == 404


def test_is_resource_name_header(core: CoreProcess, unique: str) -> None:
    numeric = str(900000 + int(unique[:4], 16))
    create(core, numeric)
    with core.client(ADMIN) as c:
        # Without the header a number is the project of that name when there is one...
        assert c.get(f"/projects/{numeric}").json()["name"] == numeric
        r = c.get(f"/projects/{numeric}", headers={"X-Is-Resource-Name": "true"})
        assert r.status_code == 200 and r.json()["name"] == numeric
        # ...with `false` it is an id (none has this one).
        assert c.get(f"/projects/{numeric}", headers={"X-Is-Resource-Name": "false"}).status_code == 404


def test_a_project_named_like_another_projects_id_is_never_the_other(core: CoreProcess, unique: str) -> None:
    create(core, f"idp-{unique}")
    with core.client(ADMIN) as c:
        other = c.get(f"/projects/idp-{unique}").json()["project_id"]
        assert c.get(f"/projects/{other}").json()["name"] == f"idp-{unique}"  # no project named so: the id
        if c.get(f"/projects/{other}", headers={"X-Is-Resource-Name": "true"}).status_code == 404:
            create(core, str(other))
        named = c.get(f"/projects/{other}").json()
        assert named["name"] == str(other) and named["project_id"] != other
        by_id = c.get(f"/projects/{other}", headers={"X-Is-Resource-Name": "false"}).json()
        assert by_id["name"] == f"idp-{unique}"


@pytest.mark.parametrize(
    "name",
    ["", "Upper", "-lead", "trail-", "a..b", "a b", "x" * 256, "a'; DROP TABLE projects; --", "ü", "a/b", "a\u0000b"],
)
def test_invalid_names_are_400(core: CoreProcess, name: str) -> None:
    with core.client(ADMIN) as c:
        r = c.post("/projects", json={"project_name": name})
    assert r.status_code == 400 and errors_of(r) == "BAD_REQUEST"


def test_bodies(core: CoreProcess, unique: str) -> None:
    with core.client(ADMIN) as c:
        for content in [
            b"{",
            b"[]",
            b"",
            b'"x"',
            b'{"project_name": 5}',
            b'{"project_name": "a", "public": "yes"}',
            b'{"project_name": "a", "metadata": {"public": "maybe"}}',
            b'{"project_name": "a", "metadata": []}',
        ]:
            r = c.post("/projects", content=content, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, content
        big = b'{"project_name": "' + b"a" * (1024 * 1024 + 10) + b'"}'
        r = c.post("/projects", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and errors_of(r) == "PAYLOAD_TOO_LARGE"

        def chunks():  # no Content-Length: the limit still holds
            yield big

        r = c.post("/projects", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert (
            c.post("/projects", json={"project_name": f"ok-{unique}", "storage_limit": -1, "x": {}}).status_code == 201
        )


def test_list_filters_sort_pagination(core: CoreProcess, unique: str) -> None:
    names = [f"ls-{unique}-{i}" for i in range(5)]
    for i, n in enumerate(names):
        create(core, n, public=i % 2 == 0)
    with core.client(ADMIN) as c:
        r = c.get("/projects", params={"q": f"name=~ls-{unique}", "sort": "-name", "page_size": 2})
        assert r.status_code == 200 and r.headers["X-Total-Count"] == "5"
        assert [p["name"] for p in r.json()] == names[::-1][:2]
        assert 'rel="next"' in r.headers["Link"] and 'rel="prev"' not in r.headers["Link"]
        r = c.get("/projects", params={"q": f"name=~ls-{unique}", "sort": "-name", "page_size": 2, "page": 2})
        assert 'rel="next"' in r.headers["Link"] and 'rel="prev"' in r.headers["Link"]
        r = c.get("/projects", params={"q": f"name=~ls-{unique}", "sort": "-name", "page_size": 2, "page": 3})
        assert [p["name"] for p in r.json()] == [names[0]] and 'rel="next"' not in r.headers["Link"]
        r = c.get("/projects", params={"q": f"name=~ls-{unique},public=true"})
        assert sorted(p["name"] for p in r.json()) == [names[0], names[2], names[4]]
        assert [p["name"] for p in c.get("/projects", params={"name": names[1]}).json()] == [names[1]]
        # name= is Harbor's fuzzy match: a substring, not the whole name.
        r = c.get("/projects", params={"name": f"s-{unique}-", "sort": "name"})
        assert [p["name"] for p in r.json()] == names and r.headers["X-Total-Count"] == "5"
        assert c.get("/projects", params={"name": "%"}).json() == []  # taken literally
        r = c.get("/projects", params={"q": f"name=~ls-{unique}", "public": "false", "owner": "admin"})
        assert r.headers["X-Total-Count"] == "2"
        assert c.get("/projects", params={"q": f"name={names[3]}"}).json()[0]["name"] == names[3]
        assert len(c.get("/projects", params={"page_size": 100}).json()) <= 100


@pytest.mark.parametrize(
    "params",
    [
        {"q": "bogus=1"},
        {"q": "name"},
        {"q": "public=maybe"},
        {"q": "project_id=1;DROP"},
        {"q": "name=[a~b]"},
        {"sort": "name; DROP TABLE projects"},
        {"sort": "password_hash"},
        {"page_size": "101"},
        {"page_size": "0"},
        {"page": "-1"},
        {"page": "x"},
        {"public": "perhaps"},
        {"q": "name=a\u0000b"},
    ],
)
def test_bad_list_parameters_are_400(core: CoreProcess, params: dict[str, str]) -> None:
    with core.client(ADMIN) as c:
        r = c.get("/projects", params=params)
    assert r.status_code == 400 and errors_of(r) == "BAD_REQUEST"


@pytest.mark.parametrize("value", ["'", "%", "_", "\\", "'; SELECT pg_sleep(5); --", '"', "*", "name=x"])
def test_sql_metacharacters_in_values_are_data(core: CoreProcess, value: str) -> None:
    with core.client(ADMIN) as c:
        for params in ({"q": f"name=~{value}"}, {"name": value}, {"owner": value}):
            r = c.get("/projects", params=params)
            assert r.status_code in (200, 400), (params, r.text)
            if r.status_code == 200 and value in ("%", "_", "\\"):
                assert r.json() == []
        for path in (f"/projects/{value}", f"/projects/{value}/members"):
            assert c.get(path).status_code in (400, 404)


def test_delete_refused_while_repositories_exist(core: CoreProcess, unique: str) -> None:
    name = f"full-{unique}"
    create(core, name)
    query(core.database, "INSERT INTO repositories (name) VALUES ($1), ($2)", f"{name}/app", f"{name}x/other")
    with core.client(ADMIN) as c:
        assert c.get(f"/projects/{name}").json()["repo_count"] == 1
        r = c.delete(f"/projects/{name}")
        assert r.status_code == 412 and errors_of(r) == "PRECONDITION"
        query(core.database, "DELETE FROM repositories WHERE name = $1", f"{name}/app")
        assert c.delete(f"/projects/{name}").status_code == 200


def test_members_crud(core: CoreProcess, unique: str) -> None:
    name = f"m-{unique}"
    create(core, name)
    add_user(core.database, f"mu{unique}", "pw")
    add_group_member(core.database, "library", f"grp{unique}", [], 3)
    with core.client(ADMIN) as c:
        r = c.post(f"/projects/{name}/members", json={"role_id": 2, "member_user": {"username": f"mu{unique}"}})
        assert r.status_code == 201
        mid = int(r.headers["Location"].rsplit("/", 1)[1])
        assert (
            c.post(
                f"/projects/{name}/members", json={"role_id": 2, "member_user": {"username": f"mu{unique}"}}
            ).status_code
            == 409
        )
        r = c.post(f"/projects/{name}/members", json={"role_id": 4, "member_group": {"group_name": f"grp{unique}"}})
        assert r.status_code == 201
        member = c.get(f"/projects/{name}/members/{mid}").json()
        assert member == {
            "id": mid,
            "project_id": member["project_id"],
            "entity_name": f"mu{unique}",
            "role_name": "developer",
            "role_id": 2,
            "entity_id": member["entity_id"],
            "entity_type": "u",
        }
        r = c.get(f"/projects/{name}/members")
        assert r.headers["X-Total-Count"] == "3"
        assert {(m["entity_name"], m["entity_type"], m["role_name"]) for m in r.json()} == {
            ("admin", "u", "projectAdmin"),
            (f"mu{unique}", "u", "developer"),
            (f"grp{unique}", "g", "maintainer"),
        }
        assert [m["entity_name"] for m in c.get(f"/projects/{name}/members", params={"entityname": "mu"}).json()] == [
            f"mu{unique}"
        ]
        assert c.put(f"/projects/{name}/members/{mid}", json={"role_id": 3}).status_code == 200
        assert c.get(f"/projects/{name}/members/{mid}").json()["role_name"] == "guest"
        for bad in [{"role_id": 0}, {"role_id": 6}, {"role_id": "1"}, {}]:
            assert c.put(f"/projects/{name}/members/{mid}", json=bad).status_code == 400
        for bad in [
            {"role_id": 1},
            {"role_id": 1, "member_user": {}},
            {"role_id": 1, "member_user": {"username": "ghost-x"}},
            {"role_id": 1, "member_group": {"group_name": "ghost-g"}},
            {"role_id": 9, "member_user": {"username": "admin"}},
        ]:
            assert c.post(f"/projects/{name}/members", json=bad).status_code == 400, bad
        assert c.get(f"/projects/{name}/members", params={"sort": "id"}).status_code == 400
        assert c.delete(f"/projects/{name}/members/{mid}").status_code == 200
        assert c.get(f"/projects/{name}/members/{mid}").status_code == 404
        assert c.delete(f"/projects/{name}/members/{mid}").status_code == 404
        assert c.get(f"/projects/{name}/members/abc").status_code == 400
    add_member(core.database, name, f"mu{unique}", 1)


def test_head_by_name_is_for_authenticated_callers_only(core: CoreProcess, unique: str) -> None:
    """Anonymous callers cannot tell a private project's name from a free one: 401 for every name, as
    Harbor's HeadProject (RequireAuthenticated); a logged-in user, even one of no project, may check."""
    private, public = f"hp-{unique}", f"hq-{unique}"
    create(core, private, public=False)
    create(core, public, public=True)
    add_user(core.database, f"hu{unique}", "pw-Secret1")
    with core.client() as anon:
        for name in (private, public, f"free-{unique}"):
            r = anon.head("/projects", params={"project_name": name})
            assert r.status_code == 401, name
    with core.client((f"hu{unique}", "pw-Secret1")) as user:
        assert user.head("/projects", params={"project_name": private}).status_code == 200
        assert user.head("/projects", params={"project_name": f"free-{unique}"}).status_code == 404
