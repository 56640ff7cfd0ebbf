"""Core's own changes in the audit log, against a real core and PostgreSQL: every login, logout, user,
project, member, robot and user-group change writes exactly one entry with who did what to which, in the
same transaction as the change; a refused change writes none; no entry ever holds a password, a secret
or a hash; and who may read which entries (/audit-logs, /projects/{p}/logs, /auditlog-exts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.token import add_member, add_user, query

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PW = "Audit-Passw0rd"
NEW_PW = "Audit-Changed9"
COLUMNS = (
    "id, event_id, project_id, operation, resource_type, resource, username, op_time, operation_description,"
    " operation_result"
)
PUSH_PULL = [{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}]


def last_id(core: CoreProcess) -> int:
    return int(query(core.database, "SELECT coalesce(max(id), 0) AS n FROM audit_log")[0]["n"])


def since(core: CoreProcess, mark: int) -> list[dict[str, Any]]:
    return [dict(r) for r in query(core.database, f"SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id", mark)]


class Audit:
    """Marks the audit log before an action; `one` is the single entry written after the mark."""

    def __init__(self, core: CoreProcess) -> None:
        self.core = core
        self.mark = last_id(core)

    def one(
        self,
        operation: str,
        resource_type: str,
        resource: str,
        username: str,
        project_id: int | None = None,
        *,
        success: bool = True,
    ) -> dict[str, Any]:
        rows = since(self.core, self.mark)
        assert len(rows) == 1, rows
        (row,) = rows
        got = (row["operation"], row["resource_type"], row["resource"], row["username"], row["project_id"])
        assert got == (operation, resource_type, resource, username, project_id)
        assert row["event_id"] is None, "core's own entries come from no event"
        assert row["operation_result"] is success
        assert row["operation_description"]
        self.mark = row["id"]
        return row

    def none(self) -> None:
        assert since(self.core, self.mark) == []


def assert_nowhere(core: CoreProcess, *secrets: str) -> None:
    """No column of any audit entry holds any of these."""
    for row in since(core, 0):
        for column, value in row.items():
            for secret in secrets:
                assert secret not in str(value), f"{column} of audit entry {row['id']} holds a secret"


def user_id(core: CoreProcess, name: str) -> int:
    return int(query(core.database, "SELECT id FROM users WHERE username = $1", name)[0]["id"])


def project_id(core: CoreProcess, name: str) -> int:
    return int(query(core.database, "SELECT id FROM projects WHERE name = $1", name)[0]["id"])


def password_hash(core: CoreProcess, name: str) -> str:
    return str(query(core.database, "SELECT password_hash FROM users WHERE username = $1", name)[0]["password_hash"])


def browser(core: CoreProcess) -> httpx.Client:
    return httpx.Client(base_url=core.url, timeout=30)


def as_(core: CoreProcess, who: str | None) -> httpx.Client:
    if who is None:
        return core.client()
    return core.client(ADMIN if who == "admin" else (who, PW))


def test_login_logout_and_failed_login(core: CoreProcess, unique: str) -> None:
    name = f"lg-{unique}"
    add_user(core.database, name, PW)
    audit = Audit(core)
    with browser(core) as c:
        assert c.post("/c/login", data={"principal": name, "password": PW}).status_code == 200
        audit.one("login", "user", name, name)
        assert c.get("/c/log_out").status_code == 200
        audit.one("logout", "user", name, name)
        # Logging out again, with no session, is nobody logging out.
        assert c.get("/c/log_out").status_code == 200
        audit.none()
        wrong = f"Wrong-{unique}-pw1"
        assert c.post("/c/login", data={"principal": name, "password": wrong}).status_code == 401
        failed = audit.one("login", "user", name, name, success=False)
        assert "fail" in failed["operation_description"]
    assert_nowhere(core, PW, wrong, password_hash(core, name))
    with as_(core, "admin") as c:
        ext = c.get("/auditlog-exts", params={"q": f"resource={name}", "sort": "op_time"})
        assert ext.status_code == 200, ext.text
        assert [(e["operation"], e["operation_result"]) for e in ext.json()] == [
            ("login", True),
            ("logout", True),
            ("login", False),
        ]
        # The legacy list has no result field: it shows what happened, not what was refused.
        legacy = c.get("/audit-logs", params={"q": f"resource={name}", "sort": "op_time"}).json()
        assert [e["operation"] for e in legacy] == ["login", "logout"]


def test_user_changes_and_no_password_in_any_entry(core: CoreProcess, unique: str) -> None:
    name = f"us-{unique}"
    audit = Audit(core)
    with as_(core, "admin") as c:
        body = {"username": name, "password": PW, "email": f"{name}@example.com", "realname": name}
        assert c.post("/users", json=body).status_code == 201
        audit.one("create", "user", name, "admin")
        assert c.post("/users", json=body).status_code == 409
        audit.none()
        uid = user_id(core, name)
        assert c.put(f"/users/{uid}", json={"realname": "Renamed"}).status_code == 200
        audit.one("update", "user", name, "admin")
        first_hash = password_hash(core, name)
        assert c.put(f"/users/{uid}/password", json={"new_password": NEW_PW}).status_code == 200
        changed = audit.one("update", "user", name, "admin")
        assert "password" in changed["operation_description"]
        assert c.put(f"/users/{uid}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
        audit.one("update", "user", name, "admin")
        assert c.put(f"/users/{uid}/sysadmin", json={"sysadmin_flag": False}).status_code == 200
        audit.one("update", "user", name, "admin")
    # Changing one's own password: the user is the one who did it; a wrong old password changes nothing.
    with core.client((name, NEW_PW)) as c:
        wrong = {"old_password": "Not-the-0ld", "new_password": PW}
        assert c.put(f"/users/{uid}/password", json=wrong).status_code == 403
        audit.none()
        assert c.put(f"/users/{uid}/password", json={"old_password": NEW_PW, "new_password": PW}).status_code == 200
        audit.one("update", "user", name, name)
    with as_(core, name) as c:
        assert c.delete(f"/users/{uid}").status_code == 403
        audit.none()
    assert_nowhere(core, PW, NEW_PW, first_hash, password_hash(core, name), "Not-the-0ld")
    with as_(core, "admin") as c:
        assert c.delete(f"/users/{uid}").status_code == 200
        audit.one("delete", "user", name, "admin")
        assert c.delete(f"/users/{uid}").status_code == 404
        audit.none()


def test_project_changes(core: CoreProcess, unique: str) -> None:
    owner = f"po-{unique}"
    add_user(core.database, owner, PW)
    name = f"proj-{unique}"
    audit = Audit(core)
    with as_(core, owner) as c:
        assert c.post("/projects", json={"project_name": name}).status_code == 201
        pid = project_id(core, name)
        audit.one("create", "project", name, owner, pid)
        assert c.post("/projects", json={"project_name": name}).status_code == 409
        audit.none()
        assert c.put(f"/projects/{name}", json={"metadata": {"public": "true"}}).status_code == 200
        audit.one("update", "project", name, owner, pid)
    with as_(core, "admin") as c:
        assert c.delete(f"/projects/{name}").status_code == 200
        audit.one("delete", "project", name, "admin", pid)
        assert c.delete(f"/projects/{name}").status_code == 404
        audit.none()


def test_member_changes(core: CoreProcess, unique: str) -> None:
    admin_of, dev = f"ma-{unique}", f"md-{unique}"
    for u in (admin_of, dev):
        add_user(core.database, u, PW)
    name = f"mem-{unique}"
    with as_(core, admin_of) as c:
        assert c.post("/projects", json={"project_name": name}).status_code == 201
    pid = project_id(core, name)
    audit = Audit(core)
    with as_(core, admin_of) as c:
        r = c.post(f"/projects/{name}/members", json={"role_id": 2, "member_user": {"username": dev}})
        assert r.status_code == 201, r.text
        audit.one("create", "member", f"{name}/{dev}", admin_of, pid)
        mid = int(r.headers["Location"].rsplit("/", 1)[1])
        again = c.post(f"/projects/{name}/members", json={"role_id": 3, "member_user": {"username": dev}})
        assert again.status_code == 409
        audit.none()
        assert c.put(f"/projects/{name}/members/{mid}", json={"role_id": 4}).status_code == 200
        row = audit.one("update", "member", f"{name}/{dev}", admin_of, pid)
        assert "maintainer" in row["operation_description"]
    with as_(core, dev) as c:
        # A maintainer may not manage members.
        assert c.delete(f"/projects/{name}/members/{mid}").status_code == 403
        audit.none()
    with as_(core, admin_of) as c:
        assert c.delete(f"/projects/{name}/members/{mid}").status_code == 200
        audit.one("delete", "member", f"{name}/{dev}", admin_of, pid)
        assert c.delete(f"/projects/{name}/members/{mid}").status_code == 404
        audit.none()


def test_robot_changes_and_no_secret_in_any_entry(core: CoreProcess, unique: str) -> None:
    admin_of, dev = f"ra-{unique}", f"who-{unique}"
    for u in (admin_of, dev):
        add_user(core.database, u, PW)
    name = f"rob-{unique}"
    with as_(core, admin_of) as c:
        assert c.post("/projects", json={"project_name": name}).status_code == 201
    add_member(core.database, name, dev, 2)
    pid = project_id(core, name)
    body = {
        "name": "ci",
        "level": "project",
        "duration": -1,
        "permissions": [{"kind": "project", "namespace": name, "access": PUSH_PULL}],
    }
    audit = Audit(core)
    with as_(core, dev) as c:
        assert c.post("/robots", json=body).status_code == 403
        audit.none()
    secrets: list[str] = []
    with as_(core, admin_of) as c:
        r = c.post("/robots", json=body)
        assert r.status_code == 201, r.text
        rid, robot, secrets = r.json()["id"], r.json()["name"], [r.json()["secret"]]
        audit.one("create", "robot", robot, admin_of, pid)
        assert c.post("/robots", json=body).status_code == 409
        audit.none()
        assert c.put(f"/robots/{rid}", json={"description": "builds"}).status_code == 200
        audit.one("update", "robot", robot, admin_of, pid)
        assert c.put(f"/robots/{rid}", json={"disable": True}).status_code == 200
        disabled = audit.one("update", "robot", robot, admin_of, pid)
        assert "disable" in disabled["operation_description"]
        r = c.patch(f"/robots/{rid}", json={})
        assert r.status_code == 200
        secrets.append(r.json()["secret"])
        refreshed = audit.one("update", "robot", robot, admin_of, pid)
        assert "secret" in refreshed["operation_description"]
        assert c.patch(f"/robots/{rid}", json={"secret": "Chosen-Secret9"}).status_code == 200
        secrets.append("Chosen-Secret9")
        audit.one("update", "robot", robot, admin_of, pid)
        hashed = query(core.database, "SELECT secret_hash FROM robots WHERE id = $1", rid)[0]["secret_hash"]
        assert c.delete(f"/robots/{rid}").status_code == 200
        audit.one("delete", "robot", robot, admin_of, pid)
        assert c.delete(f"/robots/{rid}").status_code == 404
        audit.none()
    assert_nowhere(core, *secrets, hashed)


def test_user_group_changes(core: CoreProcess, unique: str) -> None:
    name = f"grp-{unique}"
    outsider = f"go-{unique}"
    add_user(core.database, outsider, PW)
    audit = Audit(core)
    with as_(core, outsider) as c:
        assert c.post("/usergroups", json={"group_name": name, "group_type": 2}).status_code == 403
        audit.none()
    with as_(core, "admin") as c:
        r = c.post("/usergroups", json={"group_name": name, "group_type": 2})
        assert r.status_code == 201, r.text
        gid = int(r.headers["Location"].rsplit("/", 1)[1])
        audit.one("create", "user-group", name, "admin")
        assert c.post("/usergroups", json={"group_name": name, "group_type": 2}).status_code == 409
        audit.none()
        assert c.put(f"/usergroups/{gid}", json={"group_name": f"{name}-2"}).status_code == 200
        audit.one("update", "user-group", f"{name}-2", "admin")
        assert c.delete(f"/usergroups/{gid}").status_code == 200
        audit.one("delete", "user-group", f"{name}-2", "admin")
        assert c.delete(f"/usergroups/{gid}").status_code == 404
        audit.none()


# --- who may read core's entries ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readers(core: CoreProcess) -> Iterator[dict[str, str]]:
    """Two projects, each created (and so administered) by its own user, with a member change in each; a
    developer of the first; an outsider; and user entries only the sysadmin may read."""
    names = {"a": "who-proj-a", "b": "who-proj-b", "padmin": "who-padmin", "bowner": "who-bowner"}
    names |= {"dev": "who-dev", "outsider": "who-outsider"}
    for key in ("padmin", "bowner", "dev", "outsider"):
        add_user(core.database, names[key], PW)
    for project, owner in (("a", "padmin"), ("b", "bowner")):
        with as_(core, names[owner]) as c:
            assert c.post("/projects", json={"project_name": names[project]}).status_code == 201
            member = {"role_id": 2, "member_user": {"username": names["dev"]}}
            assert c.post(f"/projects/{names[project]}/members", json=member).status_code == 201
    with as_(core, "admin") as c:
        body = {"username": "who-made", "password": PW, "email": "who-made@example.com", "realname": "m"}
        assert c.post("/users", json=body).status_code == 201
    yield names


def resources(c: httpx.Client, path: str) -> set[tuple[str, str]]:
    r = c.get(path, params={"q": "resource=~who-", "page_size": 100})
    assert r.status_code == 200, r.text
    return {(e["resource_type"], e["resource"]) for e in r.json()}


def test_sysadmin_reads_every_core_entry(core: CoreProcess, readers: dict[str, str]) -> None:
    a, b = readers["a"], readers["b"]
    expected = {
        ("project", a),
        ("project", b),
        ("member", f"{a}/who-dev"),
        ("member", f"{b}/who-dev"),
        ("user", "who-made"),
    }
    with as_(core, "admin") as c:
        assert resources(c, "/audit-logs") == expected
        assert resources(c, "/auditlog-exts") == expected
        assert resources(c, f"/projects/{a}/logs") == {("project", a), ("member", f"{a}/who-dev")}
        ext = c.get("/auditlog-exts", params={"q": "resource=who-made"}).json()
        assert set(ext[0]) == {
            "id",
            "username",
            "resource",
            "resource_type",
            "operation",
            "operation_description",
            "operation_result",
            "op_time",
        }
        assert (ext[0]["username"], ext[0]["operation"], ext[0]["operation_result"]) == ("admin", "create", True)


def test_project_admin_reads_its_projects_entries_only(core: CoreProcess, readers: dict[str, str]) -> None:
    a, b = readers["a"], readers["b"]
    mine = {("project", a), ("member", f"{a}/who-dev")}
    with as_(core, readers["padmin"]) as c:
        assert resources(c, "/audit-logs") == mine
        assert resources(c, "/auditlog-exts") == mine
        assert resources(c, f"/projects/{a}/logs") == mine
        assert resources(c, f"/projects/{a}/auditlog-exts") == mine
        assert c.get(f"/projects/{b}/logs").status_code == 404
        assert c.get(f"/projects/{b}/auditlog-exts").status_code == 404


def test_others_read_nothing(core: CoreProcess, readers: dict[str, str]) -> None:
    a = readers["a"]
    for who in ("dev", "outsider"):
        with as_(core, readers[who]) as c:
            assert resources(c, "/audit-logs") == set()
            assert resources(c, "/auditlog-exts") == set()
            assert c.get(f"/projects/{a}/logs").status_code == (403 if who == "dev" else 404)
            assert c.get(f"/projects/{a}/auditlog-exts").status_code == (403 if who == "dev" else 404)
    with as_(core, None) as c:
        assert c.get("/audit-logs").status_code == 401
        assert c.get("/auditlog-exts").status_code == 401
        assert c.get("/auditlog-exts/events").status_code == 401


def test_event_types(core: CoreProcess) -> None:
    with as_(core, "admin") as c:
        r = c.get("/auditlog-exts/events")
    assert r.status_code == 200
    types = [e["event_type"] for e in r.json()]
    assert all(set(e) == {"event_type"} for e in r.json())
    for expected in ("create_user", "login_user", "logout_user", "create_project", "create_robot", "create_artifact"):
        assert expected in types
    assert len(types) == len(set(types))
