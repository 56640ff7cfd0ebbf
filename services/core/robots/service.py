"""Robot rules: who may create, read, change and delete robot accounts, and what they may be given.

Harbor's rules: a project robot is managed with the robot policies of its project (projectAdmin: create,
read, update, delete, list; maintainer, developer and guest: read and list; limitedGuest: nothing); a
system robot by the sysadmin only. A project robot holds permissions in its own project alone; a robot
is given entries of Harbor's robot permission lists only (rbac.ROBOT_PROJECT_POLICIES and
SYSTEM_ROBOT_RESOURCES, a 400 naming any other), and nobody may give a robot more than they hold
themselves. A robot of a project the caller cannot see is a 404, so nobody learns of, or manages,
another project's robots. The secret leaves this module only as
the return value of `create` and `refresh_secret`; only its argon2id hash is stored.
No aiohttp here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

import structlog

from services.common import rbac
from services.common.auth.authenticate import Principal
from services.common.auth.passwords import PasswordHasher, generate_secret
from services.common.config.live import SystemConfig
from services.common.db import Database, Executor
from services.common.identity import members_store, robots_store
from services.common.identity.models import RobotLevel, RobotPermission, project_robot_name, system_robot_name
from services.common.rbac import Action, Resource, Role
from services.core.auditing import AuditLog
from services.core.errors import BadRequest, Forbidden, ProjectNotFound, RobotNotFound
from services.core.listing import Page
from services.core.projects.models import ProjectRef
from services.core.projects.service import ProjectService
from services.core.robots import store
from services.core.robots.models import (
    MAX_DESCRIPTION,
    NewRobot,
    RobotChanges,
    RobotView,
    duration_problem,
    expiry,
    robot_name_problem,
)
from services.core.security.access import refuse
from services.core.users.models import password_problem

log = structlog.get_logger()

SYSTEM_NAMESPACE = "/"
ALL_PROJECTS = "*"


def _system_permission_problem(permission: RobotPermission) -> str | None:
    if permission.namespace != SYSTEM_NAMESPACE:
        return f"a system permission has the namespace {SYSTEM_NAMESPACE!r}"
    for entry in permission.access:
        if rbac.SYSTEM_ROBOT_RESOURCES.get(entry.resource) is None:
            return f"unknown system robot permission resource {entry.resource[:100]!r}"
        if not rbac.robot_system_allows(entry.resource, entry.action):
            return (
                f"robot permission {entry.action[:100]!r} on system resource {entry.resource!r} is not a system"
                " permission a robot may be given (see GET /api/v2.0/permissions)"
            )
    return None


def _project_policies(permission: RobotPermission) -> frozenset[rbac.Policy]:
    try:
        return rbac.robot_project_policies(permission.access)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


class RobotService:
    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        audit: AuditLog,
        hasher: PasswordHasher | None = None,
        *,
        config: SystemConfig,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._db = db
        self._projects = projects
        self._audit_log = audit
        self._config = config
        self._hasher = hasher or PasswordHasher()
        self._clock = clock

    async def _audit(
        self,
        tx: Executor,
        principal: Principal,
        operation: str,
        name: str,
        description: str,
        *,
        project_id: int | None,
        project: str | None,
    ) -> None:
        """`project_id` and `project` (its name): a project robot's project; None for a system robot."""
        await self._audit_log.record(
            tx,
            operator=principal.name,
            operation=operation,
            resource_type="robot",
            resource=name,
            description=description,
            project_id=project_id,
            project=project,
        )

    async def _grantable(
        self, principal: Principal, level: RobotLevel, permissions: Sequence[RobotPermission], action: Action
    ) -> tuple[int | None, str | None]:
        """Checks that the caller may `action` robots holding these permissions; the project (id, name)
        of a project robot."""
        if level == "project":
            if len(permissions) != 1 or permissions[0].kind != "project":
                raise BadRequest("a project robot needs exactly one permission, of kind project")
            permission = permissions[0]
            if permission.namespace in (ALL_PROJECTS, SYSTEM_NAMESPACE) or not permission.namespace:
                raise BadRequest("the namespace of a project robot's permission is its project's name")
            view, access = await self._projects.resolve(
                principal, ProjectRef(name=permission.namespace), Resource.ROBOT, action
            )
            wanted = _project_policies(permission)
            if not access.sysadmin and not wanted <= access.policies:
                raise Forbidden(f"{principal.name} may not give a robot permissions it does not hold")
            return view.id, view.name
        if not principal.sysadmin:
            raise refuse(principal, f"{action.value} system robot accounts")
        for permission in permissions:
            if permission.kind == "system":
                if problem := _system_permission_problem(permission):
                    raise BadRequest(problem)
            elif permission.kind == "project":
                if permission.namespace != ALL_PROJECTS and not await self._projects.exists(
                    principal, permission.namespace
                ):
                    raise BadRequest(f"project {permission.namespace[:100]!r} of a robot permission not found")
                _project_policies(permission)
            else:
                raise BadRequest("a robot permission's kind is project or system")
        return None, None

    async def _authorized(self, principal: Principal, robot_id: int, action: Action) -> RobotView:
        robot = await store.robot_view(self._db.pool, robot_id)
        if robot is None:
            raise RobotNotFound(f"robot account {robot_id} not found")
        if robot.level == "system":
            if not principal.sysadmin:
                raise refuse(principal, f"{action.value} system robot accounts")
            return robot
        try:
            await self._projects.resolve(principal, ProjectRef(id=robot.project_id), Resource.ROBOT, action)
        except ProjectNotFound:
            raise RobotNotFound(f"robot account {robot_id} not found") from None
        return robot

    async def permissions(self, principal: Principal) -> dict[str, tuple[tuple[str, str], ...]]:
        """What robots may be given (GET /permissions), as Harbor answers it: both lists for a sysadmin, the
        project list alone for a user who is projectAdmin somewhere (Harbor hides the system list from
        project admins), and nothing for anyone else (robots included)."""
        if principal.sysadmin:
            return dict(rbac.ROBOT_PERMISSIONS)
        if (
            principal.kind == "user"
            and principal.user_id is not None
            and await members_store.projects_with_role(self._db.pool, principal.user_id, Role.PROJECT_ADMIN)
        ):
            return {"system": (), "project": rbac.ROBOT_PERMISSIONS["project"]}
        raise refuse(principal, "see the robot permission lists (system and project admins only)")

    async def list(
        self, principal: Principal, level: RobotLevel | None, project_id: int | None, page: Page
    ) -> tuple[list[RobotView], int]:
        if not principal.sysadmin:
            if project_id is None or level == "system":
                raise refuse(principal, "list robot accounts other than a project's (q=Level=project,ProjectID=…)")
            await self._projects.resolve(principal, ProjectRef(id=project_id), Resource.ROBOT, Action.LIST)
            level = "project"
        return await store.list_robots(self._db.pool, level=level, project_id=project_id, name=None, page=page)

    async def get(self, principal: Principal, robot_id: int) -> RobotView:
        return await self._authorized(principal, robot_id, Action.READ)

    async def create(self, principal: Principal, new: NewRobot) -> tuple[RobotView, str]:
        project_id, project_name = await self._grantable(principal, new.level, new.permissions, Action.CREATE)
        if new.duration == 0:  # Harbor's rule: 0 is the configured robot_token_duration
            new = dataclasses.replace(new, duration=self._config.get("robot_token_duration"))
        problem = (
            robot_name_problem(new.name)
            or duration_problem(new.duration)
            or (
                f"description must be at most {MAX_DESCRIPTION} characters"
                if len(new.description) > MAX_DESCRIPTION
                else None
            )
            or (password_problem(new.secret) if new.secret is not None else None)
        )
        if problem:
            raise BadRequest(problem)
        secret = new.secret or generate_secret()
        # The prefix configured now; the robot keeps it (robots.name_prefix) when the configuration changes.
        prefix = self._config.get("robot_name_prefix")
        full_name = (
            project_robot_name(project_name, new.name, prefix) if project_name else system_robot_name(new.name, prefix)
        )
        secret_hash = await self._hasher.hash(secret)
        async with self._db.transaction() as tx:
            robot = await robots_store.create_robot(
                tx,
                full_name,
                secret_hash=secret_hash,
                level=new.level,
                permissions=new.permissions,
                project_id=project_id,
                description=new.description,
                disabled=new.disabled,
                expires_at=expiry(self._clock(), new.duration),
                name_prefix=prefix,
            )
            await self._audit(
                tx,
                principal,
                "create",
                robot.name,
                f"create {robot.level} robot {robot.name}",
                project_id=project_id,
                project=project_name,
            )
        log.info("robot_created", robot_id=robot.id, robot=robot.name, level=robot.level, by=principal.name)
        view = await store.robot_view(self._db.pool, robot.id)
        assert view is not None
        return view, secret

    async def update(self, principal: Principal, robot_id: int, changes: RobotChanges) -> None:
        robot = await self._authorized(principal, robot_id, Action.UPDATE)
        permissions = robot.permissions
        if changes.permissions is not None:
            await self._grantable(principal, robot.level, changes.permissions, Action.UPDATE)
            if robot.level == "project" and changes.permissions[0].namespace != robot.project_name:
                raise BadRequest("a project robot's permission stays in its own project")
            permissions = changes.permissions
        description = robot.description if changes.description is None else changes.description
        if len(description) > MAX_DESCRIPTION:
            raise BadRequest(f"description must be at most {MAX_DESCRIPTION} characters")
        expires_at = robot.expires_at
        if changes.duration is not None:
            duration = changes.duration or self._config.get("robot_token_duration")
            if problem := duration_problem(duration):
                raise BadRequest(problem)
            expires_at = expiry(robot.created_at, duration)
        disabled = robot.disabled if changes.disabled is None else changes.disabled
        async with self._db.transaction() as tx:
            if not await store.update_robot(
                tx,
                robot_id,
                description=description,
                disabled=disabled,
                expires_at=expires_at,
                permissions=permissions,
            ):
                raise RobotNotFound(f"robot account {robot_id} not found")
            what = "update robot" if disabled == robot.disabled else ("disable robot" if disabled else "enable robot")
            await self._audit(
                tx,
                principal,
                "update",
                robot.name,
                f"{what} {robot.name}",
                project_id=robot.project_id,
                project=robot.project_name,
            )
        log.info("robot_updated", robot_id=robot_id, disabled=disabled, by=principal.name)

    async def refresh_secret(self, principal: Principal, robot_id: int, secret: str | None) -> str:
        robot = await self._authorized(principal, robot_id, Action.UPDATE)
        if secret and (problem := password_problem(secret)):
            raise BadRequest(problem)
        secret = secret or generate_secret()
        secret_hash = await self._hasher.hash(secret)
        async with self._db.transaction() as tx:
            if not await store.set_secret_hash(tx, robot_id, secret_hash):
                raise RobotNotFound(f"robot account {robot_id} not found")
            # That it was refreshed, never the secret.
            await self._audit(
                tx,
                principal,
                "update",
                robot.name,
                f"refresh secret of robot {robot.name}",
                project_id=robot.project_id,
                project=robot.project_name,
            )
        log.info("robot_secret_refreshed", robot_id=robot_id, by=principal.name)
        return secret

    async def delete(self, principal: Principal, robot_id: int) -> None:
        robot = await self._authorized(principal, robot_id, Action.DELETE)
        async with self._db.transaction() as tx:
            if not await store.delete_robot(tx, robot_id):
                raise RobotNotFound(f"robot account {robot_id} not found")
            await self._audit(
                tx,
                principal,
                "delete",
                robot.name,
                f"delete robot {robot.name}",
                project_id=robot.project_id,
                project=robot.project_name,
            )
        log.info("robot_deleted", robot_id=robot_id, by=principal.name)
