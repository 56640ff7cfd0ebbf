"""Who may read which audit entries (Harbor's rules): the sysadmin every entry; a projectAdmin those of
its projects, through /projects/{p}/logs or the combined /audit-logs; nobody else any."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.identity import members_store
from services.common.rbac import Action, Resource, Role
from services.core.audit import store
from services.core.audit.models import EVENT_TYPES, AuditView
from services.core.errors import Unauthorized
from services.core.listing import Page, SortKey, Term
from services.core.projects.models import ProjectRef
from services.core.projects.service import ProjectService
from services.core.security.access import robot_policies


class AuditService:
    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    async def list_all(
        self,
        principal: Principal,
        terms: Sequence[Term],
        sort: Sequence[SortKey],
        page: Page,
        *,
        failures: bool = False,
    ) -> tuple[list[AuditView], int]:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to read the audit log")
        project_ids: list[int] | None
        if principal.sysadmin:
            project_ids = None
        elif principal.robot is not None:
            robot = principal.robot
            project_ids = [robot.project_id] if robot.project_id is not None else []
            if robot.project_id is not None and robot.project_name is not None:
                allowed = (Resource.LOG, Action.LIST) in robot_policies(robot, robot.project_id, robot.project_name)
                project_ids = project_ids if allowed else []
        else:
            assert principal.user_id is not None
            project_ids = await members_store.projects_with_role(self._db.pool, principal.user_id, Role.PROJECT_ADMIN)
        if project_ids == []:
            return [], 0
        return await store.list_entries(self._db.pool, project_ids, terms, sort, page, failures=failures)

    async def list_project(
        self,
        principal: Principal,
        ref: ProjectRef,
        terms: Sequence[Term],
        sort: Sequence[SortKey],
        page: Page,
        *,
        failures: bool = False,
    ) -> tuple[list[AuditView], int]:
        view, _ = await self._projects.resolve(principal, ref, Resource.LOG, Action.LIST)
        return await store.list_entries(self._db.pool, [view.id], terms, sort, page, failures=failures)

    def event_types(self, principal: Principal) -> list[str]:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to read the audit log's event types")
        return list(EVENT_TYPES)
