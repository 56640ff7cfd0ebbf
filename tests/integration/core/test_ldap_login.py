"""LDAP users on core (`auth_mode: ldap_auth`) against a real core and a real slapd: Basic on the REST API
and /c/login authenticate directory users exactly as the token service does (onboarding at the first
use, LDAP group roles in projects), the admin stays a database account, and a directory that does not
answer is a 503 naming it while the admin keeps working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase
from tests.harness.slapd import SlapdServer, group_dn, user_dn
from tests.harness.token import query
from tests.integration.ldap.conftest import USERS, start_slapd
from tests.integration.token.helpers import assert_error

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PW = "Ldap-Passw0rd"
CSRF = "X-Harbor-CSRF-Token"


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"), memberof=True)
    try:
        yield server
    finally:
        server.stop()


def ldap_core(workdir: Path, database: TestDatabase, server: SlapdServer, **ldap: object) -> CoreProcess:
    proc = CoreProcess(workdir, database, settings={"auth_mode": "ldap_auth", "ldap": server.settings(**ldap)})
    proc.start()
    return proc


@pytest.fixture(scope="module")
def core(
    directory: SlapdServer, module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CoreProcess]:
    # The default credential cache (as deployed): a directory login is remembered for a while.
    proc = ldap_core(tmp_path_factory.mktemp("ldapcore"), module_database, directory)
    try:
        yield proc
    finally:
        proc.stop()


def browser(core: CoreProcess) -> httpx.Client:
    """A cookie-keeping client at the server's root (/c/login, /api/v2.0/...)."""
    return httpx.Client(base_url=core.url, timeout=30)


def login(c: httpx.Client, name: str, password: str) -> httpx.Response:
    return c.post("/c/login", data={"principal": name, "password": password})


def directory_user(directory: SlapdServer, unique: str, prefix: str = "u") -> str:
    """A directory user of its own, never seen by Berth yet."""
    name = f"{prefix}{unique}"
    directory.add_user(name, PW)
    return name


def account(core: CoreProcess, name: str) -> dict[str, object] | None:
    rows = query(core.database, "SELECT auth_source, ldap_dn, password_hash FROM users WHERE username = $1", name)
    return dict(rows[0]) if rows else None


def test_basic_onboards_a_directory_user_at_first_use(core: CoreProcess, directory: SlapdServer, unique: str) -> None:
    name = directory_user(directory, unique)
    assert account(core, name) is None
    with core.client((name, PW)) as c:
        r = c.get("/users/current")
        assert r.status_code == 200, r.text
        assert r.json()["username"] == name and r.json()["sysadmin_flag"] is False
        assert account(core, name) == {"auth_source": "ldap", "ldap_dn": user_dn(name), "password_hash": None}
        # A second use finds the account instead of making another.
        assert c.get("/users/current").status_code == 200
    assert len(query(core.database, "SELECT 1 FROM users WHERE ldap_dn = $1", user_dn(name))) == 1


def test_login_gives_a_directory_user_a_session(core: CoreProcess, directory: SlapdServer, unique: str) -> None:
    name = directory_user(directory, unique)
    with browser(core) as c:
        assert c.get("/api/v2.0/users/current").status_code == 401
        r = login(c, name, PW)
        assert r.status_code == 200, r.text
        assert "sid" in c.cookies
        r = c.get("/api/v2.0/users/current")
        assert r.status_code == 200 and r.json()["username"] == name
        # An unsafe request on the session, with its CSRF token: the session is a full login.
        token = c.get("/api/v2.0/users/current").headers[CSRF]
        r = c.post("/api/v2.0/projects", json={"project_name": f"ls-{unique}"}, headers={CSRF: token})
        assert r.status_code == 201, r.text
        owner = c.get(f"/api/v2.0/projects/ls-{unique}").json()["owner_name"]
        assert owner == name
        assert c.get("/c/log_out").status_code == 200
        assert c.get("/api/v2.0/users/current").status_code == 401
    assert account(core, name) == {"auth_source": "ldap", "ldap_dn": user_dn(name), "password_hash": None}


def test_a_directory_group_role_shows_its_private_project(
    core: CoreProcess, directory: SlapdServer, unique: str
) -> None:
    member = directory_user(directory, unique, "m")
    other = directory_user(directory, unique, "o")
    directory.add_group(f"gm{unique}", [member])
    directory.add_group(f"go{unique}", [other])
    mine, theirs = f"pm{unique}", f"po{unique}"
    with core.client(ADMIN) as c:
        for project, group in ((mine, f"gm{unique}"), (theirs, f"go{unique}")):
            r = c.post("/projects", json={"project_name": project, "metadata": {"public": "false"}})
            assert r.status_code == 201, r.text
            r = c.post("/usergroups", json={"group_type": 1, "ldap_group_dn": group_dn(group)})
            assert r.status_code == 201, r.text
            gid = int(r.headers["Location"].rsplit("/", 1)[1])
            r = c.post(f"/projects/{project}/members", json={"role_id": 2, "member_group": {"id": gid}})
            assert r.status_code == 201, r.text

    with core.client((member, PW)) as c:
        r = c.get("/projects", params={"page_size": 100})
        assert r.status_code == 200, r.text
        listed = [p["name"] for p in r.json()]
        assert mine in listed and theirs not in listed
        r = c.get(f"/projects/{mine}")
        assert r.status_code == 200, r.text
        assert r.json()["current_user_role_id"] == 2  # developer, through the group
        assert c.get(f"/projects/{theirs}").status_code == 404
    # The same through a UI session.
    with browser(core) as c:
        assert login(c, member, PW).status_code == 200
        listed = [p["name"] for p in c.get("/api/v2.0/projects", params={"page_size": 100}).json()]
        assert mine in listed and theirs not in listed
        assert c.get(f"/api/v2.0/projects/{theirs}").status_code == 404


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong"),
        ("alice", ""),
        ("nopass", ""),  # an entry without a password: an empty one must not bind anonymously
        ("nobody", "whatever"),
        ("*", USERS["alice"]),
        ("alice)(uid=*", USERS["alice"]),
    ],
)
def test_bad_credentials_are_401(core: CoreProcess, username: str, password: str) -> None:
    # Once right, so a wrong password is not refused merely because the account is unknown.
    with core.client(("alice", USERS["alice"])) as c:
        assert c.get("/users/current").status_code == 200
    with core.client((username, password)) as c:
        assert_error(c.get("/users/current"), 401, "UNAUTHORIZED")
    with browser(core) as c:
        r = login(c, username, password)
        # No Basic challenge on the login form's refusal (a browser would open its own dialog).
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED", r.text
        assert "sid" not in c.cookies


def test_the_admin_still_logs_in_from_the_database(core: CoreProcess) -> None:
    with core.client(ADMIN) as c:
        r = c.get("/users/current")
        assert r.status_code == 200 and r.json()["sysadmin_flag"] is True
    (admin,) = query(core.database, "SELECT auth_source FROM users WHERE username = 'admin'")
    assert admin["auth_source"] == "db"
    with browser(core) as c:
        assert login(c, *ADMIN).status_code == 200
        assert c.get("/api/v2.0/users/current").json()["username"] == "admin"
    # In ldap_auth mode only the admin's database password counts: a local account is nobody.
    with core.client(("admin", "wrong")) as c:
        assert_error(c.get("/users/current"), 401, "UNAUTHORIZED")


def test_a_stopped_directory_is_a_503_naming_it_and_the_admin_still_works(
    module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory, unique: str
) -> None:
    server = start_slapd(tmp_path_factory.mktemp("downslapd"), memberof=True)
    # No credential cache: every use asks the directory, so the outage shows at once.
    proc = ldap_core(tmp_path_factory.mktemp("downcore"), module_database, server, cache_seconds=0)
    try:
        name = directory_user(server, unique)
        with proc.client((name, PW)) as c:
            assert c.get("/users/current").status_code == 200  # onboarded while the directory is up
        server.stop()

        never_seen = f"n{unique}"  # not onboarded: the directory alone could tell
        for who in (name, never_seen):
            with proc.client((who, PW)) as c:
                message = assert_error(c.get("/users/current"), 503, "SERVICE_UNAVAILABLE")
                assert "directory" in message and f"127.0.0.1:{server.port}" in message, message
                assert PW not in message
            with browser(proc) as c:
                r = login(c, who, PW)
                message = assert_error(r, 503, "SERVICE_UNAVAILABLE")
                assert "directory" in message and f"127.0.0.1:{server.port}" in message, message
                assert "sid" not in c.cookies
        with proc.client(ADMIN) as c:
            assert c.get("/users/current").status_code == 200
        with browser(proc) as c:
            assert login(c, *ADMIN).status_code == 200
            assert c.get("/api/v2.0/users/current").json()["username"] == "admin"

        # Back up (same data, same port): the directory's users log in again.
        server.start()
        with proc.client((name, PW)) as c:
            assert c.get("/users/current").status_code == 200
    finally:
        proc.stop()
        server.stop()
