"""services.token.authorize: scope parsing and the grant rules, without a database."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.common.auth.scopes import Access
from services.common.identity.models import ProjectAccess, Robot, RobotPermission
from services.common.rbac import Permission, Role
from services.token.authenticate import ANONYMOUS, Principal
from services.token.authorize import MAX_SCOPES, grant, parse_scopes, project_of, projects_named
from services.token.errors import MalformedScope

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ALL = ("pull", "push", "delete", "*")

PRIVATE = ProjectAccess(id=10, name="private", public=False, roles=frozenset())
PUBLIC = ProjectAccess(id=11, name="public", public=True, roles=frozenset())
OTHER = ProjectAccess(id=12, name="other", public=False, roles=frozenset())

ADMIN = Principal(kind="user", name="admin", user_id=1, sysadmin=True)
ALICE = Principal(kind="user", name="alice", user_id=7)


def repo(name: str, *actions: str) -> Access:
    return Access("repository", name, actions or ALL)


def member(project: ProjectAccess, *roles: Role) -> ProjectAccess:
    return dataclasses.replace(project, roles=frozenset(roles))


def granted(principal: Principal, projects: list[ProjectAccess], *requested: Access) -> list[tuple[str, ...]]:
    return [a.actions for a in grant(list(requested), principal, {p.name: p for p in projects}, NOW)]


def robot(
    *,
    level: str = "project",
    project: ProjectAccess | None = PRIVATE,
    namespaces: tuple[str, ...] = ("private",),
    access: tuple[tuple[str, str], ...] = (("repository", "pull"), ("repository", "push")),
    disabled: bool = False,
    expires_at: dt.datetime | None = None,
) -> Principal:
    entries = tuple(Permission(resource=r, action=a) for r, a in access)
    r = Robot(
        id=1,
        name="robot$x",
        description="",
        secret_hash="",
        level=level,  # type: ignore[arg-type]
        project_id=project.id if project else None,
        project_name=project.name if project else None,
        disabled=disabled,
        expires_at=expires_at,
        permissions=tuple(RobotPermission(kind="project", namespace=n, access=entries) for n in namespaces),
        created_at=NOW,
        updated_at=NOW,
    )
    return Principal(kind="robot", name=r.name, robot=r)


# --- parsing -------------------------------------------------------------------------------------------


def test_scopes_are_parsed_and_merged_per_resource() -> None:
    scopes = parse_scopes(["repository:a/b:pull", "repository:a/b:push registry:catalog:*", "repository:c/d:pull"])
    assert scopes == [
        Access("repository", "a/b", ("pull", "push")),
        Access("registry", "catalog", ("*",)),
        Access("repository", "c/d", ("pull",)),
    ]


def test_no_scope_is_no_access() -> None:
    assert parse_scopes([]) == []
    assert parse_scopes([""]) == []


@pytest.mark.parametrize(
    "scope",
    [
        "garbage",
        "repository:a/b",
        "repository::pull",
        ":a/b:pull",
        "repository:a/b:",
        "repository:a/b:,,",
        "registry:users:*",
        "artifact:a/b:pull",
        "repository(plugin):a/b:pull",
    ],
)
def test_malformed_scopes_and_unknown_types_are_refused(scope: str) -> None:
    with pytest.raises(MalformedScope):
        parse_scopes([scope])


def test_the_number_of_scopes_is_capped() -> None:
    parse_scopes([f"repository:p/r{i}:pull" for i in range(MAX_SCOPES)])
    with pytest.raises(MalformedScope, match="more than"):
        parse_scopes([f"repository:p/r{i}:pull" for i in range(MAX_SCOPES + 1)])


@pytest.mark.parametrize(
    ("name", "project"),
    [
        ("library/app", "library"),
        ("team/sub/app", "team"),
        ("app", None),  # no project component
        ("Library/app", None),  # outside the repository grammar
        ("lib'; DROP TABLE users;--/x", None),
        ("lib%27/x", None),
        ("library/../x", None),
        ("", None),
        ("a" * 300 + "/x", None),
    ],
)
def test_project_of(name: str, project: str | None) -> None:
    assert project_of(name) == project


def test_projects_named_are_distinct_valid_and_repository_only() -> None:
    requested = [repo("b/x"), repo("a/y"), repo("a/z"), repo("bad name/x"), Access("registry", "catalog", ("*",))]
    assert projects_named(requested) == ["a", "b"]


# --- grants --------------------------------------------------------------------------------------------


def test_sysadmin_gets_every_requested_action_on_existing_projects_only() -> None:
    assert granted(ADMIN, [PRIVATE], repo("private/app"), repo("missing/app")) == [ALL, ()]


def test_only_repository_actions_are_granted() -> None:
    assert granted(ADMIN, [PRIVATE], repo("private/app", "pull", "scanner-pull", "frobnicate")) == [("pull",)]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.PROJECT_ADMIN, ALL),
        (Role.MAINTAINER, ALL),
        (Role.DEVELOPER, ("pull", "push")),
        (Role.GUEST, ("pull",)),
        (Role.LIMITED_GUEST, ("pull",)),
    ],
)
def test_members_get_what_their_role_allows(role: Role, expected: tuple[str, ...]) -> None:
    assert granted(ALICE, [member(PRIVATE, role)], repo("private/app")) == [expected]


def test_roles_through_several_memberships_add_up() -> None:
    """A direct guest role and a developer role through a group: both count."""
    assert granted(ALICE, [member(PRIVATE, Role.GUEST, Role.DEVELOPER)], repo("private/app")) == [("pull", "push")]


def test_the_grant_is_the_intersection_with_what_was_asked() -> None:
    assert granted(ALICE, [member(PRIVATE, Role.PROJECT_ADMIN)], repo("private/app", "pull")) == [("pull",)]
    assert granted(ALICE, [member(PRIVATE, Role.DEVELOPER)], repo("private/app", "delete", "*")) == [()]


def test_a_non_member_gets_nothing_in_a_private_project() -> None:
    assert granted(ALICE, [PRIVATE], repo("private/app")) == [()]


def test_everyone_may_pull_from_a_public_project() -> None:
    assert granted(ANONYMOUS, [PUBLIC], repo("public/app")) == [("pull",)]
    assert granted(ALICE, [PUBLIC], repo("public/app")) == [("pull",)]
    assert granted(ALICE, [member(PUBLIC, Role.DEVELOPER)], repo("public/app")) == [("pull", "push")]


def test_anonymous_gets_nothing_in_a_private_project_and_no_catalog() -> None:
    assert granted(ANONYMOUS, [PRIVATE], repo("private/app"), Access("registry", "catalog", ("*",))) == [(), ()]


def test_catalog_is_for_sysadmins_only() -> None:
    catalog = Access("registry", "catalog", ("*",))
    assert granted(ADMIN, [], catalog) == [("*",)]
    assert granted(ALICE, [member(PRIVATE, Role.PROJECT_ADMIN)], catalog) == [()]
    assert granted(robot(level="system", project=None, namespaces=("*",)), [], catalog) == [()]


def test_names_outside_the_grammar_get_nothing_even_for_sysadmins() -> None:
    projects = [PRIVATE]
    assert granted(ADMIN, projects, repo("private/App"), repo("private"), repo("private/a b")) == [(), (), ()]


def test_a_project_robot_gets_its_permissions_in_its_project_only() -> None:
    bot = robot()
    assert granted(bot, [PRIVATE, OTHER], repo("private/app"), repo("other/app")) == [("pull", "push"), ()]


def test_a_project_robot_ignores_permissions_naming_another_project() -> None:
    bot = robot(namespaces=("private", "other", "*"))
    assert granted(bot, [PRIVATE, OTHER], repo("private/app"), repo("other/app")) == [("pull", "push"), ()]


def test_a_system_robot_gets_the_projects_its_namespaces_name() -> None:
    everywhere = robot(level="system", project=None, namespaces=("*",), access=(("repository", "pull"),))
    assert granted(everywhere, [PRIVATE, OTHER], repo("private/a"), repo("other/a")) == [("pull",), ("pull",)]
    one = robot(level="system", project=None, namespaces=("other",), access=(("repository", "pull"),))
    assert granted(one, [PRIVATE, OTHER], repo("private/a"), repo("other/a")) == [(), ("pull",)]


def test_robot_delete_comes_from_artifact_delete() -> None:
    bot = robot(access=(("repository", "pull"), ("repository", "push"), ("artifact", "delete")))
    assert granted(bot, [PRIVATE], repo("private/app")) == [ALL]


def test_robot_entries_no_role_could_hold_grant_nothing() -> None:
    bot = robot(access=(("repository", "*"), ("nonsense", "pull"), ("repository", "pull")))
    assert granted(bot, [PRIVATE], repo("private/app")) == [("pull",)]


def test_robots_may_pull_from_public_projects() -> None:
    assert granted(robot(), [PUBLIC], repo("public/app")) == [("pull",)]


@pytest.mark.parametrize("state", [{"disabled": True}, {"expires_at": NOW}, {"expires_at": NOW - dt.timedelta(days=1)}])
def test_disabled_or_expired_robots_get_nothing(state: dict[str, object]) -> None:
    bot = robot(**state)  # type: ignore[arg-type]
    assert granted(bot, [PRIVATE], repo("private/app")) == [()]


def test_a_robot_expiring_later_still_works() -> None:
    bot = robot(expires_at=NOW + dt.timedelta(seconds=1))
    assert granted(bot, [PRIVATE], repo("private/app")) == [("pull", "push")]


# --- the project id each grant is bound to -------------------------------------------------------------


def bound(principal: Principal, projects: list[ProjectAccess], *requested: Access) -> list[int | None]:
    return [a.project_id for a in grant(list(requested), principal, {p.name: p for p in projects}, NOW)]


@pytest.mark.parametrize(
    ("principal", "projects", "name", "project_id"),
    [
        (ADMIN, [PRIVATE], "private/app", PRIVATE.id),
        (ALICE, [member(PRIVATE, Role.DEVELOPER)], "private/app", PRIVATE.id),
        (robot(), [PRIVATE], "private/app", PRIVATE.id),
        (robot(level="system", project=None, namespaces=("*",)), [OTHER], "other/app", OTHER.id),
        (ANONYMOUS, [PUBLIC], "public/app", PUBLIC.id),
        (robot(), [PUBLIC], "public/app", PUBLIC.id),
    ],
)
def test_every_repository_grant_carries_the_id_of_the_project_it_was_granted_in(
    principal: Principal, projects: list[ProjectAccess], name: str, project_id: int
) -> None:
    assert bound(principal, projects, repo(name, "pull")) == [project_id]


def test_entries_granting_nothing_and_the_catalog_carry_no_project_id() -> None:
    # An id on an empty entry would tell an anonymous client that a private project exists.
    assert bound(ANONYMOUS, [PRIVATE], repo("private/app"), repo("missing/app")) == [None, None]
    assert bound(ALICE, [PRIVATE], repo("private/app", "push")) == [None]
    assert bound(ADMIN, [], Access("registry", "catalog", ("*",))) == [None]
