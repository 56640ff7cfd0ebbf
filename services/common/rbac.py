"""Harbor's project roles and what each may do: the one table the token service and core both ask.

The table follows ``shared/reference/harbor-rbac.md``, which was read from Harbor's
``src/common/rbac/project`` and ``src/common/rbac/system/policies.go``. A policy is a
``(Resource, Action)`` pair inside one project; which project is the caller's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType

__all__ = [
    "PROJECT_POLICIES",
    "PUBLIC_PROJECT_POLICIES",
    "ROBOT_PERMISSIONS",
    "ROBOT_PROJECT_POLICIES",
    "SYSTEM_ROBOT_RESOURCES",
    "Action",
    "Permission",
    "Policy",
    "Resource",
    "Role",
    "best_role",
    "policies_of",
    "registry_actions",
    "robot_project_policies",
    "robot_system_allows",
    "role_allows",
]


class Role(IntEnum):
    """A project role. The values are Harbor's ``role_id``s, which the API and the database carry."""

    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5

    @property
    def harbor_name(self) -> str:
        return _HARBOR_NAMES[self]

    @classmethod
    def from_name(cls, name: str) -> Role:
        """The role Harbor calls ``name`` (``projectAdmin``, ``maintainer``, …)."""
        for role, harbor_name in _HARBOR_NAMES.items():
            if harbor_name == name:
                return role
        raise ValueError(f"unknown project role {name!r}; expected one of {', '.join(_HARBOR_NAMES.values())}")


# Outside the enum body: a dict assigned inside an Enum class would become a member.
_HARBOR_NAMES: Mapping[Role, str] = MappingProxyType(
    {
        Role.PROJECT_ADMIN: "projectAdmin",
        Role.DEVELOPER: "developer",
        Role.GUEST: "guest",
        Role.MAINTAINER: "maintainer",
        Role.LIMITED_GUEST: "limitedGuest",
    }
)

# The role ids are not a ranking (maintainer is 4, after guest), so never compare roles with
# < or max(); this order, strongest first, is the one Harbor's UI shows.
_PRECEDENCE: tuple[Role, ...] = (
    Role.PROJECT_ADMIN,
    Role.MAINTAINER,
    Role.DEVELOPER,
    Role.GUEST,
    Role.LIMITED_GUEST,
)


class Resource(StrEnum):
    """A project sub-resource, spelled as Harbor's ``rbac.Resource*`` constants."""

    # Harbor's role table names the project itself "" (ResourceSelf), but its robot permission
    # API spells it "project"; we use the spelling clients send.
    PROJECT = "project"
    MEMBER = "member"
    METADATA = "metadata"
    LOG = "log"
    LABEL = "label"
    QUOTA = "quota"
    REPOSITORY = "repository"
    TAG_RETENTION = "tag-retention"
    IMMUTABLE_TAG = "immutable-tag"
    CONFIGURATION = "configuration"
    ROBOT = "robot"
    NOTIFICATION_POLICY = "notification-policy"
    SCAN = "scan"
    SBOM = "sbom"
    SCANNER = "scanner"
    ARTIFACT = "artifact"
    ARTIFACT_ADDITION = "artifact-addition"
    TAG = "tag"
    ACCESSORY = "accessory"
    ARTIFACT_LABEL = "artifact-label"
    PREHEAT_POLICY = "preheat-policy"
    EXPORT_CVE = "export-cve"


class Action(StrEnum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"
    PULL = "pull"
    PUSH = "push"
    OPERATE = "operate"
    STOP = "stop"
    # Harbor gives this only to the robot its scanner creates, to pull past the vulnerability and
    # signature policies; no role holds it.
    SCANNER_PULL = "scanner-pull"


Policy = tuple[Resource, Action]

_C, _R, _U, _D, _L = Action.CREATE, Action.READ, Action.UPDATE, Action.DELETE, Action.LIST
_CRUDL = (_C, _R, _U, _D, _L)


def _grants(table: Mapping[Resource, Iterable[Action]]) -> frozenset[Policy]:
    return frozenset((resource, action) for resource, actions in table.items() for action in actions)


# One row per resource, in the order of harbor-rbac.md, so a reviewer can hold the two side by side.
PROJECT_POLICIES: Mapping[Role, frozenset[Policy]] = MappingProxyType(
    {
        Role.PROJECT_ADMIN: _grants(
            {
                Resource.PROJECT: (_R, _U, _D),
                Resource.MEMBER: _CRUDL,
                Resource.METADATA: (_C, _R, _U, _D),
                Resource.LOG: (_L,),
                Resource.LABEL: _CRUDL,
                Resource.QUOTA: (_R,),  # changing a quota is for the sysadmin only
                Resource.REPOSITORY: (*_CRUDL, Action.PULL, Action.PUSH),
                Resource.TAG_RETENTION: (*_CRUDL, Action.OPERATE),
                Resource.IMMUTABLE_TAG: (_C, _U, _D, _L),
                Resource.CONFIGURATION: (_R, _U),
                Resource.ROBOT: _CRUDL,
                Resource.NOTIFICATION_POLICY: _CRUDL,
                Resource.SCAN: (_C, _R, Action.STOP),
                Resource.SBOM: (_C, _R, Action.STOP),
                Resource.SCANNER: (_R, _C),  # choose the project's scanner; adding one is sysadmin only
                Resource.ARTIFACT: (_C, _R, _D, _L),
                Resource.ARTIFACT_ADDITION: (_R,),
                Resource.TAG: (_C, _D, _L),
                Resource.ACCESSORY: (_L,),
                Resource.ARTIFACT_LABEL: (_C, _D),
                Resource.PREHEAT_POLICY: _CRUDL,
                Resource.EXPORT_CVE: (_C, _R, _L),
            }
        ),
        Role.MAINTAINER: _grants(
            {
                Resource.PROJECT: (_R,),
                Resource.MEMBER: (_R, _L),
                # Read only: write access here was CVE-2024-22278 (maintainers could change project settings).
                Resource.METADATA: (_R,),
                Resource.LABEL: _CRUDL,
                Resource.QUOTA: (_R,),
                Resource.REPOSITORY: (*_CRUDL, Action.PULL, Action.PUSH),
                Resource.TAG_RETENTION: (*_CRUDL, Action.OPERATE),
                Resource.IMMUTABLE_TAG: (_C, _U, _D, _L),
                Resource.CONFIGURATION: (_R,),
                Resource.ROBOT: (_R, _L),
                Resource.NOTIFICATION_POLICY: (_R, _L),
                Resource.SCAN: (_C, _R, Action.STOP),
                Resource.SBOM: (_C, _R, Action.STOP),
                Resource.SCANNER: (_R,),
                Resource.ARTIFACT: (_C, _R, _D, _L),
                Resource.ARTIFACT_ADDITION: (_R,),
                Resource.TAG: (_C, _D, _L),
                Resource.ACCESSORY: (_L,),
                Resource.ARTIFACT_LABEL: (_C, _D),
                Resource.EXPORT_CVE: (_C, _R, _L),
            }
        ),
        Role.DEVELOPER: _grants(
            {
                Resource.PROJECT: (_R,),
                Resource.MEMBER: (_R, _L),
                Resource.LABEL: (_R, _L),
                Resource.QUOTA: (_R,),
                # No delete anywhere below: a developer pushes but cannot remove what is there.
                Resource.REPOSITORY: (_C, _R, _U, _L, Action.PULL, Action.PUSH),
                Resource.TAG_RETENTION: (*_CRUDL, Action.OPERATE),
                Resource.CONFIGURATION: (_R,),
                Resource.ROBOT: (_R, _L),
                Resource.SCAN: (_R,),
                Resource.SBOM: (_R,),
                Resource.SCANNER: (_R,),
                Resource.ARTIFACT: (_C, _R, _L),
                Resource.ARTIFACT_ADDITION: (_R,),
                Resource.TAG: (_C, _L),
                Resource.ACCESSORY: (_L,),
                Resource.ARTIFACT_LABEL: (_C, _D),
                Resource.EXPORT_CVE: (_C, _R, _L),
            }
        ),
        Role.GUEST: _grants(
            {
                Resource.PROJECT: (_R,),
                Resource.MEMBER: (_R, _L),
                Resource.LABEL: (_R, _L),
                Resource.QUOTA: (_R,),
                Resource.REPOSITORY: (_R, _L, Action.PULL),
                Resource.CONFIGURATION: (_R,),
                Resource.ROBOT: (_R, _L),
                Resource.SCAN: (_R,),
                Resource.SBOM: (_R,),
                Resource.SCANNER: (_R,),
                Resource.ARTIFACT: (_R, _L),
                Resource.ARTIFACT_ADDITION: (_R,),
                Resource.TAG: (_L,),
                Resource.ACCESSORY: (_L,),
            }
        ),
        # A guest who must not learn who else is in the project: no member, robot, label or log rows.
        Role.LIMITED_GUEST: _grants(
            {
                Resource.PROJECT: (_R,),
                Resource.QUOTA: (_R,),
                Resource.REPOSITORY: (_R, _L, Action.PULL),
                Resource.CONFIGURATION: (_R,),
                Resource.SCAN: (_R,),
                Resource.SBOM: (_R,),
                Resource.SCANNER: (_R,),
                Resource.ARTIFACT: (_R, _L),
                Resource.ARTIFACT_ADDITION: (_R,),
                Resource.TAG: (_L,),
                Resource.ACCESSORY: (_L,),
            }
        ),
    }
)

# What anyone, even anonymous, may do in a public project (Harbor's publicProjectPolicies). It is
# added to a member's own policies, never instead of them.
PUBLIC_PROJECT_POLICIES: frozenset[Policy] = _grants(
    {
        Resource.PROJECT: (_R,),
        Resource.LABEL: (_R, _L),
        Resource.REPOSITORY: (_L, Action.PULL),
        Resource.SCAN: (_R,),
        Resource.SCANNER: (_R,),
        Resource.TAG: (_L,),
        Resource.ARTIFACT: (_R, _L),
        Resource.ARTIFACT_ADDITION: (_R,),
        Resource.ACCESSORY: (_L,),
    }
)

# What a robot may be given in a project: Harbor's robot permission list, ``PoliciesMap["Project"]`` in
# ``src/common/rbac/const.go`` (served by GET /api/v2.0/permissions), in Harbor's order. harbor-rbac.md
# is silent on this list, so it is taken from Harbor's code as we know it: the v2.10 list, plus the
# sbom create/stop/read entries Harbor added with SBOM generation (v2.11). It is narrower than the role
# table: no member, robot, configuration, export-cve, tag-retention operate or repository create, so
# a robot can never manage members or other robots. (metadata list is in Harbor's list though no role
# holds it.) Anything else is refused when a robot is created or updated, and grants nothing if a row
# holds it anyway.
_ROBOT_PROJECT_LIST: tuple[Policy, ...] = (
    (Resource.LOG, _L),
    (Resource.PROJECT, _R),
    (Resource.PROJECT, _D),
    (Resource.PROJECT, _U),
    (Resource.METADATA, _R),
    (Resource.METADATA, _C),
    (Resource.METADATA, _D),
    (Resource.METADATA, _L),
    (Resource.METADATA, _U),
    (Resource.REPOSITORY, _R),
    (Resource.REPOSITORY, _U),
    (Resource.REPOSITORY, _D),
    (Resource.REPOSITORY, _L),
    (Resource.REPOSITORY, Action.PULL),
    (Resource.REPOSITORY, Action.PUSH),
    (Resource.ARTIFACT, _R),
    (Resource.ARTIFACT, _C),
    (Resource.ARTIFACT, _L),
    (Resource.ARTIFACT, _D),
    (Resource.SCAN, _C),
    (Resource.SCAN, _R),
    (Resource.SCAN, Action.STOP),
    (Resource.SBOM, _C),
    (Resource.SBOM, Action.STOP),
    (Resource.SBOM, _R),
    (Resource.TAG, _C),
    (Resource.TAG, _L),
    (Resource.TAG, _D),
    (Resource.ACCESSORY, _L),
    (Resource.ARTIFACT_ADDITION, _R),
    (Resource.ARTIFACT_LABEL, _C),
    (Resource.ARTIFACT_LABEL, _D),
    (Resource.SCANNER, _C),
    (Resource.SCANNER, _R),
    (Resource.PREHEAT_POLICY, _R),
    (Resource.PREHEAT_POLICY, _C),
    (Resource.PREHEAT_POLICY, _D),
    (Resource.PREHEAT_POLICY, _L),
    (Resource.PREHEAT_POLICY, _U),
    (Resource.IMMUTABLE_TAG, _C),
    (Resource.IMMUTABLE_TAG, _D),
    (Resource.IMMUTABLE_TAG, _L),
    (Resource.IMMUTABLE_TAG, _U),
    (Resource.NOTIFICATION_POLICY, _R),
    (Resource.NOTIFICATION_POLICY, _C),
    (Resource.NOTIFICATION_POLICY, _D),
    (Resource.NOTIFICATION_POLICY, _L),
    (Resource.NOTIFICATION_POLICY, _U),
    (Resource.TAG_RETENTION, _R),
    (Resource.TAG_RETENTION, _C),
    (Resource.TAG_RETENTION, _D),
    (Resource.TAG_RETENTION, _L),
    (Resource.TAG_RETENTION, _U),
    (Resource.LABEL, _R),
    (Resource.LABEL, _C),
    (Resource.LABEL, _D),
    (Resource.LABEL, _L),
    (Resource.LABEL, _U),
    (Resource.QUOTA, _R),
)
ROBOT_PROJECT_POLICIES: frozenset[Policy] = frozenset(_ROBOT_PROJECT_LIST)

# System-level resources a system robot may be given (Harbor's system/policies.go). They are not
# project resources, so they are plain strings rather than members of Resource.
SYSTEM_ROBOT_RESOURCES: Mapping[str, frozenset[Action]] = MappingProxyType(
    {
        "catalog": frozenset({_R}),
        "audit-log": frozenset({_L}),
        "project": frozenset(_CRUDL),
        "user": frozenset(_CRUDL),
        "user-group": frozenset(_CRUDL),
        "registry": frozenset(_CRUDL),
        "replication": frozenset(_CRUDL),
        "distribution": frozenset(_CRUDL),
        "garbage-collection": frozenset({*_CRUDL, Action.STOP}),
        "purge-audit": frozenset({_R, _C, _L, _U, Action.STOP}),
        "scan-all": frozenset({*_CRUDL, Action.STOP}),
        "system-volumes": frozenset({_R}),
        "ldap-user": frozenset({_C, _L}),
        "configuration": frozenset({_R, _U}),
        "jobservice-monitor": frozenset({_R, _L, Action.STOP}),
        "security-hub": frozenset({_R, _L}),
    }
)

# Both robot permission lists as Harbor's PoliciesMap, for GET /api/v2.0/permissions: "system" is the
# list above (harbor-rbac.md's, in its order), "project" ROBOT_PROJECT_POLICIES in Harbor's order.
ROBOT_PERMISSIONS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "system": tuple(
            (resource, action.value)
            for resource, actions in SYSTEM_ROBOT_RESOURCES.items()
            for action in Action
            if action in actions
        ),
        "project": tuple((resource.value, action.value) for resource, action in _ROBOT_PROJECT_LIST),
    }
)


def role_allows(role: Role, resource: Resource, action: Action) -> bool:
    return (resource, action) in PROJECT_POLICIES[role]


def policies_of(roles: Iterable[Role]) -> frozenset[Policy]:
    """The union of the policies of every role a user holds in one project.

    A user can hold a role directly and others through groups; Harbor grants all of them at once,
    so the answer is a union, not the policies of the strongest role.
    """
    return frozenset().union(*(PROJECT_POLICIES[role] for role in roles))


def best_role(roles: Iterable[Role]) -> Role | None:
    """The strongest of ``roles``, for display only: decide access with ``policies_of``."""
    return min(roles, key=_PRECEDENCE.index, default=None)


def registry_actions(policies: frozenset[Policy]) -> frozenset[str]:
    """The Docker token actions on a repository these policies allow, as in ``repository:<name>:pull,push``."""
    actions: set[str] = set()
    if (Resource.REPOSITORY, Action.PULL) in policies:
        actions.add("pull")
    if (Resource.REPOSITORY, Action.PUSH) in policies:
        actions.add("push")
    if (Resource.ARTIFACT, Action.DELETE) in policies:
        actions.add("delete")
    return frozenset(actions)


@dataclass(frozen=True)
class Permission:
    """One entry of a robot account's ``access`` list, as the API receives it."""

    resource: str
    action: str


def robot_project_policies(access: Iterable[Permission]) -> frozenset[Policy]:
    """The project policies a robot holds: exactly those listed, each checked against Harbor's robot list.

    A robot is given no role, so nothing is implied. An entry outside ROBOT_PROJECT_POLICIES is refused
    (ValueError naming it) rather than dropped, so a typo fails at creation instead of as a silent 403
    later; readers of stored rows call this one entry at a time and skip the refused ones, so such an
    entry grants nothing.
    """
    policies: set[Policy] = set()
    for permission in access:
        try:
            resource = Resource(permission.resource)
        except ValueError:
            raise ValueError(f"unknown robot permission resource {permission.resource!r}") from None
        try:
            action = Action(permission.action)
        except ValueError:
            raise ValueError(
                f"unknown robot permission action {permission.action!r} on resource {permission.resource!r}"
            ) from None
        if (resource, action) not in ROBOT_PROJECT_POLICIES:
            raise ValueError(
                f"robot permission {action.value!r} on {resource.value!r} is not a project permission"
                " a robot may be given (see GET /api/v2.0/permissions)"
            )
        policies.add((resource, action))
    return frozenset(policies)


def robot_system_allows(resource: str, action: str) -> bool:
    """Whether a system robot may be given (and so may use) this system-level permission."""
    actions = SYSTEM_ROBOT_RESOURCES.get(resource)
    return actions is not None and action in {a.value for a in actions}
