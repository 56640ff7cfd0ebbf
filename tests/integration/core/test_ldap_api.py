"""/api/v2.0/ldap against a real core and a real slapd: ping (good, wrong password, unreachable, silent,
bad base DN), users and groups search (filter metacharacters match themselves), import, the db_auth
answers and who may call them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase, free_port
from tests.harness.slapd import PEOPLE, READER_DN, READER_PASSWORD, SlapdServer, group_dn, user_dn
from tests.harness.token import add_user, query
from tests.integration.ldap.conftest import start_slapd
from tests.integration.token.helpers import assert_error

pytestmark = pytest.mark.integration

PW = "pw-Secret1"
ADMIN = ("admin", "Harbor12345")
ALL_UIDS = ["alice", "bob", "carol", "dave", "nopass", "st*r"]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"), memberof=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ldap_core(
    directory: SlapdServer, module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CoreProcess]:
    proc = CoreProcess(
        tmp_path_factory.mktemp("ldapcore"),
        module_database,
        settings={"auth_mode": "ldap_auth", "ldap": directory.settings()},
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def ping(core: CoreProcess, body: dict[str, Any] | None = None) -> dict[str, Any]:
    with core.client(ADMIN) as c:
        r = c.post("/ldap/ping", json=body) if body is not None else c.post("/ldap/ping")
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    assert set(result) == {"success", "message"} and isinstance(result["message"], str)
    return result


def conf(server: SlapdServer, **overrides: Any) -> dict[str, Any]:
    return {
        "ldap_url": server.url,
        "ldap_search_dn": READER_DN,
        "ldap_search_password": READER_PASSWORD,
        "ldap_base_dn": PEOPLE,
        "ldap_uid": "uid",
        "ldap_scope": 2,
        "ldap_connection_timeout": 2,
        **overrides,
    }


# --- ping ----------------------------------------------------------------------------------------------


def test_ping_the_configured_directory(ldap_core: CoreProcess) -> None:
    assert ping(ldap_core)["success"] is True
    assert ping(ldap_core, {})["success"] is True


def test_ping_given_settings_in_db_auth_mode(core: CoreProcess, directory: SlapdServer) -> None:
    result = ping(core, conf(directory))
    assert result["success"] is True, result
    assert READER_PASSWORD not in result["message"]


def test_ping_with_a_wrong_password_fails_without_echoing_it(ldap_core: CoreProcess, directory: SlapdServer) -> None:
    result = ping(ldap_core, conf(directory, ldap_search_password="Wrong-Pw-123"))
    assert result["success"] is False
    assert "refused the search account" in result["message"]
    assert "Wrong-Pw-123" not in result["message"] and READER_PASSWORD not in result["message"]


def test_ping_a_missing_base_dn(ldap_core: CoreProcess, directory: SlapdServer) -> None:
    result = ping(ldap_core, conf(directory, ldap_base_dn="ou=nowhere,dc=berth,dc=test"))
    assert result["success"] is False
    assert "does not exist" in result["message"]


def test_ping_an_unreachable_host(ldap_core: CoreProcess) -> None:
    closed = free_port()  # nothing listens there any more
    result = ping(ldap_core, {"ldap_url": f"ldap://127.0.0.1:{closed}", "ldap_search_password": "Some-Pw-1"})
    assert result["success"] is False
    assert f"127.0.0.1:{closed}" in result["message"] and "Some-Pw-1" not in result["message"]


def test_ping_a_silent_server_times_out_quickly(ldap_core: CoreProcess, silent_server: int) -> None:
    started = time.monotonic()
    body = {
        "ldap_url": f"ldap://127.0.0.1:{silent_server}",
        "ldap_search_password": "Some-Pw-1",
        "ldap_connection_timeout": 1,
    }
    result = ping(ldap_core, body)
    assert result["success"] is False
    assert result["message"]
    # Bounded by the one-second timeout, not by the client's 30 (a generous margin for a busy machine).
    assert time.monotonic() - started < 15


def test_ping_another_host_never_gets_the_stored_password(ldap_core: CoreProcess, silent_server: int) -> None:
    result = ping(ldap_core, {"ldap_url": f"ldap://127.0.0.1:{silent_server}"})
    assert result["success"] is False
    assert "ldap_search_password is required" in result["message"]


def test_ping_with_an_invalid_url_or_filter(ldap_core: CoreProcess, directory: SlapdServer) -> None:
    for body in (conf(directory, ldap_url="http://x"), conf(directory, ldap_filter="(uid=")):
        result = ping(ldap_core, body)
        assert result["success"] is False and result["message"], body


@pytest.mark.parametrize(
    "body",
    [
        {"ldap_url": "ldap://x", "bogus": 1},
        {"ldap_scope": 7},
        {"ldap_scope": "2"},
        {"ldap_connection_timeout": "5"},
        {"ldap_connection_timeout": 0},
        {"ldap_connection_timeout": 3600},
        {"ldap_verify_cert": "yes"},
        {"ldap_url": 5},
        [],
    ],
)
def test_ping_refuses_bad_bodies(ldap_core: CoreProcess, body: Any) -> None:
    with ldap_core.client(ADMIN) as c:
        assert_error(c.post("/ldap/ping", json=body), 400, "BAD_REQUEST")


def test_ping_refuses_large_bodies(ldap_core: CoreProcess) -> None:
    big = b'{"ldap_url": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    with ldap_core.client(ADMIN) as c:
        r = c.post("/ldap/ping", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "PAYLOAD_TOO_LARGE"


# --- search --------------------------------------------------------------------------------------------


def search_users(core: CoreProcess, username: str) -> list[str]:
    with core.client(ADMIN) as c:
        r = c.get("/ldap/users/search", params={"username": username})
    assert r.status_code == 200, r.text
    return sorted(u["username"] for u in r.json())


def test_search_users(ldap_core: CoreProcess) -> None:
    with ldap_core.client(ADMIN) as c:
        r = c.get("/ldap/users/search", params={"username": "ali"})
    assert r.json() == [{"username": "alice", "realname": "alice Example", "email": "alice@berth.test"}]
    assert search_users(ldap_core, "") == ALL_UIDS
    assert search_users(ldap_core, "o") == ["bob", "carol", "nopass"]


@pytest.mark.parametrize(
    ("query_text", "expected"),
    [
        ("*", ["st*r"]),  # a star is a star: only the name that holds one
        ("*)(uid=*", []),
        ("alice)(uid=*", []),
        ("*)(|(objectClass=*", []),
        ("(", []),
        (")", []),
        ("\\2a", []),
        ("\\", []),
        ("st*", ["st*r"]),
    ],
)
def test_search_users_takes_filter_metacharacters_literally(
    ldap_core: CoreProcess, query_text: str, expected: list[str]
) -> None:
    assert search_users(ldap_core, query_text) == expected


def test_search_groups(ldap_core: CoreProcess) -> None:
    with ldap_core.client(ADMIN) as c:
        by_name = c.get("/ldap/groups/search", params={"groupname": "dev"})
        by_dn = c.get("/ldap/groups/search", params={"groupdn": group_dn("ops")})
        everything = c.get("/ldap/groups/search")
        assert_error(c.get("/ldap/groups/search", params={"groupdn": "not a dn"}), 400, "BAD_REQUEST")
        assert_error(c.get("/ldap/groups/search", params={"groupdn": user_dn("alice")}), 404, "NOT_FOUND")
        for text in ("*", "*)(cn=*", "dev*", ")(|(cn=*"):
            assert_error(c.get("/ldap/groups/search", params={"groupname": text}), 404, "NOT_FOUND")
        assert_error(
            c.get("/ldap/groups/search", params={"groupdn": "cn=*,ou=groups,dc=berth,dc=test"}), 404, "NOT_FOUND"
        )
    assert by_name.json() == [{"group_name": "devs", "group_type": 1, "ldap_group_dn": group_dn("devs")}]
    assert by_dn.json() == [{"group_name": "ops", "group_type": 1, "ldap_group_dn": group_dn("ops")}]
    assert sorted(g["group_name"] for g in everything.json()) == ["devs", "ops"]


# --- import --------------------------------------------------------------------------------------------


def test_import_onboards_users_and_reports_failures(ldap_core: CoreProcess) -> None:
    db = ldap_core.database
    add_user(db, "dave", PW)  # a local account of a directory name: never taken over
    with ldap_core.client(ADMIN) as c:
        r = c.post("/ldap/users/import", json={"ldap_uid_list": ["bob", "nobody", "", "*", "dave"]})
        assert r.status_code == 404, r.text
        assert r.json() == [
            {"uid": "nobody", "error": "unknown_user"},
            {"uid": "", "error": "empty_uid"},
            {"uid": "*", "error": "unknown_user"},
            {"uid": "dave", "error": "failed to import user: dave"},
        ]
        (bob,) = query(db, "SELECT id, auth_source, ldap_dn, email FROM users WHERE username = 'bob'")
        assert (bob["auth_source"], bob["ldap_dn"], bob["email"]) == ("ldap", user_dn("bob"), "bob@berth.test")
        # Imported as a login would be: with the user's LDAP groups.
        groups = query(
            db,
            "SELECT g.ldap_dn FROM user_group_members m JOIN user_groups g ON g.id = m.group_id WHERE m.user_id = $1",
            bob["id"],
        )
        assert [g["ldap_dn"] for g in groups] == [group_dn("devs")]
        (dave,) = query(db, "SELECT auth_source FROM users WHERE username = 'dave'")
        assert dave["auth_source"] == "db"
        # Importing again (or someone already onboarded) is fine.
        assert c.post("/ldap/users/import", json={"ldap_uid_list": ["bob", "carol"]}).status_code == 200
        assert c.post("/ldap/users/import", json={"ldap_uid_list": []}).status_code == 200
    assert len(query(db, "SELECT 1 FROM users WHERE username IN ('bob', 'carol')")) == 2


@pytest.mark.parametrize(
    "body", [{}, {"ldap_uid_list": "bob"}, {"ldap_uid_list": [1]}, {"ldap_uid_list": ["bob"], "more": 1}]
)
def test_import_refuses_bad_bodies(ldap_core: CoreProcess, body: dict[str, Any]) -> None:
    with ldap_core.client(ADMIN) as c:
        assert_error(c.post("/ldap/users/import", json=body), 400, "BAD_REQUEST")


# --- modes, permissions, an unavailable directory -------------------------------------------------------


def test_db_auth_mode_answers_400_for_search_and_import(core: CoreProcess) -> None:
    with core.client(ADMIN) as c:
        for r in (
            c.get("/ldap/users/search", params={"username": "a"}),
            c.get("/ldap/groups/search", params={"groupname": "a"}),
            c.post("/ldap/users/import", json={"ldap_uid_list": ["alice"]}),
        ):
            assert "ldap_auth" in assert_error(r, 400, "BAD_REQUEST")


@pytest.mark.parametrize("who", ["anonymous", "plain"])
def test_only_the_sysadmin_calls_ldap_endpoints(core: CoreProcess, directory: SlapdServer, who: str) -> None:
    if who == "plain":
        add_user(core.database, f"ldap-{who}", PW)
    client = core.client() if who == "anonymous" else core.client((f"ldap-{who}", PW))
    with client as c:
        answers = [
            c.post("/ldap/ping", json=conf(directory)),
            c.get("/ldap/users/search", params={"username": "a"}),
            c.post("/ldap/users/import", json={"ldap_uid_list": ["alice"]}),
            c.get("/ldap/groups/search", params={"groupname": "a"}),
        ]
    for r in answers:
        assert_error(r, 401 if who == "anonymous" else 403, "UNAUTHORIZED" if who == "anonymous" else "FORBIDDEN")
    assert not query(core.database, "SELECT 1 FROM users WHERE username = 'alice'")


def test_an_unavailable_directory_is_a_503_not_a_500(
    module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory, directory: SlapdServer
) -> None:
    settings = {"auth_mode": "ldap_auth", "ldap": directory.settings(url=f"ldap://127.0.0.1:{free_port()}", timeout=1)}
    proc = CoreProcess(tmp_path_factory.mktemp("downcore"), module_database, settings=settings)
    proc.start()
    try:
        with proc.client(ADMIN) as c:
            for r in (
                c.get("/ldap/users/search", params={"username": "a"}),
                c.get("/ldap/groups/search", params={"groupname": "a"}),
                c.post("/ldap/users/import", json={"ldap_uid_list": ["alice"]}),
                c.post("/usergroups", json={"group_type": 1, "ldap_group_dn": group_dn("devs")}),
            ):
                assert_error(r, 503, "SERVICE_UNAVAILABLE")
            result = c.post("/ldap/ping").json()
        assert result["success"] is False and READER_PASSWORD not in result["message"]
    finally:
        proc.stop()


def test_callers_are_checked_before_their_bodies(ldap_core: CoreProcess) -> None:
    with httpx.Client(base_url=ldap_core.api, timeout=30) as c:
        for path in ("/ldap/ping", "/ldap/users/import", "/usergroups"):
            r = c.post(path, content=b"{", headers={"Content-Type": "application/json"})
            assert_error(r, 401, "UNAUTHORIZED")
