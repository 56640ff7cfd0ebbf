"""Project rules: who sees what (invisible means 404), who may change what (403), and the transactions.

No aiohttp here; handlers pass a `Principal` and parsed values in, and render what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.common.auth.authenticate import Principal
from services.common.config.keys import ADMIN_ONLY
from services.common.config.live import SystemConfig
from services.common.db import Database, Executor
from services.common.identity import members_store, projects_store
from services.common.identity.models import ADMIN_USER_ID, Project
from services.common.quota import UNLIMITED
from services.common.rbac import Action, Resource, Role
from services.core.auditing import AuditLog
from services.core.errors import BadRequest, Forbidden, ProjectNotEmpty, ProjectNotFound, Unauthorized
from services.core.listing import Page, SortKey, Term
from services.core.projects import store
from services.core.projects.models import (
    PROXY_METADATA,
    PROXY_TYPES,
    Deletability,
    ProjectChanges,
    ProjectRef,
    ProjectView,
    deletability,
    proxy_number,
    valid_project_name,
)
from services.core.quotas import store as quotas_store
from services.core.quotas.service import check_limit
from services.core.security.access import ProjectAccess, Viewer, project_access, refuse, robot_may

log = structlog.get_logger()


class ProjectService:
    def __init__(self, db: Database, audit: AuditLog, config: SystemConfig) -> None:
        self._db = db
        self._config = config
        self._audit_log = audit

    async def _audit(self, tx: Executor, principal: Principal, operation: str, project_id: int, name: str) -> None:
        await self._audit_log.record(
            tx,
            operator=principal.name,
            operation=operation,
            resource_type="project",
            resource=name,
            description=f"{operation} project {name}",
            project_id=project_id,
            project=name,
        )

    async def list(
        self, principal: Principal, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[tuple[ProjectView, ProjectAccess]], int]:
        views, total = await store.list_projects(self._db.reader, Viewer.of(principal), terms, sort, page)
        return [(v, self.access(principal, v)) for v in views], total

    def access(self, principal: Principal, view: ProjectView) -> ProjectAccess:
        return project_access(
            principal, project_id=view.id, project_name=view.name, public=view.public, roles=view.roles
        )

    async def resolve(
        self, principal: Principal, ref: ProjectRef, resource: Resource, action: Action
    ) -> tuple[ProjectView, ProjectAccess]:
        """The project if the principal may do `action` on `resource` there.

        A project it cannot see is a 404, exactly like one that does not exist; a visible one where the
        action is not allowed is a 401 (anonymous) or 403."""
        if principal.kind == "anonymous" and action not in (Action.READ, Action.LIST):
            # Nothing but reading is ever open to anonymous callers: ask for credentials, reveal nothing.
            raise Unauthorized(f"authentication is required to {action.value} {resource.value}")
        view, access = await self.visible(principal, ref)
        if not access.allows(resource, action):
            raise refuse(principal, f"{action.value} {resource.value} in project {view.name}")
        return view, access

    async def visible(self, principal: Principal, ref: ProjectRef) -> tuple[ProjectView, ProjectAccess]:
        """The project if the principal may see it (a 404 otherwise, as if it did not exist); what it may
        do there is the caller's check, for the few operations Harbor allows by more than one policy."""
        view = await store.project_view(self._db.pool, principal.user_id, project_id=ref.id, name=ref.name)
        if view is None:
            raise ProjectNotFound(f"project {str(ref)[:100]} not found")
        access = self.access(principal, view)
        if not access.visible:
            raise ProjectNotFound(f"project {str(ref)[:100]} not found")
        return view, access

    async def exists(self, principal: Principal, name: str) -> bool:
        """Whether a project of that name exists, private or not (the "new project" form's check): for
        authenticated callers only, as Harbor's RequireAuthenticated, so an anonymous caller cannot tell a
        private project's name from a free one."""
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to check a project name")
        return await store.project_exists(self._db.pool, name)

    async def create(
        self,
        principal: Principal,
        name: str,
        changes: ProjectChanges,
        storage_limit: int | None = None,
        *,
        registry_id: int | None = None,
    ) -> Project:
        """A project; with `registry_id`, a proxy cache of that registry endpoint (the sysadmin's to
        create, as Harbor's), whose pulls that miss are fetched from it."""
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to create a project")
        if principal.robot is not None and not robot_may(principal.robot, "project", Action.CREATE):
            raise Forbidden(f"{principal.name} may not create projects")
        if (
            self._config.get("project_creation_restriction") == ADMIN_ONLY
            and not principal.sysadmin
            and principal.robot is None  # a system robot granted project create, checked above
        ):
            # Harbor's words, with the setting that decides it.
            raise Forbidden("Only system admin can create project (project_creation_restriction is adminonly)")
        if not valid_project_name(name):
            raise BadRequest(
                "project_name must be 1 to 255 characters of lowercase letters, digits and . _ -,"
                " starting and ending with a letter or digit, with no two separators in a row"
            )
        if storage_limit is not None:
            check_limit(storage_limit, "storage_limit")
        metadata = await self._proxy_metadata(principal, registry_id, changes.metadata)
        # Harbor's rule: the limit asked for is the sysadmin's to give; anyone else's project (and an
        # omitted or 0 limit) gets storage_per_project.
        if storage_limit is None or storage_limit == 0 or not principal.sysadmin:
            storage_limit = int(self._config.get("storage_per_project"))
        # A robot owns nothing: its projects belong to the admin, as Harbor's do to the robot's creator.
        owner_id = principal.user_id if principal.user_id is not None else ADMIN_USER_ID
        async with self._db.transaction() as tx:
            project = await projects_store.create_project(
                tx, name, owner_id=owner_id, public=bool(changes.public), metadata=metadata, registry_id=registry_id
            )
            if storage_limit != UNLIMITED:
                await quotas_store.set_project_limit(tx, project.id, storage_limit)
            if principal.user_id is not None:
                await members_store.add_member(tx, project.id, "u", principal.user_id, Role.PROJECT_ADMIN)
            await self._audit(tx, principal, "create", project.id, name)
        log.info("project_created", project_id=project.id, project=name, registry_id=registry_id)
        return project

    async def _proxy_metadata(
        self, principal: Principal, registry_id: int | None, metadata: dict[str, str]
    ) -> dict[str, str]:
        """The metadata a new project keeps: Harbor's proxy-cache rules. Without an endpoint the
        proxy-cache numbers are dropped; with one, the caller must be a sysadmin, the endpoint must exist
        and be of a type that can be proxied, and the numbers must be 32-bit integers."""
        if registry_id is None:
            return {k: v for k, v in metadata.items() if k not in PROXY_METADATA}
        if not principal.sysadmin:
            raise Forbidden("Only system admin can create proxy cache project")
        kind = await store.registry_type(self._db.pool, registry_id)
        if kind is None:
            raise BadRequest(f"registry {registry_id} not found: registry_id must name a registry endpoint")
        if kind not in PROXY_TYPES:
            raise BadRequest(f"unsupported registry type {kind}: a proxy cache needs one of {', '.join(PROXY_TYPES)}")
        # Harbor ignores content trust for proxy caches (goharbor/harbor#12940): what it caches is unsigned.
        kept = {k: v for k, v in metadata.items() if k != "enable_content_trust"}
        for key in PROXY_METADATA & kept.keys():
            kept[key] = proxy_number(key, kept[key])
        return kept

    async def update(self, principal: Principal, ref: ProjectRef, changes: ProjectChanges) -> None:
        # Project (self) update is projectAdmin's alone: maintainers writing it was CVE-2024-22278.
        view, _ = await self.resolve(principal, ref, Resource.PROJECT, Action.UPDATE)
        async with self._db.transaction() as tx:
            await store.update_project(tx, view.id, changes.public, changes.metadata)
            await self._audit(tx, principal, "update", view.id, view.name)
        log.info("project_updated", project_id=view.id, project=view.name)

    async def deletable(self, principal: Principal, ref: ProjectRef) -> Deletability:
        """Whether DELETE would succeed now (Harbor's _deletable: asked with the delete permission)."""
        view, _ = await self.resolve(principal, ref, Resource.PROJECT, Action.DELETE)
        return deletability(view.name, view.repo_count)

    async def delete(self, principal: Principal, ref: ProjectRef) -> None:
        view, _ = await self.resolve(principal, ref, Resource.PROJECT, Action.DELETE)
        async with self._db.transaction() as tx:
            count = await store.lock_repo_count(tx, view.id)
            if count is None:
                raise ProjectNotFound(f"project {view.name} not found")
            verdict = deletability(view.name, count)
            if not verdict.deletable:
                raise ProjectNotEmpty(verdict.message)
            await store.delete_project(tx, view.id)
            await self._audit(tx, principal, "delete", view.id, view.name)
        log.info("project_deleted", project_id=view.id, project=view.name)
