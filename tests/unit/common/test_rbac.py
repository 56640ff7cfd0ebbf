"""services.common.rbac: Harbor's role table, cell by cell, and the helpers built on it."""

from __future__ import annotations

import itertools
from types import MappingProxyType

import pytest

from services.common.rbac import (
    PROJECT_POLICIES,
    PUBLIC_PROJECT_POLICIES,
    ROBOT_PERMISSIONS,
    ROBOT_PROJECT_POLICIES,
    SYSTEM_ROBOT_RESOURCES,
    Action,
    Permission,
    Resource,
    Role,
    best_role,
    policies_of,
    registry_actions,
    robot_project_policies,
    robot_system_allows,
    role_allows,
)

# Transcribed by hand from shared/reference/harbor-rbac.md, in its own notation and column order,
# so that this table and the one in rbac.py are two independent copies: a slip in either fails.
# C R U D L = create read update delete list; "-" = nothing.
_HARBOR_RBAC_MD = """
resource            | projectAdmin          | maintainer            | developer           | guest      | limitedGuest
project             | R U D                 | R                     | R                   | R          | R
member              | C R U D L             | R L                   | R L                 | R L        | -
metadata            | C R U D               | R                     | -                   | -          | -
log                 | L                     | -                     | -                   | -          | -
label               | C R U D L             | C R U D L             | R L                 | R L        | -
quota               | R                     | R                     | R                   | R          | R
repository          | C R U D L pull push   | C R U D L pull push   | C R U L pull push   | R L pull   | R L pull
tag-retention       | C R U D L operate     | C R U D L operate     | C R U D L operate   | -          | -
immutable-tag       | C U D L               | C U D L               | -                   | -          | -
configuration       | R U                   | R                     | R                   | R          | R
robot               | C R U D L             | R L                   | R L                 | R L        | -
notification-policy | C R U D L             | R L                   | -                   | -          | -
scan                | C R stop              | C R stop              | R                   | R          | R
sbom                | C R stop              | C R stop              | R                   | R          | R
scanner             | R C                   | R                     | R                   | R          | R
artifact            | C R D L               | C R D L               | C R L               | R L        | R L
artifact-addition   | R                     | R                     | R                   | R          | R
tag                 | C D L                 | C D L                 | C L                 | L          | L
accessory           | L                     | L                     | L                   | L          | L
artifact-label      | C D                   | C D                   | C D                 | -          | -
preheat-policy      | C R U D L             | -                     | -                   | -          | -
export-cve          | C R L                 | C R L                 | C R L               | -          | -
"""

_ABBREVIATIONS = {"C": "create", "R": "read", "U": "update", "D": "delete", "L": "list"}


def _parse_expected(text: str) -> dict[str, set[tuple[str, str]]]:
    header, *rows = [line for line in text.strip().splitlines() if line.strip()]
    roles = [cell.strip() for cell in header.split("|")[1:]]
    expected: dict[str, set[tuple[str, str]]] = {role: set() for role in roles}
    for row in rows:
        resource, *cells = (cell.strip() for cell in row.split("|"))
        assert len(cells) == len(roles), row
        for role, cell in zip(roles, cells, strict=True):
            if cell == "-":
                continue
            for word in cell.split():
                expected[role].add((resource, _ABBREVIATIONS.get(word, word)))
    return expected


EXPECTED = _parse_expected(_HARBOR_RBAC_MD)
ALL_CELLS = list(itertools.product(Role, Resource, Action))
ALL_CELL_IDS = [f"{role.harbor_name}-{resource}-{action}" for role, resource, action in ALL_CELLS]


def test_expected_table_covers_every_role_and_resource() -> None:
    assert set(EXPECTED) == {role.harbor_name for role in Role}
    named = {resource for policies in EXPECTED.values() for resource, _ in policies}
    assert named == {resource.value for resource in Resource}


@pytest.mark.parametrize(("role", "resource", "action"), ALL_CELLS, ids=ALL_CELL_IDS)
def test_every_cell_matches_harbor(role: Role, resource: Resource, action: Action) -> None:
    want = (resource.value, action.value) in EXPECTED[role.harbor_name]
    assert role_allows(role, resource, action) is want


def test_policy_counts() -> None:
    # harbor-rbac.md: 198 project policies in all.
    counts = {role.harbor_name: len(PROJECT_POLICIES[role]) for role in Role}
    assert counts == {"projectAdmin": 75, "maintainer": 53, "developer": 36, "guest": 20, "limitedGuest": 14}
    assert sum(counts.values()) == 198


def test_no_role_holds_scanner_pull() -> None:
    assert all((r, Action.SCANNER_PULL) not in PROJECT_POLICIES[role] for role in Role for r in Resource)


def test_table_is_immutable() -> None:
    assert isinstance(PROJECT_POLICIES, MappingProxyType)
    assert isinstance(SYSTEM_ROBOT_RESOURCES, MappingProxyType)
    assert all(isinstance(policies, frozenset) for policies in PROJECT_POLICIES.values())
    with pytest.raises(TypeError):
        PROJECT_POLICIES[Role.GUEST] = frozenset()  # type: ignore[index]


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "role_id", "name"),
    [
        (Role.PROJECT_ADMIN, 1, "projectAdmin"),
        (Role.DEVELOPER, 2, "developer"),
        (Role.GUEST, 3, "guest"),
        (Role.MAINTAINER, 4, "maintainer"),
        (Role.LIMITED_GUEST, 5, "limitedGuest"),
    ],
)
def test_role_ids_and_names(role: Role, role_id: int, name: str) -> None:
    assert role == role_id
    assert Role(role_id) is role
    assert role.harbor_name == name
    assert Role.from_name(name) is role


@pytest.mark.parametrize("name", ["ProjectAdmin", "admin", "limited_guest", ""])
def test_from_name_rejects_unknown(name: str) -> None:
    with pytest.raises(ValueError, match="unknown project role"):
        Role.from_name(name)


# --- the rules the summary in harbor-rbac.md states in words -------------------------------------


@pytest.mark.parametrize("action", [Action.CREATE, Action.UPDATE, Action.DELETE])
def test_cve_2024_22278_maintainer_cannot_write_metadata(action: Action) -> None:
    assert not role_allows(Role.MAINTAINER, Resource.METADATA, action)
    assert role_allows(Role.MAINTAINER, Resource.METADATA, Action.READ)
    assert role_allows(Role.PROJECT_ADMIN, Resource.METADATA, action)


@pytest.mark.parametrize("resource", [Resource.MEMBER, Resource.ROBOT, Resource.LOG])
def test_limited_guest_cannot_see_members_robots_or_logs(resource: Resource) -> None:
    assert not any(role_allows(Role.LIMITED_GUEST, resource, action) for action in Action)


@pytest.mark.parametrize("resource", [Resource.ARTIFACT, Resource.TAG, Resource.REPOSITORY])
def test_developer_cannot_delete(resource: Resource) -> None:
    assert not role_allows(Role.DEVELOPER, resource, Action.DELETE)
    assert role_allows(Role.MAINTAINER, resource, Action.DELETE)


@pytest.mark.parametrize("role", [Role.GUEST, Role.LIMITED_GUEST])
def test_guests_pull_but_cannot_push(role: Role) -> None:
    assert role_allows(role, Resource.REPOSITORY, Action.PULL)
    assert not role_allows(role, Resource.REPOSITORY, Action.PUSH)
    assert not role_allows(role, Resource.ARTIFACT, Action.CREATE)
    assert not role_allows(role, Resource.TAG, Action.CREATE)


def test_only_project_admin_manages_members_and_deletes_the_project() -> None:
    for role in Role:
        is_admin = role is Role.PROJECT_ADMIN
        assert role_allows(role, Resource.MEMBER, Action.CREATE) is is_admin
        assert role_allows(role, Resource.PROJECT, Action.DELETE) is is_admin
        assert role_allows(role, Resource.QUOTA, Action.UPDATE) is False  # sysadmin only


# --- registry token actions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "actions"),
    [
        (Role.PROJECT_ADMIN, {"pull", "push", "delete"}),
        (Role.MAINTAINER, {"pull", "push", "delete"}),
        (Role.DEVELOPER, {"pull", "push"}),
        (Role.GUEST, {"pull"}),
        (Role.LIMITED_GUEST, {"pull"}),
    ],
)
def test_registry_actions_per_role(role: Role, actions: set[str]) -> None:
    assert registry_actions(PROJECT_POLICIES[role]) == actions


def test_registry_actions_reads_the_right_cells() -> None:
    assert registry_actions(frozenset()) == frozenset()
    assert registry_actions(frozenset({(Resource.ARTIFACT, Action.DELETE)})) == {"delete"}
    # Deleting a repository is a Harbor API call, not a registry token action.
    assert registry_actions(frozenset({(Resource.REPOSITORY, Action.DELETE)})) == frozenset()
    assert registry_actions(frozenset({(Resource.REPOSITORY, Action.PUSH)})) == {"push"}


# --- public projects -----------------------------------------------------------------------------


def test_public_project_allows_pull_but_not_push() -> None:
    assert registry_actions(PUBLIC_PROJECT_POLICIES) == {"pull"}
    assert (Resource.REPOSITORY, Action.PUSH) not in PUBLIC_PROJECT_POLICIES
    assert (Resource.ARTIFACT, Action.DELETE) not in PUBLIC_PROJECT_POLICIES


def test_public_project_policies_match_harbor() -> None:
    assert {
        (Resource.PROJECT, Action.READ),
        (Resource.LABEL, Action.READ),
        (Resource.LABEL, Action.LIST),
        (Resource.REPOSITORY, Action.LIST),
        (Resource.REPOSITORY, Action.PULL),
        (Resource.SCAN, Action.READ),
        (Resource.SCANNER, Action.READ),
        (Resource.TAG, Action.LIST),
        (Resource.ARTIFACT, Action.READ),
        (Resource.ARTIFACT, Action.LIST),
        (Resource.ARTIFACT_ADDITION, Action.READ),
        (Resource.ACCESSORY, Action.LIST),
    } == PUBLIC_PROJECT_POLICIES
    # Nothing about the people in the project leaks to anonymous callers.
    assert not {resource for resource, _ in PUBLIC_PROJECT_POLICIES} & {Resource.MEMBER, Resource.ROBOT, Resource.LOG}


# --- several roles at once ------------------------------------------------------------------------


def test_policies_of_is_the_union() -> None:
    both = policies_of([Role.DEVELOPER, Role.GUEST])
    assert both == PROJECT_POLICIES[Role.DEVELOPER] | PROJECT_POLICIES[Role.GUEST]
    assert policies_of([Role.GUEST]) == PROJECT_POLICIES[Role.GUEST]
    assert policies_of([]) == frozenset()
    assert policies_of(iter([Role.LIMITED_GUEST, Role.LIMITED_GUEST])) == PROJECT_POLICIES[Role.LIMITED_GUEST]


def test_policies_of_unions_public_and_member_policies() -> None:
    # Harbor's five roles happen to nest (each holds every policy of the weaker ones), so for them
    # the union equals the best role's set; the union is still what is granted, and it is what
    # keeps a limitedGuest member of a public project able to list labels.
    weakest_first = [Role.LIMITED_GUEST, Role.GUEST, Role.DEVELOPER, Role.MAINTAINER, Role.PROJECT_ADMIN]
    for weaker, stronger in itertools.pairwise(weakest_first):
        assert PROJECT_POLICIES[weaker] < PROJECT_POLICIES[stronger]
        assert policies_of([weaker, stronger]) == PROJECT_POLICIES[stronger]
    member = policies_of([Role.LIMITED_GUEST])
    assert (Resource.LABEL, Action.LIST) not in member
    assert (Resource.LABEL, Action.LIST) in member | PUBLIC_PROJECT_POLICIES
    assert registry_actions(policies_of([Role.GUEST, Role.MAINTAINER])) == {"pull", "push", "delete"}


@pytest.mark.parametrize(
    ("roles", "best"),
    [
        ([], None),
        ([Role.GUEST], Role.GUEST),
        ([Role.GUEST, Role.MAINTAINER], Role.MAINTAINER),  # id 4 > 3 but maintainer outranks guest
        ([Role.MAINTAINER, Role.DEVELOPER], Role.MAINTAINER),  # id 4 > 2, and maintainer still wins
        ([Role.LIMITED_GUEST, Role.GUEST], Role.GUEST),
        ([Role.DEVELOPER, Role.PROJECT_ADMIN, Role.MAINTAINER], Role.PROJECT_ADMIN),
        ([Role.LIMITED_GUEST], Role.LIMITED_GUEST),
    ],
)
def test_best_role(roles: list[Role], best: Role | None) -> None:
    assert best_role(roles) is best
    assert best_role(iter(roles)) is best


# --- robots --------------------------------------------------------------------------------------


def test_robot_gets_exactly_its_permissions() -> None:
    access = [
        Permission("repository", "pull"),
        Permission("repository", "push"),
        Permission("artifact", "delete"),
        Permission("repository", "pull"),  # duplicates collapse
    ]
    policies = robot_project_policies(access)
    assert policies == {
        (Resource.REPOSITORY, Action.PULL),
        (Resource.REPOSITORY, Action.PUSH),
        (Resource.ARTIFACT, Action.DELETE),
    }
    assert registry_actions(policies) == {"pull", "push", "delete"}
    assert robot_project_policies([]) == frozenset()


def test_robot_may_hold_exactly_harbors_robot_project_list() -> None:
    every = [Permission(r.value, a.value) for r, a in ROBOT_PROJECT_POLICIES]
    assert robot_project_policies(every) == ROBOT_PROJECT_POLICIES
    # Harbor's PoliciesMap["Project"]: 56 pairs in v2.10, plus sbom create/stop/read.
    assert len(ROBOT_PROJECT_POLICIES) == 59
    assert ROBOT_PERMISSIONS["project"] == tuple(dict.fromkeys(ROBOT_PERMISSIONS["project"]))
    assert {(Resource(r), Action(a)) for r, a in ROBOT_PERMISSIONS["project"]} == ROBOT_PROJECT_POLICIES
    # Only metadata list is outside the role table (Harbor lists it for robots though no role holds it).
    assert ROBOT_PROJECT_POLICIES - PROJECT_POLICIES[Role.PROJECT_ADMIN] == {(Resource.METADATA, Action.LIST)}


@pytest.mark.parametrize(
    "permission",
    [
        Permission("member", "create"),  # a robot never manages members
        Permission("robot", "create"),  # nor other robots
        Permission("robot", "list"),
        Permission("repository", "create"),
        Permission("tag-retention", "operate"),
        Permission("configuration", "read"),
        Permission("export-cve", "create"),
    ],
)
def test_role_policies_outside_harbors_robot_list_are_refused(permission: Permission) -> None:
    assert (Resource(permission.resource), Action(permission.action)) in PROJECT_POLICIES[Role.PROJECT_ADMIN]
    with pytest.raises(ValueError, match="not a project permission") as info:
        robot_project_policies([permission])
    assert repr(permission.resource) in str(info.value)


def test_system_robot_list() -> None:
    assert robot_system_allows("project", "create")
    assert robot_system_allows("scan-all", "stop")
    assert not robot_system_allows("catalog", "list")
    assert not robot_system_allows("repository", "pull")
    pairs = ROBOT_PERMISSIONS["system"]
    assert len(pairs) == len(set(pairs)) == sum(len(a) for a in SYSTEM_ROBOT_RESOURCES.values())
    assert all(robot_system_allows(r, a) for r, a in pairs)


@pytest.mark.parametrize(
    ("permission", "named"),
    [
        (Permission("repo", "pull"), "'repo'"),
        (Permission("", "read"), "''"),  # Harbor's ResourceSelf spelling is not the API's
        (Permission("catalog", "read"), "'catalog'"),  # a system resource, not a project one
        (Permission("repository", "pul"), "'pul'"),
        (Permission("repository", "*"), "'*'"),
    ],
)
def test_robot_unknown_resource_or_action_is_named(permission: Permission, named: str) -> None:
    with pytest.raises(ValueError, match="unknown robot permission") as info:
        robot_project_policies([Permission("repository", "pull"), permission])
    assert named in str(info.value)


@pytest.mark.parametrize(
    "permission",
    [
        Permission("quota", "update"),  # sysadmin only
        Permission("repository", "scanner-pull"),  # internal to Harbor's scanner robot
        Permission("tag", "update"),
    ],
)
def test_robot_permission_outside_the_table_is_refused(permission: Permission) -> None:
    with pytest.raises(ValueError, match="not a project permission") as info:
        robot_project_policies([permission])
    assert repr(permission.resource) in str(info.value)
    assert repr(permission.action) in str(info.value)


def test_permission_is_frozen() -> None:
    permission = Permission("repository", "pull")
    with pytest.raises(AttributeError):
        permission.action = "push"  # type: ignore[misc]
    assert permission == Permission(resource="repository", action="pull")


# --- system robots -------------------------------------------------------------------------------


def test_system_robot_resources() -> None:
    crudl = {"create", "read", "update", "delete", "list"}
    expected = {
        "catalog": {"read"},
        "audit-log": {"list"},
        "project": crudl,
        "user": crudl,
        "user-group": crudl,
        "registry": crudl,
        "replication": crudl,
        "distribution": crudl,
        "garbage-collection": crudl | {"stop"},
        "purge-audit": {"create", "read", "update", "list", "stop"},
        "scan-all": crudl | {"stop"},
        "system-volumes": {"read"},
        "ldap-user": {"create", "list"},
        "configuration": {"read", "update"},
        "jobservice-monitor": {"read", "list", "stop"},
        "security-hub": {"read", "list"},
    }
    assert {resource: {str(a) for a in actions} for resource, actions in SYSTEM_ROBOT_RESOURCES.items()} == expected
    assert all(isinstance(actions, frozenset) for actions in SYSTEM_ROBOT_RESOURCES.values())
