"""What a principal may do in one project: Harbor's role table (services.common.rbac) applied.

A sysadmin may do everything; a user what its roles allow (directly and through groups, as a union);
a robot exactly what its permissions list for that project; and anyone the public-project policies of a
public project. A project the principal holds nothing in, and that is not public, is invisible: callers
answer 404 for it, so its existence is never revealed.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common import rbac
from services.common.auth.authenticate import Principal
from services.common.identity.models import Robot
from services.common.rbac import Action, Policy, Resource
from services.core.errors import Forbidden, Unauthorized

ALL_NAMESPACES = "*"


@dataclass(frozen=True, slots=True)
class Viewer:
    """A principal as the project queries filter by: which projects it may see without being public."""

    user_id: int | None
    sees_all: bool
    namespaces: tuple[str, ...]  # projects a robot holds permissions in

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        if principal.sysadmin:
            return cls(user_id=principal.user_id, sees_all=True, namespaces=())
        if principal.robot is not None:
            namespaces = robot_namespaces(principal.robot)
            return cls(user_id=None, sees_all=ALL_NAMESPACES in namespaces, namespaces=namespaces)
        return cls(user_id=principal.user_id, sees_all=False, namespaces=())


def robot_namespaces(robot: Robot) -> tuple[str, ...]:
    """The projects a robot holds project permissions in ("*": every project, for system robots)."""
    names = []
    for permission in robot.permissions:
        if permission.kind != "project" or not any(_in_list(entry) for entry in permission.access):
            continue
        if robot.level == "project" and permission.namespace != robot.project_name:
            continue
        names.append(permission.namespace)
    return tuple(sorted(set(names)))


def _in_list(entry: rbac.Permission) -> bool:
    """Whether a stored entry is one Harbor's robot project list holds; others grant nothing."""
    try:
        rbac.robot_project_policies([entry])
    except ValueError:
        return False
    return True


def robot_policies(robot: Robot, project_id: int, project_name: str) -> frozenset[Policy]:
    """The project policies a robot's permissions give it in this project; unknown entries grant nothing."""
    if robot.level == "project" and robot.project_id != project_id:
        return frozenset()
    policies: set[Policy] = set()
    for permission in robot.permissions:
        if permission.kind != "project" or permission.namespace not in (ALL_NAMESPACES, project_name):
            continue
        if robot.level == "project" and permission.namespace != project_name:
            continue
        for entry in permission.access:
            try:
                policies |= rbac.robot_project_policies([entry])
            except ValueError:
                continue
    return frozenset(policies)


def robot_may(robot: Robot, resource: str, action: Action) -> bool:
    """A system-level permission of a system robot (namespace "/"), e.g. ("project", create); only one
    on Harbor's system robot list counts, whatever a stored row holds."""
    if robot.level != "system" or not rbac.robot_system_allows(resource, action.value):
        return False
    return any(
        permission.kind == "system" and entry.resource == resource and entry.action == action.value
        for permission in robot.permissions
        for entry in permission.access
    )


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """What one principal holds in one project."""

    sysadmin: bool
    policies: frozenset[Policy]
    member: bool  # holds a role, or robot permissions, there

    @property
    def visible(self) -> bool:
        return self.sysadmin or self.member or (Resource.PROJECT, Action.READ) in self.policies

    def allows(self, resource: Resource, action: Action) -> bool:
        return self.sysadmin or (resource, action) in self.policies


def project_access(
    principal: Principal, *, project_id: int, project_name: str, public: bool, roles: frozenset[rbac.Role]
) -> ProjectAccess:
    if principal.sysadmin:
        return ProjectAccess(sysadmin=True, policies=frozenset(), member=True)
    own: frozenset[Policy]
    if principal.robot is not None:
        own = robot_policies(principal.robot, project_id, project_name)
    elif principal.user_id is not None:
        own = rbac.policies_of(roles)
    else:
        own = frozenset()
    policies = own | rbac.PUBLIC_PROJECT_POLICIES if public else own
    return ProjectAccess(sysadmin=False, policies=policies, member=bool(own))


def refuse(principal: Principal, what: str) -> Exception:
    """Anonymous callers are asked to authenticate; known ones are told no."""
    if principal.kind == "anonymous":
        return Unauthorized(f"authentication is required to {what}")
    return Forbidden(f"{principal.name} may not {what}")


def require_system(principal: Principal, resource: str, action: Action, what: str) -> None:
    """Harbor's RequireSystemAccess: the sysadmin, or a system robot granted (resource, action)."""
    if principal.sysadmin:
        return
    if principal.robot is not None and robot_may(principal.robot, resource, action):
        return
    raise refuse(principal, what)
