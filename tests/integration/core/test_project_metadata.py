"""A project's metadata one key at a time (/projects/{p}/metadatas) and whether it may be deleted
(/projects/{p}/_deletable), against a real core process, as curl would drive them: shapes, Harbor's value
rules (400 naming the key, nothing stored), 404/409, who may do what, and the audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.token import add_member, add_robot, add_user, query

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PW = "Meta-Passw0rd"
ROLES = {"md-padmin": 1, "md-maint": 4, "md-dev": 2, "md-guest": 3, "md-lguest": 5}
WHO = [*ROLES, "md-outsider", "anonymous", "admin"]


def errors_of(r: httpx.Response) -> tuple[str, str]:
    body = r.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    return str(body["errors"][0]["code"]), str(body["errors"][0]["message"])


def create(core: CoreProcess, name: str, *, public: bool = False) -> int:
    with core.client(ADMIN) as c:
        r = c.post("/projects", json={"project_name": name, "metadata": {"public": str(public).lower()}})
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def as_(core: CoreProcess, who: str) -> httpx.Client:
    if who == "anonymous":
        return core.client()
    return core.client(ADMIN if who == "admin" else (who, PW))


@dataclass
class World:
    core: CoreProcess
    project: str  # private; every role of ROLES is a member
    public: str  # public; the same members


@pytest.fixture(scope="module")
def world(core: CoreProcess) -> World:
    for name in [*ROLES, "md-outsider"]:
        add_user(core.database, name, PW)
    project, public = "md-private", "md-public"
    create(core, project)
    create(core, public, public=True)
    for name, role in ROLES.items():
        add_member(core.database, project, name, role)
        add_member(core.database, public, name, role)
    return World(core, project, public)


def metadata(core: CoreProcess, project: str) -> dict[str, str]:
    with core.client(ADMIN) as c:
        r = c.get(f"/projects/{project}/metadatas")
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    return body


def audit_since(core: CoreProcess, mark: int) -> list[dict[str, Any]]:
    rows = query(
        core.database,
        "SELECT operation, resource_type, resource, username, project_id, operation_description"
        " FROM audit_log WHERE id > $1 ORDER BY id",
        mark,
    )
    return [dict(r) for r in rows]


def audit_mark(core: CoreProcess) -> int:
    return int(query(core.database, "SELECT coalesce(max(id), 0) AS n FROM audit_log")[0]["n"])


def test_add_read_update_delete(world: World, unique: str) -> None:
    core, name = world.core, f"mdc-{unique}"
    pid = create(core, name)
    with core.client(ADMIN) as c:
        r = c.get(f"/projects/{name}/metadatas")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
        assert r.json() == {"public": "false"}
        # The spec's path has a trailing slash; both spellings answer.
        assert c.get(f"/projects/{pid}/metadatas/").json() == {"public": "false"}

        mark = audit_mark(core)
        r = c.post(f"/projects/{name}/metadatas", json={"auto_scan": "TRUE"})
        assert r.status_code == 200, r.text
        assert c.get(f"/projects/{name}/metadatas/auto_scan").json() == {"auto_scan": "true"}
        assert c.post(f"/projects/{pid}/metadatas/", json={"severity": "Negligible"}).status_code == 200
        two = {"proxy_speed_kb": "+0100", "prevent_vul": "1"}
        assert c.post(f"/projects/{name}/metadatas", json=two).status_code == 200
        assert metadata(core, name) == {
            "auto_scan": "true",
            "prevent_vul": "true",
            "proxy_speed_kb": "100",
            "public": "false",
            "severity": "none",
        }

        assert c.put(f"/projects/{name}/metadatas/auto_scan", json={"auto_scan": "f"}).status_code == 200
        assert c.get(f"/projects/{name}/metadatas/auto_scan").json() == {"auto_scan": "false"}
        assert c.put(f"/projects/{name}/metadatas/severity", json={"severity": "HIGH"}).status_code == 200
        assert c.get(f"/projects/{name}/metadatas/severity").json() == {"severity": "high"}

        assert c.delete(f"/projects/{name}/metadatas/prevent_vul").status_code == 200
        r = c.get(f"/projects/{name}/metadatas/prevent_vul")
        assert r.status_code == 404 and errors_of(r)[0] == "NOT_FOUND"
        assert c.delete(f"/projects/{name}/metadatas/prevent_vul").status_code == 404

        # The project API shows the same settings: one store.
        project = c.get(f"/projects/{name}").json()
        assert project["metadata"] == {
            "auto_scan": "false",
            "proxy_speed_kb": "100",
            "public": "false",
            "severity": "high",
        }
    entries = audit_since(core, mark)
    assert [(e["operation"], e["resource_type"], e["resource"], e["username"], e["project_id"]) for e in entries] == [
        ("update", "project", name, "admin", pid)
    ] * 6
    assert [e["operation_description"] for e in entries] == [
        f"update project {name}: add metadata auto_scan=true",
        f"update project {name}: add metadata severity=none",
        f"update project {name}: add metadata prevent_vul=true, proxy_speed_kb=100",
        f"update project {name}: set metadata auto_scan=false",
        f"update project {name}: set metadata severity=high",
        f"update project {name}: delete metadata prevent_vul",
    ]


def test_public_is_the_projects_visibility(world: World, unique: str) -> None:
    core, name = world.core, f"mdp-{unique}"
    create(core, name)
    with core.client(ADMIN) as c, core.client() as anon:
        assert anon.get(f"/projects/{name}").status_code == 404
        # Every project has a visibility: `public` is never new.
        r = c.post(f"/projects/{name}/metadatas", json={"public": "true"})
        assert r.status_code == 409 and errors_of(r)[0] == "CONFLICT"
        assert c.put(f"/projects/{name}/metadatas/public", json={"public": "true"}).status_code == 200
        assert anon.get(f"/projects/{name}").json()["metadata"]["public"] == "true"
        assert c.get(f"/projects/{name}/metadatas/public").json() == {"public": "true"}
        # Deleting it makes the project private, as a Harbor project without the key is.
        assert c.delete(f"/projects/{name}/metadatas/public").status_code == 200
        assert anon.get(f"/projects/{name}").status_code == 404
        assert c.get(f"/projects/{name}/metadatas/public").json() == {"public": "false"}
        # A change through the project API shows here.
        assert c.put(f"/projects/{name}", json={"metadata": {"public": "true", "auto_scan": "true"}}).status_code == 200
        assert metadata(core, name) == {"auto_scan": "true", "public": "true"}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"auto_scan": "yes"}, "auto_scan"),
        ({"enable_content_trust": ""}, "enable_content_trust"),
        ({"auto_sbom_generation": "on"}, "auto_sbom_generation"),
        ({"reuse_sys_cve_allowlist": "2"}, "reuse_sys_cve_allowlist"),
        ({"severity": "urgent"}, "severity"),
        ({"proxy_speed_kb": "fast"}, "proxy_speed_kb"),
        ({"proxy_speed_kb": "2147483648"}, "proxy_speed_kb"),
        ({"proxy_speed_kb": "1_000"}, "proxy_speed_kb"),
        ({"proxy_speed_kb": " 5"}, "proxy_speed_kb"),
        ({"max_upstream_conn": "0"}, "max_upstream_conn"),
        ({"max_upstream_conn": "-2"}, "max_upstream_conn"),
        ({"retention_id": "7"}, "retention_id"),
        ({"bogus": "true"}, "bogus"),
        ({"auto_scan": True}, "auto_scan"),
        ({"auto_scan": None}, "auto_scan"),
        ({"prevent_vul": "true", "severity": "extreme"}, "severity"),
        ({"prevent_vul": "true", "nonsense": "1"}, "nonsense"),
        ({"auto_scan": "tru\u0000e"}, "auto_scan"),
    ],
)
def test_bad_values_are_400_naming_the_key_and_store_nothing(
    world: World, unique: str, body: dict[str, Any], named: str
) -> None:
    core, name = world.core, f"mdb-{unique}"
    create(core, name)
    mark = audit_mark(core)
    with core.client(ADMIN) as c:
        r = c.post(f"/projects/{name}/metadatas", json=body)
        assert r.status_code == 400, r.text
        code, message = errors_of(r)
        assert code == "BAD_REQUEST" and named in message, message
    assert metadata(core, name) == {"public": "false"}
    assert audit_since(core, mark) == []


def test_bad_bodies_and_paths(world: World, unique: str) -> None:
    core, name = world.core, f"mdx-{unique}"
    create(core, name)
    with core.client(ADMIN) as c:
        assert c.post(f"/projects/{name}/metadatas", json={"auto_scan": "true"}).status_code == 200
        for content in [b"", b"{", b"[]", b'"auto_scan"', b"{}"]:
            r = c.post(f"/projects/{name}/metadatas", content=content, headers={"Content-Type": "application/json"})
            assert r.status_code == 400 and errors_of(r)[0] == "BAD_REQUEST", content
        # A key the project holds: 409, and nothing of the request is stored.
        r = c.post(f"/projects/{name}/metadatas", json={"severity": "low", "auto_scan": "false"})
        assert r.status_code == 409 and "auto_scan" in errors_of(r)[1]
        assert metadata(core, name) == {"auto_scan": "true", "public": "false"}
        # PUT: the body names the path's key, and only it; the key must be there already.
        for body in [{}, {"severity": "low"}, {"auto_scan": "false", "severity": "low"}, {"auto_scan": "maybe"}]:
            r = c.put(f"/projects/{name}/metadatas/auto_scan", json=body)
            assert r.status_code == 400 and "auto_scan" in errors_of(r)[1], body
        r = c.put(f"/projects/{name}/metadatas/severity", json={"severity": "low"})
        assert r.status_code == 404 and "POST" in errors_of(r)[1]
        for method in ("GET", "PUT", "DELETE"):
            r = c.request(method, f"/projects/{name}/metadatas/bogus", json={"bogus": "1"})
            assert r.status_code == 400 and "bogus" in errors_of(r)[1], method
        assert metadata(core, name) == {"auto_scan": "true", "public": "false"}
        for path in (f"/projects/nope-{unique}/metadatas", f"/projects/nope-{unique}/metadatas/auto_scan"):
            assert c.get(path).status_code == 404
        assert c.post(f"/projects/nope-{unique}/metadatas", json={"auto_scan": "true"}).status_code == 404
        # By id, and by a numeric name with X-Is-Resource-Name.
        pid = c.get(f"/projects/{name}").json()["project_id"]
        assert c.get(f"/projects/{pid}/metadatas/auto_scan").json() == {"auto_scan": "true"}
        numeric = str(800000 + int(unique[:4], 16))
        create(core, numeric)
        r = c.get(f"/projects/{numeric}/metadatas", headers={"X-Is-Resource-Name": "true"})
        assert r.status_code == 200 and r.json() == {"public": "false"}


# Harbor's role table: metadata C R U D for projectAdmin, R for maintainer, nothing for the others.
READERS = {"admin", "md-padmin", "md-maint"}
WRITERS = {"admin", "md-padmin"}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_who_reads(world: World, who: str, public: bool) -> None:
    project = world.public if public else world.project
    with as_(world.core, who) as c:
        listed = c.get(f"/projects/{project}/metadatas")
        one = c.get(f"/projects/{project}/metadatas/public")
    if who in READERS:
        assert listed.status_code == 200 and listed.json()["public"] == str(public).lower()
        assert one.status_code == 200 and one.json() == {"public": str(public).lower()}
        return
    # A private project a caller is no member of does not exist for it; anonymous callers of a public
    # project are asked to log in, everyone else who sees it is refused.
    hidden = who in ("md-outsider", "anonymous") and not public
    expected = 404 if hidden else 401 if who == "anonymous" else 403
    for r in (listed, one):
        assert r.status_code == expected, r.text
        errors_of(r)


@pytest.mark.parametrize("who", [w for w in WHO if w != "admin"])
def test_who_writes(world: World, who: str, unique: str) -> None:
    core = world.core
    key = "max_upstream_conn"
    with core.client(ADMIN) as c:
        c.delete(f"/projects/{world.project}/metadatas/{key}")  # 404 when absent: from a previous case
    with as_(core, who) as c:
        added = c.post(f"/projects/{world.project}/metadatas", json={key: "5"})
        updated = c.put(f"/projects/{world.project}/metadatas/{key}", json={key: "-1"})
        deleted = c.delete(f"/projects/{world.project}/metadatas/{key}")
    if who in WRITERS:
        assert [r.status_code for r in (added, updated, deleted)] == [200, 200, 200]
        return
    expected = 401 if who == "anonymous" else 404 if who == "md-outsider" else 403
    for r in (added, updated, deleted):
        assert r.status_code == expected, r.text
        errors_of(r)
    assert key not in metadata(core, world.project)


def test_robots_hold_exactly_what_they_were_given(world: World, unique: str) -> None:
    core, name = world.core, f"mdr-{unique}"
    create(core, name)
    lister = add_robot(core.database, f"l{unique}", "Robot-Secret1", project=name, access=[("metadata", "list")])
    writer = add_robot(
        core.database,
        f"w{unique}",
        "Robot-Secret1",
        project=name,
        access=[("metadata", "create"), ("metadata", "read")],
    )
    with core.client((lister.name, "Robot-Secret1")) as c:
        # Harbor asks `list` for the whole map: a robot given it reads it, and nothing else.
        assert c.get(f"/projects/{name}/metadatas").json() == {"public": "false"}
        assert c.get(f"/projects/{name}/metadatas/public").status_code == 403
        assert c.post(f"/projects/{name}/metadatas", json={"auto_scan": "true"}).status_code == 403
    with core.client((writer.name, "Robot-Secret1")) as c:
        assert c.post(f"/projects/{name}/metadatas", json={"auto_scan": "true"}).status_code == 200
        assert c.get(f"/projects/{name}/metadatas/auto_scan").json() == {"auto_scan": "true"}
        assert c.get(f"/projects/{name}/metadatas").status_code == 200  # read answers the list too
        assert c.delete(f"/projects/{name}/metadatas/auto_scan").status_code == 403
        assert c.get(f"/projects/{world.project}/metadatas").status_code == 404  # another project


def test_deletable(world: World, unique: str) -> None:
    core, name = world.core, f"mdd-{unique}"
    create(core, name)
    with core.client(ADMIN) as c:
        r = c.get(f"/projects/{name}/_deletable")
        assert r.status_code == 200 and r.json() == {"deletable": True, "message": ""}
        query(core.database, "INSERT INTO repositories (name) VALUES ($1), ($2)", f"{name}/a", f"{name}/b/c")
        body = c.get(f"/projects/{name}/_deletable").json()
        assert body == {
            "deletable": False,
            "message": f"project {name} still contains 2 repositories; delete them first",
        }
        # DELETE refuses for the same reason, in the same words.
        r = c.delete(f"/projects/{name}")
        assert r.status_code == 412 and errors_of(r) == ("PRECONDITION", body["message"])
        query(core.database, "DELETE FROM repositories WHERE name = $1", f"{name}/a")
        assert c.get(f"/projects/{name}/_deletable").json()["message"] == (
            f"project {name} still contains 1 repository; delete them first"
        )
        query(core.database, "DELETE FROM repositories WHERE name = $1", f"{name}/b/c")
        assert c.get(f"/projects/{name}/_deletable").json()["deletable"] is True
        assert c.delete(f"/projects/{name}").status_code == 200
        assert c.get(f"/projects/{name}/_deletable").status_code == 404


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_who_asks_deletable(world: World, who: str, public: bool) -> None:
    """Harbor asks the project delete permission: the project admin's and the sysadmin's."""
    project = world.public if public else world.project
    with as_(world.core, who) as c:
        r = c.get(f"/projects/{project}/_deletable")
    if who in ("admin", "md-padmin"):
        assert r.status_code == 200 and r.json() == {"deletable": True, "message": ""}
        return
    expected = 401 if who == "anonymous" else 404 if who == "md-outsider" and not public else 403
    assert r.status_code == expected, r.text
    errors_of(r)
