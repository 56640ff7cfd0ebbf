"""Member rules: reading needs the member read/list policy (guest and up, never limitedGuest); changing
needs member create/update/delete (projectAdmin and sysadmin only). Everything is scoped to the project
in the path, so a member id of another project is a 404: nobody manages another project's members."""

from __future__ import annotations

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database, Executor
from services.common.identity import members_store
from services.common.rbac import Action, Resource, Role
from services.core.auditing import AuditLog
from services.core.errors import BadRequest, MemberNotFound
from services.core.listing import Page
from services.core.members import store
from services.core.members.models import GroupRef, MemberView, UserRef
from services.core.projects.models import ProjectRef, ProjectView
from services.core.projects.service import ProjectService

log = structlog.get_logger()


class MemberService:
    def __init__(self, db: Database, projects: ProjectService, audit: AuditLog) -> None:
        self._db = db
        self._projects = projects
        self._audit_log = audit

    async def _audit(
        self, tx: Executor, principal: Principal, operation: str, project: ProjectView, member: MemberView, detail: str
    ) -> None:
        kind = "group" if member.entity_type == "g" else "user"
        where = "from" if operation == "delete" else "in"
        await self._audit_log.record(
            tx,
            operator=principal.name,
            operation=operation,
            resource_type="member",
            resource=f"{project.name}/{member.entity_name}",
            description=" ".join(
                filter(None, [operation, kind, "member", member.entity_name, where, "project", project.name, detail])
            ),
            project_id=project.id,
            project=project.name,
        )

    async def list(
        self, principal: Principal, ref: ProjectRef, entityname: str | None, page: Page
    ) -> tuple[list[MemberView], int]:
        view, _ = await self._projects.resolve(principal, ref, Resource.MEMBER, Action.LIST)
        return await store.list_members(self._db.pool, view.id, entityname, page)

    async def get(self, principal: Principal, ref: ProjectRef, member_id: int) -> MemberView:
        view, _ = await self._projects.resolve(principal, ref, Resource.MEMBER, Action.READ)
        found = await store.member(self._db.pool, view.id, member_id)
        if found is None:
            raise MemberNotFound(f"member {member_id} not found in project {view.name}")
        return found

    async def add(
        self, principal: Principal, ref: ProjectRef, role: Role, user: UserRef | None, group: GroupRef | None
    ) -> MemberView:
        view, _ = await self._projects.resolve(principal, ref, Resource.MEMBER, Action.CREATE)
        async with self._db.transaction() as tx:
            if user is not None:
                entity_id = await store.user_id_of(tx, user)
                if entity_id is None:
                    raise BadRequest(f"user {user.username or user.user_id} not found")
                added = await members_store.add_member(tx, view.id, "u", entity_id, role)
            else:
                assert group is not None
                entity_id = await store.group_id_of(tx, group)
                if entity_id is None:
                    raise BadRequest("user group not found")
                added = await members_store.add_member(tx, view.id, "g", entity_id, role)
            found = await store.member(tx, view.id, added.id)
            assert found is not None
            await self._audit(tx, principal, "create", view, found, f"as {role.harbor_name}")
        log.info("member_added", project_id=view.id, member_id=found.id, role=int(role))
        return found

    async def set_role(self, principal: Principal, ref: ProjectRef, member_id: int, role: Role) -> None:
        view, _ = await self._projects.resolve(principal, ref, Resource.MEMBER, Action.UPDATE)
        async with self._db.transaction() as tx:
            found = await store.member(tx, view.id, member_id)
            if found is None or not await store.set_role(tx, view.id, member_id, role):
                raise MemberNotFound(f"member {member_id} not found in project {view.name}")
            await self._audit(tx, principal, "update", view, found, f"to {role.harbor_name}")
        log.info("member_updated", project_id=view.id, member_id=member_id, role=int(role))

    async def remove(self, principal: Principal, ref: ProjectRef, member_id: int) -> None:
        view, _ = await self._projects.resolve(principal, ref, Resource.MEMBER, Action.DELETE)
        async with self._db.transaction() as tx:
            found = await store.member(tx, view.id, member_id)
            if found is None or not await store.delete_member(tx, view.id, member_id):
                raise MemberNotFound(f"member {member_id} not found in project {view.name}")
            await self._audit(tx, principal, "delete", view, found, "")
        log.info("member_removed", project_id=view.id, member_id=member_id)
