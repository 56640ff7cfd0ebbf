"""What the current principal may do in one scope: Harbor's GET /users/current/permissions.

A scope is Harbor's RBAC namespace: `/project/{id}` (and anything below it, `/project/{id}/repository`)
names one project, anything starting with `/system` the system. The answer lists every policy of that
namespace the principal holds, as Harbor's full resources (`/project/1/repository`, `/project/1` for the
project itself, `/system/user`) or, with `relative`, relative to the scope string as given (`repository`,
`.`, `user`); a resource not under the scope string is left out then, as in Harbor.

Which policies are held is what core enforces (services.core.security.access): a sysadmin holds all of
them, in any project id (Harbor's admin evaluator does not look the project up); a user what its roles and a
public project give; a robot its permissions (project ones in the project, system ones at /system); a
private project the principal holds nothing in gives nothing, exactly like one that does not exist (so the
answer never reveals it). Anonymous callers get a 401 (Harbor's RequireAuthenticated). No aiohttp here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.rbac import (
    PROJECT_POLICIES,
    ROBOT_PERMISSIONS,
    ROBOT_PROJECT_POLICIES,
    Action,
    Policy,
    Resource,
)
from services.core.errors import Unauthorized
from services.core.projects import store as projects_store
from services.core.projects.service import ProjectService
from services.core.security.access import robot_may

# Harbor's project namespace parser: the path component after /project/, read as Go's ParseInt (base 10,
# an optional sign, int64); the system namespace is any resource with this prefix.
_PROJECT_SCOPE = re.compile(r"/project/([^/]*)")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64 = 2**63
SYSTEM_PREFIX = "/system"

_RESOURCES, _ACTIONS = list(Resource), list(Action)
# Every policy a project namespace holds (Harbor's GetPoliciesOfProject: what any role holds, plus what
# only a robot may be given), in the order of the Resource and Action enums.
PROJECT_SCOPE_POLICIES: tuple[Policy, ...] = tuple(
    sorted(
        frozenset[Policy]().union(*PROJECT_POLICIES.values(), ROBOT_PROJECT_POLICIES),
        key=lambda p: (_RESOURCES.index(p[0]), _ACTIONS.index(p[1])),
    )
)
# The system namespace's policies (Harbor's system/policies.go), as the robot permission list has them.
SYSTEM_SCOPE_POLICIES: tuple[tuple[str, str], ...] = ROBOT_PERMISSIONS["system"]


def project_of_scope(scope: str) -> int | None:
    """The project id a `/project/{id}...` scope names; None when it names no project namespace."""
    match = _PROJECT_SCOPE.match(scope)
    if match is None or not _GO_INT.fullmatch(match.group(1)):
        return None
    value = int(match.group(1))
    return value if -_INT64 <= value < _INT64 else None


def project_resource(project_id: int, resource: Resource) -> str:
    """Harbor's full resource name: the project itself is the namespace, `/project/1`."""
    base = f"/project/{project_id}"
    return base if resource is Resource.PROJECT else f"{base}/{resource.value}"


def relative_to(resource: str, scope: str) -> str | None:
    """Harbor's Resource.RelativeTo: `resource` with the scope string taken off its front (and a `/`
    after it), `.` when nothing is left; None when the resource does not start with the scope."""
    if not resource.startswith(scope):
        return None
    return resource.removeprefix(scope).removeprefix("/") or "."


def _system_allows(principal: Principal, resource: str, action: str) -> bool:
    """A user holds system permissions only as a sysadmin; a system robot those it was given."""
    if principal.sysadmin:
        return True
    return principal.robot is not None and robot_may(principal.robot, resource, Action(action))


class PermissionService:
    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    async def current(self, principal: Principal, scope: str, *, relative: bool) -> list[tuple[str, str]]:
        """(resource, action) pairs the principal holds in `scope`, in a fixed order."""
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to list your permissions")
        granted = await self._granted(principal, scope)
        if not relative:
            return granted
        return [(r, action) for resource, action in granted if (r := relative_to(resource, scope)) is not None]

    async def _granted(self, principal: Principal, scope: str) -> list[tuple[str, str]]:
        project_id = project_of_scope(scope)
        if project_id is not None:
            allows = await self._project_allows(principal, project_id)
            return [
                (project_resource(project_id, resource), action.value)
                for resource, action in PROJECT_SCOPE_POLICIES
                if allows(resource, action)
            ]
        if scope.startswith(SYSTEM_PREFIX):
            return [
                (f"{SYSTEM_PREFIX}/{resource}", action)
                for resource, action in SYSTEM_SCOPE_POLICIES
                if _system_allows(principal, resource, action)
            ]
        return []

    async def _project_allows(self, principal: Principal, project_id: int) -> Callable[[Resource, Action], bool]:
        if principal.sysadmin:
            return lambda resource, action: True
        view = await projects_store.project_view(self._db.pool, principal.user_id, project_id=project_id)
        if view is None:
            return lambda resource, action: False
        return self._projects.access(principal, view).allows
