"""What a principal gets: for each requested scope, the requested actions it holds, and nothing more.

`repository:<project>/<path>:<actions>` is judged in the project named by the first path component: a
sysadmin holds everything; a member holds what its roles allow (services.common.rbac, the table core
uses too); a robot what its permissions list for that project; anyone, anonymous included, may pull from
a public project. A project that does not exist, or a name outside the repository grammar, grants
nothing. `registry:catalog:*` is for sysadmins only.

Every repository entry that grants something carries the id of the project it was granted in (the same
for users, robots and anonymous pulls of public projects): the registry refuses it once the project of
that name has another id, or none.

Everything here but `Authorizer.grant` is pure, so the rules are tested without a database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from services.common import rbac
from services.common.auth import scopes
from services.common.auth.scopes import Access, InvalidScope, merge, parse_scope
from services.common.db import Database
from services.common.identity import access_store
from services.common.identity.models import ProjectAccess, Robot
from services.common.oci.names import is_valid_name
from services.token.authenticate import Identified, Principal
from services.token.errors import MalformedScope

REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"
# The repository actions a token can carry; "*" stands for all three together.
REPOSITORY_ACTIONS = frozenset({"pull", "push", "delete"})
ALL = "*"
# More scopes than any client sends; the cap keeps one request's work bounded.
MAX_SCOPES = 64


def parse_scopes(values: Iterable[str]) -> list[Access]:
    """The `scope` parameters (repeatable; each may hold several scopes separated by spaces, as in the
    OAuth2 form), merged per resource. Unknown types and malformed scopes are refused with a 400."""
    parsed: list[Access] = []
    for value in values:
        for item in value.split():
            if len(parsed) >= MAX_SCOPES:
                raise MalformedScope(f"more than {MAX_SCOPES} scopes in one request")
            try:
                access = parse_scope(item)
            except InvalidScope as exc:
                raise MalformedScope(str(exc)) from None
            if access.type == REGISTRY:
                if access.name != CATALOG:
                    raise MalformedScope(f"unknown registry resource {access.name[:100]!r}; only 'catalog' exists")
            elif access.type != REPOSITORY:
                raise MalformedScope(f"unknown scope type {access.type[:100]!r}; expected 'repository' or 'registry'")
            parsed.append(access)
    return merge(parsed)


def project_of(repository: str) -> str | None:
    """The project a repository name lives in; None for a name outside the grammar or without a project."""
    return scopes.project_of(repository) if is_valid_name(repository) else None


def projects_named(requested: Iterable[Access]) -> list[str]:
    names = {project_of(a.name) for a in requested if a.type == REPOSITORY}
    return sorted(n for n in names if n is not None)


def robot_actions(robot: Robot, project: ProjectAccess, now: dt.datetime) -> frozenset[str]:
    """The repository actions a robot's permissions give it in `project`.

    A project robot counts only permissions for its own project; a system robot those for the project
    by name or for every project ("*"). Entries outside Harbor's robot list (rbac.ROBOT_PROJECT_POLICIES)
    grant nothing."""
    if robot.disabled or robot.expired(now):
        return frozenset()
    policies: set[rbac.Policy] = set()
    for permission in robot.permissions:
        if permission.kind != "project":
            continue
        if robot.level == "project":
            if robot.project_id != project.id or permission.namespace != project.name:
                continue
        elif permission.namespace not in (ALL, project.name):
            continue
        for entry in permission.access:
            try:
                policies |= rbac.robot_project_policies([entry])
            except ValueError:
                continue
    return rbac.registry_actions(frozenset(policies))


def held_actions(principal: Principal, project: ProjectAccess, now: dt.datetime) -> frozenset[str]:
    """Every repository action `principal` holds in `project`, "*" included when it holds all three."""
    if principal.sysadmin:
        return REPOSITORY_ACTIONS | {ALL}
    if principal.robot is not None:
        actions = robot_actions(principal.robot, project, now)
    elif principal.user_id is not None:
        actions = rbac.registry_actions(rbac.policies_of(project.roles))
    else:
        actions = frozenset()
    if project.public:
        actions |= {"pull"}
    if actions >= REPOSITORY_ACTIONS:
        actions |= {ALL}
    return actions


def grant(
    requested: Iterable[Access], principal: Principal, projects: Mapping[str, ProjectAccess], now: dt.datetime
) -> list[Access]:
    """One entry per requested resource, with the requested actions the principal holds (maybe none)."""
    granted = []
    for access in requested:
        project: ProjectAccess | None = None
        if access.type == REGISTRY:
            held: frozenset[str] = frozenset({ALL}) if principal.sysadmin else frozenset()
        else:
            name = project_of(access.name)
            project = projects.get(name) if name is not None else None
            held = held_actions(principal, project, now) if project is not None else frozenset()
        actions = tuple(a for a in access.actions if a in held)
        # A repository grant names the id of the project it was judged in: the registry honours it only
        # while the project of that name still has that id. Only on an entry that grants something: an
        # empty one must not tell an anonymous client that a private project exists.
        project_id = project.id if project is not None and actions else None
        granted.append(Access(access.type, access.name, actions, project_id))
    return granted


class Authorizer:
    """Grants from the projects the authenticator fetched, or looks them all up in one query."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def grant(self, identified: Identified, requested: list[Access], now: dt.datetime) -> list[Access]:
        projects = identified.projects
        if projects is None:
            names = projects_named(requested)
            principal_id = identified.principal.user_id
            projects = await access_store.project_access(self._db.pool, names, principal_id) if names else {}
        return grant(requested, identified.principal, projects, now)
