"""The authentication keys of /api/v2.0/configurations (`auth_mode`, `ldap_*`, `robot_name_prefix`) against a
real core, a real token service and a real slapd on one database: a change made through core's PUT is
applied by core's Basic auth and by the token service within seconds without a restart, the LDAP search
password is never shown nor audited nor logged, `auth_mode` changes only while the admin is the only
account, and bad values are a 400 naming the key with nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase
from tests.harness.slapd import GROUPS, PEOPLE, READER_DN, READER_PASSWORD, SlapdServer, group_dn
from tests.harness.token import TokenServiceProcess, add_user
from tests.harness.waiting import eventually
from tests.integration.ldap.conftest import start_slapd

pytestmark = pytest.mark.integration
ADMIN = ("admin", "Harbor12345")
PW = "Config-Passw0rd"
SERVICE = "berth-registry"
LDAP_DEFAULTS: dict[str, Any] = {
    "auth_mode": "db_auth",
    "ldap_url": "",
    "ldap_search_dn": "",
    "ldap_base_dn": "",
    "ldap_filter": "",
    "ldap_uid": "uid",
    "ldap_scope": 2,
    "ldap_timeout": 5,
    "ldap_verify_cert": True,
    "ldap_group_base_dn": "",
    "ldap_group_search_filter": "",
    "ldap_group_attribute_name": "cn",
    "ldap_group_search_scope": 2,
    "ldap_group_admin_dn": "",
    "ldap_group_membership_attribute": "memberOf",
    "robot_name_prefix": "robot$",
}


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"), memberof=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def services(
    module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CoreProcess, TokenServiceProcess]]:
    """Both in db_auth with berth.yml's empty ldap: section: everything LDAP comes through PUT."""
    core = CoreProcess(tmp_path_factory.mktemp("core"), module_database)
    token = TokenServiceProcess(tmp_path_factory.mktemp("token"), module_database)
    core.start()
    try:
        token.start()
        try:
            yield core, token
        finally:
            token.stop()
    finally:
        core.stop()


@pytest.fixture(autouse=True)
def restored(services: tuple[CoreProcess, TokenServiceProcess]) -> Iterator[None]:
    yield
    core, _ = services
    with core.client(ADMIN) as c:
        # Accounts made by a test go first: auth_mode changes only while the admin is alone.
        for user in c.get("/users", params={"page_size": 100}).json():
            if user["user_id"] != 1:
                assert c.delete(f"/users/{user['user_id']}").status_code == 200
        r = c.put("/configurations", json={**LDAP_DEFAULTS, "ldap_search_password": ""})
        assert r.status_code == 200, r.text


def values(core: CoreProcess) -> dict[str, Any]:
    with core.client(ADMIN) as c:
        r = c.get("/configurations")
        assert r.status_code == 200, r.text
        return {k: v["value"] for k, v in r.json().items()}


def put(core: CoreProcess, body: dict[str, Any]) -> httpx.Response:
    with core.client(ADMIN) as c:
        return c.put("/configurations", json=body)


def ldap_keys(server: SlapdServer) -> dict[str, Any]:
    return {
        "ldap_url": server.url,
        "ldap_search_dn": READER_DN,
        "ldap_search_password": READER_PASSWORD,
        "ldap_base_dn": PEOPLE,
        "ldap_filter": "(objectClass=inetOrgPerson)",
        "ldap_uid": "uid",
        "ldap_scope": 2,
        "ldap_timeout": 3,
        "ldap_group_base_dn": GROUPS,
        "ldap_group_search_filter": "(objectClass=groupOfNames)",
    }


def token_status(token: TokenServiceProcess, auth: tuple[str, str]) -> int:
    r = httpx.get(token.token_url(), params={"service": SERVICE}, auth=auth, timeout=30)
    return r.status_code


def core_status(core: CoreProcess, auth: tuple[str, str]) -> int:
    with core.client(auth) as c:
        return c.get("/projects").status_code


def test_the_ldap_keys_have_berths_defaults_and_the_password_is_never_shown(
    services: tuple[CoreProcess, TokenServiceProcess],
) -> None:
    core, _ = services
    with core.client(ADMIN) as c:
        body = c.get("/configurations").json()
    assert {k: body[k]["value"] for k in LDAP_DEFAULTS} == LDAP_DEFAULTS
    assert "ldap_search_password" not in body
    assert body["auth_mode"]["editable"] is True


def test_the_search_password_is_in_no_response_audit_entry_or_log_line(
    services: tuple[CoreProcess, TokenServiceProcess],
) -> None:
    core, token = services
    secret = f"never-shown-{uuid.uuid4().hex}"
    assert put(core, {"ldap_search_password": secret, "ldap_search_dn": READER_DN}).status_code == 200
    with core.client(ADMIN) as c:
        shown = c.get("/configurations").text
        entries = c.get("/audit-logs", params={"q": "resource_type=configuration", "page_size": 5})
        ext = c.get("/auditlog-exts", params={"q": "resource_type=configuration", "page_size": 5})
    assert secret not in shown and "ldap_search_password" not in shown
    assert entries.status_code == 200 and ext.status_code == 200
    assert entries.json()[0]["resource"] == "ldap_search_dn,ldap_search_password"
    assert secret not in entries.text and secret not in ext.text
    assert "ldap_search_password (changed)" in ext.text
    # Both processes applied it (they log the change by key name), neither wrote the value.
    eventually(lambda: "ldap_search_password" in token.logs(), "the token service reads the change")
    assert secret not in core.logs() and secret not in token.logs()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"auth_mode": "oidc_auth"}, "auth_mode"),
        ({"auth_mode": 1}, "auth_mode"),
        ({"ldap_url": "http://ldap.example.com"}, "ldap_url"),
        ({"ldap_url": "ldap://"}, "ldap_url"),
        ({"ldap_url": "ldap://host:99999"}, "ldap_url"),
        ({"ldap_url": "not a url"}, "ldap_url"),
        ({"ldap_url": 389}, "ldap_url"),
        ({"ldap_search_dn": "not a dn"}, "ldap_search_dn"),
        ({"ldap_search_password": None}, "ldap_search_password"),
        ({"ldap_base_dn": "dc=berth,,"}, "ldap_base_dn"),
        ({"ldap_filter": "(&(uid=x)"}, "ldap_filter"),
        ({"ldap_uid": ""}, "ldap_uid"),
        ({"ldap_uid": "u id"}, "ldap_uid"),
        ({"ldap_scope": 3}, "ldap_scope"),
        ({"ldap_scope": "2"}, "ldap_scope"),
        ({"ldap_timeout": 0}, "ldap_timeout"),
        ({"ldap_timeout": True}, "ldap_timeout"),
        ({"ldap_verify_cert": "yes"}, "ldap_verify_cert"),
        ({"ldap_group_base_dn": "ou"}, "ldap_group_base_dn"),
        ({"ldap_group_search_filter": "((x"}, "ldap_group_search_filter"),
        ({"ldap_group_attribute_name": "c n"}, "ldap_group_attribute_name"),
        ({"ldap_group_search_scope": -1}, "ldap_group_search_scope"),
        ({"ldap_group_admin_dn": "admins"}, "ldap_group_admin_dn"),
        ({"ldap_group_membership_attribute": "member of"}, "ldap_group_membership_attribute"),
        ({"robot_name_prefix": ""}, "robot_name_prefix"),
        ({"robot_name_prefix": "ro:bot"}, "robot_name_prefix"),
        ({"robot_name_prefix": "a b"}, "robot_name_prefix"),
        ({"robot_name_prefix": "x" * 65}, "robot_name_prefix"),
        # One bad key among good ones: nothing at all is stored.
        ({"ldap_url": "ldap://ok.example.com", "ldap_scope": 7}, "ldap_scope"),
    ],
)
def test_bad_values_are_a_400_naming_the_key_and_nothing_is_stored(
    services: tuple[CoreProcess, TokenServiceProcess], body: dict[str, Any], named: str
) -> None:
    core, _ = services
    r = put(core, body)
    assert r.status_code == 400, r.text
    assert named in r.json()["errors"][0]["message"]
    found = values(core)
    assert {k: found[k] for k in LDAP_DEFAULTS} == LDAP_DEFAULTS


def test_auth_mode_changes_only_while_the_admin_is_the_only_account(
    services: tuple[CoreProcess, TokenServiceProcess],
) -> None:
    core, _ = services
    user = add_user(core.database, f"blocker-{uuid.uuid4().hex[:6]}", PW)
    with core.client(ADMIN) as c:
        assert c.get("/configurations").json()["auth_mode"]["editable"] is False
        r = c.put("/configurations", json={"auth_mode": "ldap_auth", "banner_message": "not stored either"})
        assert r.status_code == 400, r.text
        assert "auth_mode" in r.json()["errors"][0]["message"]
        assert values(core)["auth_mode"] == "db_auth" and values(core)["banner_message"] == ""
        assert c.delete(f"/users/{user.id}").status_code == 200
        assert c.get("/configurations").json()["auth_mode"]["editable"] is True


def test_switching_to_ldap_and_back_applies_to_core_and_the_token_service_without_a_restart(
    services: tuple[CoreProcess, TokenServiceProcess], directory: SlapdServer
) -> None:
    core, token = services
    alice = ("alice", "alice-pw")
    core_pid, token_pid = core.pid, token.pid
    assert token_status(token, alice) == 401 and core_status(core, alice) == 401
    r = put(core, {**ldap_keys(directory), "auth_mode": "ldap_auth"})
    assert r.status_code == 200, r.text
    eventually(lambda: token_status(token, alice) == 200, "the token service accepts a directory user")
    eventually(lambda: core_status(core, alice) == 200, "core's Basic auth accepts a directory user")
    with core.client() as anonymous:
        assert anonymous.get("/systeminfo").json()["auth_mode"] == "ldap_auth"
    with core.client(ADMIN) as c:
        # The ping without a body tests the stored configuration, and the usergroups API searches it.
        ping = c.post("/ldap/ping")
        assert ping.status_code == 200 and ping.json()["success"] is True, ping.text
        found = c.get("/ldap/users/search", params={"username": "bob"})
        assert found.status_code == 200 and [u["username"] for u in found.json()] == ["bob"]
        # The admin still logs in from the database, and a wrong directory password is refused.
        assert core_status(core, ADMIN) == 200
        assert core_status(core, ("alice", "wrong")) == 401
        # alice was onboarded: the mode cannot change back while her account exists.
        onboarded = next(u for u in c.get("/users").json() if u["username"] == "alice")
        assert put(core, {"auth_mode": "db_auth"}).status_code == 400
        assert c.delete(f"/users/{onboarded['user_id']}").status_code == 200
    assert put(core, {"auth_mode": "db_auth"}).status_code == 200
    eventually(lambda: token_status(token, alice) == 401, "the token service refuses the directory user again")
    eventually(lambda: core_status(core, alice) == 401, "core refuses the directory user again")
    assert (core.pid, token.pid) == (core_pid, token_pid), "no restart"


def test_members_of_the_admin_group_are_system_administrators(
    services: tuple[CoreProcess, TokenServiceProcess], directory: SlapdServer
) -> None:
    core, _ = services
    # Each test logs in with users of its own: a deleted account never comes back (its name stays taken).
    carol, dave = ("carol", "carol-pw"), ("dave", "dave-pw")
    body = {**ldap_keys(directory), "auth_mode": "ldap_auth", "ldap_group_admin_dn": group_dn("ops")}
    assert put(core, body).status_code == 200
    with core.client(carol) as c:
        eventually(lambda: c.get("/configurations").status_code == 200, "carol (in ops) is a sysadmin")
    with core.client(dave) as c:
        assert c.get("/configurations").status_code == 403


def test_a_changed_ldap_url_applies_at_once(
    services: tuple[CoreProcess, TokenServiceProcess], directory: SlapdServer
) -> None:
    core, token = services
    assert put(core, {**ldap_keys(directory), "auth_mode": "ldap_auth"}).status_code == 200
    eventually(lambda: token_status(token, ("bob", "bob-pw")) == 200, "the token service asks the directory")
    # A directory that does not answer: a 503 naming it, in both, while the admin keeps working.
    with core.client(ADMIN) as c:
        bob = next(u for u in c.get("/users").json() if u["username"] == "bob")
        assert c.delete(f"/users/{bob['user_id']}").status_code == 200
    assert put(core, {"ldap_url": "ldap://127.0.0.1:1"}).status_code == 200
    eventually(lambda: token_status(token, ("bob", "bob-pw")) == 503, "the token service asks the new url")
    eventually(lambda: core_status(core, ("bob", "bob-pw")) == 503, "core asks the new url")
    assert core_status(core, ADMIN) == 200 and token_status(token, ADMIN) == 200


def test_robots_keep_their_prefix_when_robot_name_prefix_changes(
    services: tuple[CoreProcess, TokenServiceProcess],
) -> None:
    core, token = services
    unique = uuid.uuid4().hex[:6]

    def robot(name: str) -> tuple[str, str]:
        body = {
            "name": name,
            "level": "system",
            "duration": -1,
            "permissions": [
                {"kind": "system", "namespace": "/", "access": [{"resource": "project", "action": "list"}]}
            ],
        }
        with core.client(ADMIN) as c:
            r = c.post("/robots", json=body)
            assert r.status_code == 201, r.text
            return r.json()["name"], r.json()["secret"]

    old = robot(f"old-{unique}")
    assert old[0] == f"robot$old-{unique}"
    assert put(core, {"robot_name_prefix": "svc-"}).status_code == 200
    new = robot(f"new-{unique}")
    assert new[0] == f"svc-new-{unique}"
    for account in (old, new):
        eventually(lambda a=account: token_status(token, a) == 200, f"the token service knows {account[0]}")
        assert core_status(core, account) == 200
    assert token_status(token, (new[0], "wrong")) == 401
    # Back to the default: robots named with svc- keep working.
    assert put(core, {"robot_name_prefix": "robot$"}).status_code == 200
    eventually(lambda: values(core)["robot_name_prefix"] == "robot$", "core reads the prefix")
    for account in (old, new):
        assert token_status(token, account) == 200 and core_status(core, account) == 200
