"""LDAP logins through a real token service against a real slapd with the memberof overlay."""

from __future__ import annotations

import pytest

from services.common.rbac import Role
from tests.harness.plugin import TestDatabase
from tests.harness.slapd import SlapdServer, group_dn, user_dn
from tests.harness.token import TokenServiceProcess, add_group_role, add_project, add_user, query
from tests.integration.ldap.conftest import USERS, module_fixtures
from tests.integration.token.helpers import ADMIN, ask, assert_error, claims, granted

pytestmark = pytest.mark.integration

directory, token_service = module_fixtures(memberof=True)


def test_a_directory_login_gets_a_token_and_onboards_the_user(
    token_service: TokenServiceProcess, module_database: TestDatabase
) -> None:
    r = ask(token_service, "repository:library/app:pull", auth=("alice", USERS["alice"]))
    assert claims(r)["sub"] == "alice"
    assert granted(r) == {"library/app": ["pull"]}  # library is public
    (row,) = query(
        module_database,
        "SELECT auth_source, ldap_dn, email, realname, password_hash FROM users WHERE username = 'alice'",
    )
    assert dict(row) == {
        "auth_source": "ldap",
        "ldap_dn": user_dn("alice"),
        "email": "alice@berth.test",
        "realname": "alice Example",
        "password_hash": None,
    }
    # A second login finds the account instead of making another.
    assert ask(token_service, auth=("alice", USERS["alice"])).status_code == 200
    assert len(query(module_database, "SELECT 1 FROM users WHERE ldap_dn = $1", user_dn("alice"))) == 1


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong"),
        ("nobody", "whatever"),
        ("alice", ""),
        ("nopass", ""),  # an entry without a password: an empty one must not bind anonymously
    ],
)
def test_bad_credentials_are_refused(token_service: TokenServiceProcess, username: str, password: str) -> None:
    assert_error(ask(token_service, auth=(username, password)), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "username",
    [
        "*",
        "a*",
        "*e",
        ")(uid=*",
        "alice)(uid=*",
        "admin)(|(uid=*",
        "alice)(|(objectClass=*",
        "st*",
        "\\2a",
        "(uid=alice)",
    ],
)
def test_filter_metacharacters_in_names_grant_nothing(token_service: TokenServiceProcess, username: str) -> None:
    for password in (USERS["alice"], USERS["st*r"], "reader-secret"):
        r = ask(token_service, "repository:library/app:pull", auth=(username, password))
        assert_error(r, 401, "UNAUTHORIZED")


def test_a_name_with_a_star_matches_only_itself(token_service: TokenServiceProcess) -> None:
    assert claims(ask(token_service, auth=("st*r", USERS["st*r"])))["sub"] == "st*r"


def test_the_admin_still_logs_in_from_the_database(token_service: TokenServiceProcess) -> None:
    r = ask(token_service, "repository:library/app:pull,push", auth=ADMIN)
    assert claims(r)["sub"] == "admin"
    assert granted(r) == {"library/app": ["pull", "push"]}
    assert_error(ask(token_service, auth=("admin", "wrong")), 401, "UNAUTHORIZED")


def test_a_local_account_cannot_be_taken_over_from_the_directory(
    token_service: TokenServiceProcess, module_database: TestDatabase
) -> None:
    add_user(module_database, "dave", "local-pw")
    assert_error(ask(token_service, auth=("dave", USERS["dave"])), 401, "UNAUTHORIZED")
    # Nor does the local password work: with ldap_auth only the admin logs in from the database.
    assert_error(ask(token_service, auth=("dave", "local-pw")), 401, "UNAUTHORIZED")


def test_a_group_role_follows_the_directory_through_member_of(
    token_service: TokenServiceProcess, directory: SlapdServer, module_database: TestDatabase, unique: str
) -> None:
    project = f"mo{unique}"
    add_project(module_database, project)
    add_group_role(module_database, project, "devs", group_dn("devs"), Role.DEVELOPER)
    scope = f"repository:{project}/app:pull,push,delete"
    assert granted(ask(token_service, scope, auth=("bob", USERS["bob"]))) == {f"{project}/app": ["pull", "push"]}
    assert granted(ask(token_service, scope, auth=("carol", USERS["carol"]))) == {f"{project}/app": []}

    directory.remove_from_group("devs", "bob")
    try:
        assert granted(ask(token_service, scope, auth=("bob", USERS["bob"]))) == {f"{project}/app": []}
    finally:
        directory.add_to_group("devs", "bob")
    assert granted(ask(token_service, scope, auth=("bob", USERS["bob"]))) == {f"{project}/app": ["pull", "push"]}
    # The groups the directory listed were created as LDAP groups, once each.
    rows = query(module_database, "SELECT name, group_type FROM user_groups WHERE ldap_dn = $1", group_dn("devs"))
    assert [tuple(r) for r in rows] == [("devs", 1)]


def test_a_stopped_directory_is_a_clear_503_and_the_admin_still_works(
    token_service: TokenServiceProcess, directory: SlapdServer
) -> None:
    directory.stop()
    try:
        message = assert_error(ask(token_service, auth=("alice", USERS["alice"])), 503, "SERVICE_UNAVAILABLE")
        assert "directory" in message
        assert ask(token_service, auth=ADMIN).status_code == 200
    finally:
        directory.start()
    assert ask(token_service, auth=("alice", USERS["alice"])).status_code == 200
