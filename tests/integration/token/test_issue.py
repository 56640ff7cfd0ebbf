"""GET /service/token against a real token service process and PostgreSQL: who gets what."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import httpx
import pytest

from services.common.auth.tokens import TokenVerifier
from tests.harness.plugin import TestDatabase
from tests.harness.token import (
    TokenServiceProcess,
    add_group_member,
    add_member,
    add_project,
    add_robot,
    add_user,
    query,
    set_password,
)
from tests.harness.waiting import eventually
from tests.integration.token.helpers import ADMIN, ISSUER, SERVICE, ask, assert_error, claims, granted

pytestmark = pytest.mark.integration

ALL = ["pull", "push", "delete", "*"]


# --- users and roles -----------------------------------------------------------------------------------


def test_admin_gets_every_action_it_asks_for(token_service: TokenServiceProcess) -> None:
    r = ask(token_service, "repository:library/app:pull,push,delete,*")
    assert r.status_code == 200
    r = ask(token_service, "repository:library/app:pull,push,delete,*", auth=ADMIN)
    assert granted(r) == {"library/app": ALL}
    assert claims(r)["sub"] == "admin"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (1, ["pull", "push", "delete", "*"]),  # projectAdmin
        (4, ["pull", "push", "delete", "*"]),  # maintainer
        (2, ["pull", "push"]),  # developer
        (3, ["pull"]),  # guest
        (5, ["pull"]),  # limitedGuest
    ],
)
def test_members_get_what_their_role_allows(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str, role: int, expected: list[str]
) -> None:
    project, user = f"p{unique}", f"u{unique}"
    add_project(module_database, project)
    add_project(module_database, f"{project}-other")
    add_user(module_database, user, "Secret-123")
    add_member(module_database, project, user, role)
    r = ask(
        token_service,
        f"repository:{project}/app:pull,push,delete,*",
        f"repository:{project}-other/app:pull",
        auth=(user, "Secret-123"),
    )
    assert granted(r) == {f"{project}/app": expected, f"{project}-other/app": []}
    assert claims(r)["sub"] == user


def test_a_role_through_a_group_counts(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    project, user = f"g{unique}", f"gu{unique}"
    add_project(module_database, project)
    add_user(module_database, user, "Secret-123")
    add_group_member(module_database, project, f"devs-{unique}", [user], 2)
    r = ask(token_service, f"repository:{project}/app:pull,push,delete", auth=(user, "Secret-123"))
    assert granted(r) == {f"{project}/app": ["pull", "push"]}


def test_a_user_who_is_no_member_gets_nothing_in_a_private_project_and_pull_in_a_public_one(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_project(module_database, f"priv{unique}")
    add_user(module_database, f"n{unique}", "Secret-123")
    r = ask(
        token_service,
        f"repository:priv{unique}/app:pull",
        "repository:library/app:pull,push",
        auth=(f"n{unique}", "Secret-123"),
    )
    assert granted(r) == {f"priv{unique}/app": [], "library/app": ["pull"]}


def test_anonymous_may_pull_from_public_projects_only(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_project(module_database, f"pub{unique}", public=True)
    add_project(module_database, f"priv{unique}")
    r = ask(
        token_service,
        "repository:library/app:pull,push,delete",
        f"repository:pub{unique}/a/b:pull,push",
        f"repository:priv{unique}/app:pull",
    )
    assert granted(r) == {"library/app": ["pull"], f"pub{unique}/a/b": ["pull"], f"priv{unique}/app": []}
    assert claims(r)["sub"] == ""


def test_nothing_is_granted_on_projects_that_do_not_exist(token_service: TokenServiceProcess, unique: str) -> None:
    r = ask(token_service, f"repository:nosuch{unique}/app:pull,push,delete,*", auth=ADMIN)
    assert granted(r) == {f"nosuch{unique}/app": []}


def test_catalog_is_for_the_sysadmin_only(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    assert granted(ask(token_service, "registry:catalog:*", auth=ADMIN)) == {"catalog": ["*"]}
    assert granted(ask(token_service, "registry:catalog:*")) == {"catalog": []}
    add_project(module_database, f"c{unique}")
    add_user(module_database, f"c{unique}", "Secret-123")
    add_member(module_database, f"c{unique}", f"c{unique}", 1)
    assert granted(ask(token_service, "registry:catalog:*", auth=(f"c{unique}", "Secret-123"))) == {"catalog": []}


def test_another_sysadmin_gets_everything_too(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_user(module_database, f"root{unique}", "Secret-123", sysadmin=True)
    r = ask(
        token_service,
        "repository:library/x:pull,push,delete,*",
        "registry:catalog:*",
        auth=(f"root{unique}", "Secret-123"),
    )
    assert granted(r) == {"library/x": ALL, "catalog": ["*"]}


def test_several_scope_parameters_and_space_separated_scopes(token_service: TokenServiceProcess) -> None:
    r = ask(
        token_service,
        "repository:library/a:pull",
        "repository:library/b:push repository:library/c:delete",
        "repository:library/a:push",
        auth=ADMIN,
    )
    assert granted(r) == {"library/a": ["pull", "push"], "library/b": ["push"], "library/c": ["delete"]}


def test_no_scope_is_a_token_without_access_as_docker_login_asks(token_service: TokenServiceProcess) -> None:
    r = ask(token_service, auth=ADMIN, params=[("service", SERVICE), ("account", "admin"), ("client_id", "docker")])
    assert claims(r)["access"] == []
    assert claims(r)["sub"] == "admin"


# --- credentials ---------------------------------------------------------------------------------------


def test_a_wrong_password_is_refused(token_service: TokenServiceProcess) -> None:
    r = ask(token_service, "repository:library/app:pull", auth=("admin", "wrong"))
    assert "invalid user name or password" in assert_error(r, 401, "UNAUTHORIZED")


def test_an_unknown_user_is_refused_like_a_wrong_password(token_service: TokenServiceProcess, unique: str) -> None:
    r = ask(token_service, "repository:library/app:pull", auth=(f"ghost{unique}", "x"))
    assert assert_error(r, 401, "UNAUTHORIZED") == "invalid user name or password"


def test_a_changed_password_is_effective_at_once_despite_the_cache(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    user = f"pw{unique}"
    add_user(module_database, user, "Old-123")
    assert ask(token_service, auth=(user, "Old-123")).status_code == 200
    assert ask(token_service, auth=(user, "Old-123")).status_code == 200  # now from the cache
    set_password(module_database, user, "New-456")
    eventually(lambda: ask(token_service, auth=(user, "Old-123")).status_code == 401, "the old password refused")
    assert ask(token_service, auth=(user, "New-456")).status_code == 200


def test_a_deleted_user_is_refused_at_once_despite_the_cache(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    user = f"del{unique}"
    add_user(module_database, user, "Secret-123")
    assert ask(token_service, auth=(user, "Secret-123")).status_code == 200
    query(module_database, "UPDATE users SET deleted = true WHERE username = $1", user)
    eventually(lambda: ask(token_service, auth=(user, "Secret-123")).status_code == 401, "the deleted user refused")
    assert_error(ask(token_service, auth=(user, "Secret-123")), 401, "UNAUTHORIZED")


def test_losing_a_membership_is_effective_at_once(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    project, user = f"m{unique}", f"m{unique}"
    add_project(module_database, project)
    add_user(module_database, user, "Secret-123")
    add_member(module_database, project, user, 2)
    assert granted(ask(token_service, f"repository:{project}/a:push", auth=(user, "Secret-123"))) == {
        f"{project}/a": ["push"]
    }
    query(
        module_database,
        "DELETE FROM project_members WHERE project_id = (SELECT id FROM projects WHERE name = $1)",
        project,
    )
    eventually(
        lambda: (
            granted(ask(token_service, f"repository:{project}/a:push", auth=(user, "Secret-123")))
            == {f"{project}/a": []}
        ),
        "push refused once the membership is gone",
    )


def test_lookups_come_from_memory_until_the_database_notifies_a_change(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    """Each token's lookup of the account and its roles is answered from memory: a change made with the
    triggers off (no notification) goes unseen, and the same change notified applies to the next tokens."""
    # Until the listener has LISTENed (its keep-alive is a SELECT 1 after that), nothing is kept in memory.
    eventually(
        lambda: query(
            module_database,
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'berth-token-access'"
            " AND (query LIKE 'LISTEN%' OR query = 'SELECT 1') AND datname = current_database()",
        ),
        "the token service listening for identity changes",
    )
    project, user = f"c{unique}", f"c{unique}"
    add_project(module_database, project)
    add_user(module_database, user, "Secret-123")
    add_member(module_database, project, user, 2)  # developer
    scope, auth = f"repository:{project}/a:pull,push", (user, "Secret-123")
    assert granted(ask(token_service, scope, auth=auth)) == {f"{project}/a": ["pull", "push"]}
    # The triggers off for this transaction only (a replica's session role): the row changes silently.
    query(
        module_database,
        "DO $$ BEGIN SET LOCAL session_replication_role = replica;"
        f" UPDATE project_members SET role = 3 WHERE project_id = (SELECT id FROM projects WHERE name = '{project}');"
        " END $$",
    )
    assert granted(ask(token_service, scope, auth=auth)) == {f"{project}/a": ["pull", "push"]}
    query(
        module_database,
        "UPDATE project_members SET role = 3 WHERE project_id = (SELECT id FROM projects WHERE name = $1)",
        project,
    )
    eventually(lambda: granted(ask(token_service, scope, auth=auth)) == {f"{project}/a": ["pull"]}, "guest's pull")


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ("Bearer abc.def.ghi", 401, "UNAUTHORIZED"),
        ("Basic !!!", 400, "INVALID_REQUEST"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), 400, "INVALID_REQUEST"),
        ("Basic " + base64.b64encode(b"\xff:x").decode(), 400, "INVALID_REQUEST"),
        ("Basic " + base64.b64encode(b":x").decode(), 401, "UNAUTHORIZED"),
        ("Basic " + base64.b64encode(b"ad\x00min:x").decode(), 401, "UNAUTHORIZED"),
        ("Basic", 400, "INVALID_REQUEST"),
    ],
)
def test_malformed_authorization_headers_are_refused_clearly(
    token_service: TokenServiceProcess, header: str, status: int, code: str
) -> None:
    assert_error(ask(token_service, "repository:library/a:pull", headers={"Authorization": header}), status, code)


def test_the_account_parameter_must_match_the_credentials(token_service: TokenServiceProcess) -> None:
    ok = ask(token_service, auth=ADMIN, params=[("service", SERVICE), ("account", "admin")])
    assert ok.status_code == 200
    r = ask(token_service, auth=ADMIN, params=[("service", SERVICE), ("account", "someone-else")])
    assert "does not match" in assert_error(r, 400, "INVALID_REQUEST")


# --- robots --------------------------------------------------------------------------------------------


def test_a_project_robot_gets_its_permissions_in_its_project_only(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    project = f"r{unique}"
    add_project(module_database, project)
    add_project(module_database, f"{project}-b")
    robot = add_robot(
        module_database,
        "ci",
        "Robot-Secret-1",
        project=project,
        access=[("repository", "pull"), ("repository", "push")],
    )
    assert robot.name == f"robot${project}+ci"
    r = ask(
        token_service,
        f"repository:{project}/app:pull,push,delete",
        f"repository:{project}-b/app:pull",
        "registry:catalog:*",
        auth=(robot.name, "Robot-Secret-1"),
    )
    assert granted(r) == {f"{project}/app": ["pull", "push"], f"{project}-b/app": [], "catalog": []}
    assert claims(r)["sub"] == robot.name


def test_a_system_robot_gets_the_projects_its_permissions_name(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_project(module_database, f"s{unique}")
    add_project(module_database, f"s{unique}-b")
    everywhere = add_robot(module_database, f"all{unique}", "Robot-Secret-2")
    one = add_robot(module_database, f"one{unique}", "Robot-Secret-3", namespaces=[f"s{unique}-b"])
    scopes = (f"repository:s{unique}/app:pull,push", f"repository:s{unique}-b/app:pull,push")
    assert granted(ask(token_service, *scopes, auth=(everywhere.name, "Robot-Secret-2"))) == {
        f"s{unique}/app": ["pull"],
        f"s{unique}-b/app": ["pull"],
    }
    assert granted(ask(token_service, *scopes, auth=(one.name, "Robot-Secret-3"))) == {
        f"s{unique}/app": [],
        f"s{unique}-b/app": ["pull"],
    }


def test_robot_entries_outside_harbors_robot_list_grant_nothing(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    # Written directly, past core's validation: role-table pairs Harbor never lets a robot hold
    # (repository create, member create), the scanner's internal scanner-pull, and one listed entry.
    project = f"o{unique}"
    add_project(module_database, project)
    outside = [("repository", "create"), ("member", "create"), ("repository", "scanner-pull"), ("robot", "list")]
    only_outside = add_robot(module_database, "ci", "Robot-Secret-8", project=project, access=outside)
    mixed = add_robot(
        module_database, "mix", "Robot-Secret-9", project=project, access=[*outside, ("artifact", "delete")]
    )
    system = add_robot(module_database, f"sys-o{unique}", "Robot-Secret-A", access=outside)
    scope = f"repository:{project}/app:pull,push,delete,*"
    assert granted(ask(token_service, scope, auth=(only_outside.name, "Robot-Secret-8"))) == {f"{project}/app": []}
    assert granted(ask(token_service, scope, auth=(mixed.name, "Robot-Secret-9"))) == {f"{project}/app": ["delete"]}
    assert granted(ask(token_service, scope, auth=(system.name, "Robot-Secret-A"))) == {f"{project}/app": []}


def test_a_robot_with_a_wrong_secret_is_refused(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_project(module_database, f"w{unique}")
    robot = add_robot(module_database, "ci", "Robot-Secret-4", project=f"w{unique}")
    assert_error(ask(token_service, auth=(robot.name, "wrong")), 401, "UNAUTHORIZED")
    assert_error(ask(token_service, auth=(f"robot$nosuch{unique}", "x")), 401, "UNAUTHORIZED")


def test_a_disabled_robot_is_refused_with_a_clear_message(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_project(module_database, f"d{unique}")
    robot = add_robot(module_database, "ci", "Robot-Secret-5", project=f"d{unique}", disabled=True)
    message = assert_error(ask(token_service, auth=(robot.name, "Robot-Secret-5")), 401, "UNAUTHORIZED")
    assert message == f"robot account {robot.name} is disabled"


def test_an_expired_robot_is_refused_with_a_clear_message(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_project(module_database, f"e{unique}")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    robot = add_robot(module_database, "ci", "Robot-Secret-6", project=f"e{unique}", expires_at=past)
    message = assert_error(ask(token_service, auth=(robot.name, "Robot-Secret-6")), 401, "UNAUTHORIZED")
    assert message == f"robot account {robot.name} has expired"


def test_disabling_a_robot_is_effective_at_once_despite_the_cache(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    add_project(module_database, f"x{unique}")
    robot = add_robot(module_database, "ci", "Robot-Secret-7", project=f"x{unique}")
    assert granted(ask(token_service, f"repository:x{unique}/a:pull", auth=(robot.name, "Robot-Secret-7"))) == {
        f"x{unique}/a": ["pull"]
    }
    query(module_database, "UPDATE robots SET disabled = true WHERE name = $1", robot.name)
    scope = f"repository:x{unique}/a:pull"
    eventually(
        lambda: ask(token_service, scope, auth=(robot.name, "Robot-Secret-7")).status_code == 401,
        "the disabled robot refused",
    )
    assert_error(ask(token_service, auth=(robot.name, "Robot-Secret-7")), 401, "UNAUTHORIZED")


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        [("service", "someone-else")],
        [("service", "")],
        [],
        [("scope", "repository:library/app:pull")],
    ],
)
def test_a_wrong_or_missing_service_is_refused(
    token_service: TokenServiceProcess, params: list[tuple[str, str]]
) -> None:
    message = assert_error(ask(token_service, auth=ADMIN, params=params), 400, "INVALID_REQUEST")
    assert SERVICE in message


@pytest.mark.parametrize(
    "scope",
    [
        "garbage",
        "repository:library/app",
        "repository::pull",
        "user:admin:read",
        "registry:users:*",
        "a:b:c:d",
        "repository:library/app'; DROP TABLE users; --:pull",  # the spaces split it into non-scopes
    ],
)
def test_malformed_scopes_and_unknown_types_are_refused(token_service: TokenServiceProcess, scope: str) -> None:
    assert_error(ask(token_service, scope, auth=ADMIN), 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "name",
    [
        "library/app';DROP/**/TABLE/**/users;--",
        "library'--/app",
        "x'OR'1'='1/app",
        "lib%/app",
        "lib_/app",
        "library/app\\",
        'library/"app"',
        "LIBRARY/app",
        "library",
        "library/ap\x00p",
        "библиотека/app",
    ],
)
def test_sql_metacharacters_and_odd_names_get_no_access_and_no_error(
    token_service: TokenServiceProcess, name: str
) -> None:
    r = ask(token_service, f"repository:{name}:pull,push", auth=ADMIN)
    assert r.status_code == 200, r.text
    assert all(actions == [] for actions in granted(r).values())


@pytest.mark.parametrize(
    "username", ["admin' --", "admin'; DROP TABLE users; --", "' OR '1'='1", "robot$' OR '1'='1", "%", "_", "\\"]
)
def test_sql_metacharacters_in_user_names_are_just_unknown_users(
    token_service: TokenServiceProcess, username: str
) -> None:
    assert_error(ask(token_service, "repository:library/app:pull", auth=(username, "x")), 401, "UNAUTHORIZED")


def test_unknown_parameters_are_ignored(token_service: TokenServiceProcess) -> None:
    params = [("service", SERVICE), ("scope", "repository:library/a:pull"), ("offline_token", "true"), ("x", "y")]
    assert granted(ask(token_service, auth=ADMIN, params=params)) == {"library/a": ["pull"]}


def test_other_methods_and_paths_answer_json_errors(token_service: TokenServiceProcess) -> None:
    assert_error(httpx.post(f"{token_service.url}/service/token"), 405, "METHOD_NOT_ALLOWED")
    assert_error(httpx.get(f"{token_service.url}/nothing/here"), 404, "NOT_FOUND")
    assert httpx.get(f"{token_service.url}/healthz").status_code == 200


def test_nothing_in_the_logs_is_a_password_or_a_token(token_service: TokenServiceProcess) -> None:
    r = ask(token_service, "repository:library/a:pull", auth=ADMIN)
    token = r.json()["token"]
    logs = token_service.settled_logs()
    assert "Harbor12345" not in logs
    assert token not in logs and token.split(".")[2] not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line.get("user") == "admin" for line in lines)


# --- the token itself ----------------------------------------------------------------------------------


def test_the_token_verifies_against_the_certificate_with_the_specified_claims(
    token_service: TokenServiceProcess,
) -> None:
    before = int(time.time())
    r = ask(token_service, "repository:library/app:pull,push", auth=ADMIN)
    after = int(time.time())
    body = r.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert r.headers["Cache-Control"] == "no-store"
    verifier = TokenVerifier(token_service.certificate_path.read_bytes(), issuer=ISSUER, audience=SERVICE)
    verified = verifier.verify(body["token"])
    assert verified.subject == "admin"
    assert before <= verified.issued_at <= after
    assert verified.not_before == verified.issued_at
    assert verified.expires_at == verified.issued_at + 30 * 60
    assert body["expires_in"] == 30 * 60
    issued = dt.datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert int(issued.timestamp()) == verified.issued_at
    raw = claims(r)
    assert set(raw) == {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    assert raw["iss"] == ISSUER and raw["aud"] == SERVICE
    # The spec's three members, and the id of the project granted in (library is 1), which clients ignore.
    assert raw["access"] == [
        {"type": "repository", "name": "library/app", "actions": ["pull", "push"], "project_id": 1}
    ]
    header = __import__("jwt").get_unverified_header(body["token"])
    assert header["alg"] == "ES256" and header["kid"] == verifier.kid
    # Identical claims within one second get the identical token; a later second's is another one.
    again = ask(token_service, "repository:library/app:pull,push", auth=ADMIN)
    if claims(again)["iat"] == raw["iat"]:
        assert again.json()["token"] == body["token"]
    eventually(lambda: int(time.time()) > raw["iat"], "the clock to pass the token's second")
    later = ask(token_service, "repository:library/app:pull,push", auth=ADMIN)
    assert claims(later)["iat"] > raw["iat"]
    assert claims(later)["jti"] != raw["jti"]


# --- the project id each grant is bound to -------------------------------------------------------------


def bound(resp: httpx.Response) -> dict[str, int | None]:
    """`name → project_id` of the token's access claim (None where the entry carries none)."""
    return {a["name"]: a.get("project_id") for a in claims(resp)["access"]}


def test_every_kind_of_account_gets_grants_bound_to_the_project_id(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    private, public = f"b{unique}", f"b{unique}-pub"
    private_id = add_project(module_database, private).id
    public_id = add_project(module_database, public, public=True).id
    user = f"b{unique}"
    add_user(module_database, user, "Secret-123")
    add_member(module_database, private, user, 2)
    project_robot = add_robot(module_database, "ci", "Robot-Secret-B", project=private)
    system_robot = add_robot(module_database, f"sys-b{unique}", "Robot-Secret-C")
    scopes = (f"repository:{private}/app:pull,push", f"repository:{public}/app:pull", "registry:catalog:*")
    both = {f"{private}/app": private_id, f"{public}/app": public_id, "catalog": None}

    assert bound(ask(token_service, *scopes, auth=ADMIN)) == both
    assert bound(ask(token_service, *scopes, auth=(user, "Secret-123"))) == both
    assert bound(ask(token_service, *scopes, auth=(project_robot.name, "Robot-Secret-B"))) == both
    assert bound(ask(token_service, *scopes, auth=(system_robot.name, "Robot-Secret-C"))) == both
    # Anonymous pulls the public project only; the private one's entry is empty and names no id, so the
    # token does not tell that the private project exists.
    anonymous = ask(token_service, *scopes)
    assert granted(anonymous) == {f"{private}/app": [], f"{public}/app": ["pull"], "catalog": []}
    assert bound(anonymous) == {f"{private}/app": None, f"{public}/app": public_id, "catalog": None}


def test_a_project_re_created_under_the_same_name_is_granted_under_its_new_id(
    token_service: TokenServiceProcess, module_database: TestDatabase, unique: str
) -> None:
    project = f"re{unique}"
    first = add_project(module_database, project).id
    scope = f"repository:{project}/app:pull,push"
    assert bound(ask(token_service, scope, auth=ADMIN)) == {f"{project}/app": first}
    query(module_database, "DELETE FROM projects WHERE name = $1", project)
    assert bound(ask(token_service, scope, auth=ADMIN)) == {f"{project}/app": None}
    second = add_project(module_database, project).id
    assert second != first
    assert bound(ask(token_service, scope, auth=ADMIN)) == {f"{project}/app": second}
