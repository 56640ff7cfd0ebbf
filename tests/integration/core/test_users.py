"""/api/v2.0/users: happy paths, every refusal, and the rules that keep accounts safe, against real
core processes (and a real token service where a login has to be checked)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase
from tests.harness.token import TokenServiceProcess, query

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PASSWORD = "Passw0rd-x"
SERVICE = "berth-registry"


def errors_of(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"errors"} and {"code", "message"} <= set(body["errors"][0])
    return str(body["errors"][0]["code"])


@pytest.fixture(scope="module")
def open_core(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    """A second core on the same database, with self-registration on."""
    proc = CoreProcess(tmp_path_factory.mktemp("open-core"), module_database, settings={"self_registration": True})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def create(core: CoreProcess, name: str, auth: tuple[str, str] | None = ADMIN, **fields: object) -> httpx.Response:
    body = {"username": name, "password": PASSWORD, "email": f"{name}@example.com", "realname": name, **fields}
    with core.client(auth) as c:
        return c.post("/users", json=body)


def new_user(core: CoreProcess, name: str) -> int:
    r = create(core, name)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def token_status(token_server: TokenServiceProcess, auth: tuple[str, str], scope: str) -> httpx.Response:
    return httpx.get(token_server.token_url(), params={"service": SERVICE, "scope": scope}, auth=auth, timeout=30)


def test_admin_creates_reads_lists_updates_and_deletes(core: CoreProcess, unique: str) -> None:
    name = f"ann-{unique}"
    r = create(core, name, comment="hi", unknown_field=1)
    assert r.status_code == 201 and r.headers["Location"].startswith("/api/v2.0/users/")
    uid = int(r.headers["Location"].rsplit("/", 1)[1])
    with core.client(ADMIN) as c:
        body = c.get(f"/users/{uid}").json()
        assert body["username"] == name and body["email"] == f"{name}@example.com" and body["comment"] == "hi"
        assert body["sysadmin_flag"] is False and body["creation_time"].endswith("Z")
        assert not {"password", "password_hash", "salt"} & set(body)
        for i in range(3):
            new_user(core, f"ann-{unique}-{i}")
        r = c.get("/users", params={"q": f"username=~ann-{unique}", "sort": "-username", "page_size": 2})
        assert r.status_code == 200 and r.headers["X-Total-Count"] == "4" and 'rel="next"' in r.headers["Link"]
        names = [u["username"] for u in r.json()]
        assert names == [f"ann-{unique}-2", f"ann-{unique}-1"]
        assert all("password" not in k and "hash" not in k for u in r.json() for k in u)
        r = c.get("/users", params={"q": f"email=~{name}@", "sort": "creation_time"})
        assert [u["username"] for u in r.json()] == [name]
        assert c.get("/users", params={"q": f"username={name}"}).json()[0]["user_id"] == uid
        r = c.put(f"/users/{uid}", json={"email": f"new-{name}@example.com", "realname": "Ann", "comment": "x"})
        assert r.status_code == 200
        body = c.get(f"/users/{uid}").json()
        assert (body["email"], body["realname"], body["comment"]) == (f"new-{name}@example.com", "Ann", "x")
        assert c.delete(f"/users/{uid}").status_code == 200
        assert c.get(f"/users/{uid}").status_code == 404
        assert c.delete(f"/users/{uid}").status_code == 404
        assert c.get("/users", params={"q": f"username={name}"}).json() == []
    # The name stays taken: a new account cannot silently inherit it.
    assert create(core, name, email=f"again-{name}@example.com").status_code == 409


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"username": ""}, 400),
        ({"username": "a,b"}, 400),
        ({"username": "a~b"}, 400),
        ({"username": "a#b"}, 400),
        ({"username": "a$b"}, 400),
        ({"username": "a%b"}, 400),
        ({"username": "a:b"}, 400),
        ({"username": "x" * 256}, 400),
        ({"password": "Short1A"}, 400),
        ({"password": "alllowercase1"}, 400),
        ({"password": "ALLUPPERCASE1"}, 400),
        ({"password": "NoDigitsHere"}, 400),
        ({"password": "A1" + "a" * 127}, 400),
        ({"password": None}, 400),
        ({"username": None}, 400),
        ({"email": "not-an-email"}, 400),
        ({"realname": "a%b"}, 400),
        ({"comment": "c" * 31}, 400),
        ({"username": 5}, 400),
        ({"sysadmin_flag": "yes"}, 400),
    ],
)
def test_create_refusals(core: CoreProcess, unique: str, fields: dict[str, object], status: int) -> None:
    r = create(core, f"bad-{unique}", **fields)
    assert r.status_code == status, r.text
    assert errors_of(r) == "BAD_REQUEST"


def test_create_conflicts_and_who_may_create(core: CoreProcess, unique: str) -> None:
    name = f"dup-{unique}"
    new_user(core, name)
    assert create(core, name, email=f"other-{unique}@example.com").status_code == 409
    r = create(core, f"dup2-{unique}", email=f"{name}@example.com")
    assert r.status_code == 409 and errors_of(r) == "CONFLICT"
    # Without self-registration: anonymous callers are asked to log in, users are refused.
    r = create(core, f"anon-{unique}", auth=None)
    assert r.status_code == 401 and errors_of(r) == "UNAUTHORIZED"
    assert create(core, f"byuser-{unique}", auth=(name, PASSWORD)).status_code == 403
    # A 128-character password is within the policy.
    assert create(core, f"long-{unique}", password="A1" + "a" * 126).status_code == 201
    # A sysadmin may create an administrator.
    r = create(core, f"adm-{unique}", sysadmin_flag=True)
    assert r.status_code == 201
    with core.client(ADMIN) as c:
        assert c.get(r.headers["Location"].removeprefix("/api/v2.0")).json()["sysadmin_flag"] is True


def test_self_registration_never_creates_an_administrator(
    open_core: CoreProcess, token_server: TokenServiceProcess, unique: str
) -> None:
    r = create(open_core, f"evil-{unique}", auth=None, sysadmin_flag=True)
    assert r.status_code == 403 and errors_of(r) == "FORBIDDEN"
    assert query(open_core.database, "SELECT 1 FROM users WHERE username = $1", f"evil-{unique}") == []
    # Registering without the flag works, and the account is an ordinary one.
    name = f"self-{unique}"
    r = create(open_core, name, auth=None, sysadmin_flag=False)
    assert r.status_code == 201, r.text
    (row,) = query(open_core.database, "SELECT sysadmin FROM users WHERE username = $1", name)
    assert row["sysadmin"] is False
    # A logged-in non-admin may register others, never as administrators.
    assert create(open_core, f"evil2-{unique}", auth=(name, PASSWORD), sysadmin_flag=True).status_code == 403
    assert create(open_core, f"friend-{unique}", auth=(name, PASSWORD)).status_code == 201
    # The new account has no admin powers: no user list, no push to a project it is not a member of.
    with open_core.client((name, PASSWORD)) as c:
        assert c.get("/users").status_code == 403
        assert c.get("/users/current").json()["sysadmin_flag"] is False
    r = token_status(token_server, (name, PASSWORD), "repository:library/app:pull,push")
    assert r.status_code == 200
    (access,) = [a for a in _claims(r.json()["token"])["access"] if a["name"] == "library/app"]
    assert access["actions"] == ["pull"]
    r = token_status(token_server, ADMIN, "repository:library/app:pull,push")
    (access,) = [a for a in _claims(r.json()["token"])["access"] if a["name"] == "library/app"]
    assert sorted(access["actions"]) == ["pull", "push"]


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_a_plain_user_manages_only_itself(core: CoreProcess, unique: str) -> None:
    me, other = f"me-{unique}", f"other-{unique}"
    my_id, other_id = new_user(core, me), new_user(core, other)
    with core.client((me, PASSWORD)) as c:
        assert c.get("/users").status_code == 403
        assert c.get(f"/users/{my_id}").json()["username"] == me
        assert c.get(f"/users/{other_id}").status_code == 403
        assert c.get("/users/1").status_code == 403
        assert c.put(f"/users/{other_id}", json={"realname": "pwned"}).status_code == 403
        assert c.put(f"/users/{other_id}/password", json={"new_password": "Hijack3d-pw"}).status_code == 403
        assert c.put(f"/users/{other_id}/sysadmin", json={"sysadmin_flag": True}).status_code == 403
        assert c.put(f"/users/{my_id}/sysadmin", json={"sysadmin_flag": True}).status_code == 403
        assert c.delete(f"/users/{other_id}").status_code == 403
        assert c.put(f"/users/{my_id}", json={"realname": "Me", "email": ""}).status_code == 200
        body = c.get(f"/users/{my_id}").json()
        assert body["realname"] == "Me" and body["email"] == "" and body["sysadmin_flag"] is False
    (row,) = query(core.database, "SELECT realname, sysadmin FROM users WHERE id = $1", other_id)
    assert row["realname"] == other and row["sysadmin"] is False
    with core.client() as anon:
        for r in (anon.get("/users"), anon.get(f"/users/{my_id}"), anon.get("/users/search?username=me")):
            assert r.status_code == 401 and errors_of(r) == "UNAUTHORIZED"
        assert anon.put(f"/users/{my_id}", json={"realname": "x"}).status_code == 401


def test_profile_refusals(core: CoreProcess, unique: str) -> None:
    uid = new_user(core, f"prof-{unique}")
    taken = f"taken-{unique}"
    new_user(core, taken)
    with core.client(ADMIN) as c:
        assert c.put(f"/users/{uid}", json={"email": f"{taken}@example.com"}).status_code == 409
        assert c.put(f"/users/{uid}", json={"email": "nope"}).status_code == 400
        assert c.put(f"/users/{uid}", json={"comment": "c" * 31}).status_code == 400
        assert c.put(f"/users/{uid}", json=[1]).status_code == 400
        assert c.put("/users/999999", json={"realname": "x"}).status_code == 404


def test_password_changes(core: CoreProcess, unique: str) -> None:
    name = f"pw-{unique}"
    uid = new_user(core, name)
    with core.client((name, PASSWORD)) as c:
        r = c.put(f"/users/{uid}/password", json={"old_password": "Wr0ng-pass", "new_password": "N3w-password"})
        assert r.status_code == 403 and errors_of(r) == "FORBIDDEN"
        assert c.put(f"/users/{uid}/password", json={"new_password": "N3w-password"}).status_code == 403
        r = c.put(f"/users/{uid}/password", json={"old_password": PASSWORD, "new_password": "weak"})
        assert r.status_code == 400
        assert c.put(f"/users/{uid}/password", json={"old_password": PASSWORD}).status_code == 400
        r = c.put(f"/users/{uid}/password", json={"old_password": PASSWORD, "new_password": PASSWORD})
        assert r.status_code == 400
        r = c.put(f"/users/{uid}/password", json={"old_password": PASSWORD, "new_password": "N3w-password"})
        assert r.status_code == 200
    with core.client((name, PASSWORD)) as c:
        assert c.get("/users/current").status_code == 401
    with core.client((name, "N3w-password")) as c:
        assert c.get("/users/current").status_code == 200
    # A sysadmin resets someone else's password without the old one.
    with core.client(ADMIN) as c:
        assert c.put(f"/users/{uid}/password", json={"new_password": "Res3t-password"}).status_code == 200
        assert c.put(f"/users/{uid}/password", json={"new_password": "weakweak"}).status_code == 400
        assert c.put("/users/999999/password", json={"new_password": "Res3t-password"}).status_code == 404
        # Its own needs the old one, like anybody's.
        assert c.put("/users/1/password", json={"new_password": "Res3t-password"}).status_code == 403
    with core.client((name, "Res3t-password")) as c:
        assert c.get("/users/current").status_code == 200


def test_ldap_accounts_have_no_password_here(core: CoreProcess, unique: str) -> None:
    (row,) = query(
        core.database,
        "INSERT INTO users (username, auth_source, ldap_dn) VALUES ($1, 'ldap', $2) RETURNING id",
        f"dir-{unique}",
        f"uid=dir-{unique},dc=example,dc=com",
    )
    with core.client(ADMIN) as c:
        r = c.put(f"/users/{row['id']}/password", json={"new_password": "N3w-password"})
    assert r.status_code == 403 and errors_of(r) == "FORBIDDEN"


def test_sysadmin_flag(core: CoreProcess, unique: str) -> None:
    name = f"promo-{unique}"
    uid = new_user(core, name)
    with core.client(ADMIN) as c:
        assert c.put(f"/users/{uid}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
    with core.client((name, PASSWORD)) as c:
        assert c.get("/users").status_code == 200
        # Not even an administrator changes its own flag, nor the admin's.
        assert c.put(f"/users/{uid}/sysadmin", json={"sysadmin_flag": False}).status_code == 403
        assert c.put("/users/1/sysadmin", json={"sysadmin_flag": False}).status_code == 403
    with core.client(ADMIN) as c:
        assert c.put(f"/users/{uid}/sysadmin", json={}).status_code == 400
        assert c.put(f"/users/{uid}/sysadmin", json={"sysadmin_flag": "false"}).status_code == 400
        assert c.put("/users/1/sysadmin", json={"sysadmin_flag": False}).status_code == 403
        assert c.put("/users/999999/sysadmin", json={"sysadmin_flag": True}).status_code == 404
        assert c.put(f"/users/{uid}/sysadmin", json={"sysadmin_flag": False}).status_code == 200
    with core.client((name, PASSWORD)) as c:
        assert c.get("/users").status_code == 403


def test_delete_rules_and_a_deleted_user_cannot_log_in(
    core: CoreProcess, token_server: TokenServiceProcess, unique: str
) -> None:
    name = f"gone-{unique}"
    uid = new_user(core, name)
    assert token_status(token_server, (name, PASSWORD), "repository:library/app:pull").status_code == 200
    boss = f"boss-{unique}"
    boss_id = new_user(core, boss)
    with core.client(ADMIN) as c:
        assert c.put(f"/users/{boss_id}/sysadmin", json={"sysadmin_flag": True}).status_code == 200
        assert c.delete("/users/1").status_code == 403
    with core.client((boss, PASSWORD)) as c:
        assert c.delete(f"/users/{boss_id}").status_code == 403  # not yourself
        assert c.delete(f"/users/{uid}").status_code == 200
    r = token_status(token_server, (name, PASSWORD), "repository:library/app:pull")
    assert r.status_code == 401
    with core.client((name, PASSWORD)) as c:
        assert c.get("/users/current").status_code == 401
        assert c.get("/projects").status_code == 401
    (row,) = query(core.database, "SELECT deleted, username FROM users WHERE id = $1", uid)
    assert row["deleted"] is True and row["username"] == name


def test_search(core: CoreProcess, unique: str) -> None:
    new_user(core, f"find-{unique}-a")
    new_user(core, f"find-{unique}-b")
    searcher = f"searcher-{unique}"
    new_user(core, searcher)
    with core.client((searcher, PASSWORD)) as c:
        r = c.get("/users/search", params={"username": f"find-{unique}", "page_size": 1})
        assert r.status_code == 200 and r.headers["X-Total-Count"] == "2"
        assert r.json() == [{"user_id": r.json()[0]["user_id"], "username": f"find-{unique}-a"}]
        for pattern in ("%", "_", "\\", "%%", "' OR 1=1 --", "find_%"):
            r = c.get("/users/search", params={"username": pattern})
            assert r.status_code == 200 and r.json() == [], pattern
        assert c.get("/users/search").status_code == 400
        assert c.get("/users/search", params={"username": "a", "page_size": "101"}).status_code == 400
        assert c.get("/users/search", params={"username": "a\x00b"}).status_code == 400


def test_list_parameters_and_metacharacters(core: CoreProcess, unique: str) -> None:
    new_user(core, f"meta-{unique}")
    with core.client(ADMIN) as c:
        for q in ("username=~%", "username=~_", "username=~\\", "email=~%@%", "username=' OR 1=1 --"):
            r = c.get("/users", params={"q": q})
            assert r.status_code == 200 and r.json() == [], q
        for params in (
            {"q": "password=~a"},
            {"q": "password_hash=x"},
            {"q": "username=[a~b]"},
            {"sort": "password"},
            {"sort": "email"},
            {"page_size": "101"},
            {"page": "0"},
            {"q": "username=a\x00"},
        ):
            r = c.get("/users", params=params)
            assert r.status_code == 400 and errors_of(r) == "BAD_REQUEST", params


def test_ids(core: CoreProcess) -> None:
    with core.client(ADMIN) as c:
        r = c.get("/users/999999")
        assert r.status_code == 404 and errors_of(r) == "NOT_FOUND"
        for bad in ("abc", "-1", "1.5", "9" * 30):
            r = c.get(f"/users/{bad}")
            assert r.status_code == 400 and errors_of(r) == "BAD_REQUEST", bad
            assert c.delete(f"/users/{bad}").status_code == 400
        assert c.delete("/users/999999").status_code == 404
        assert c.get("/users/1").json()["username"] == "admin"


def test_ldap_auth_mode_refuses_user_creation(
    module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory, unique: str
) -> None:
    proc = CoreProcess(
        tmp_path_factory.mktemp("ldap-core"),
        module_database,
        settings={"auth_mode": "ldap_auth", "self_registration": True},
    )
    proc.start()
    try:
        for auth in (ADMIN, None):
            r = create(proc, f"local-{unique}", auth=auth)
            assert r.status_code == 403 and errors_of(r) == "FORBIDDEN"
    finally:
        proc.stop()
