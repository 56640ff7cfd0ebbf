"""Label rules, as Harbor's: global labels are read by anybody authenticated and written by the system
administrator; a project's labels are read and written by whoever holds the `label` permission there
(a project the caller cannot see hides its labels: 404). Which label may go on an artifact of a project
is decided here (`attachable`: global, or of that project); attaching it is the artifacts' (the
`artifact-label` permission there). Creating, changing and deleting a label is audited in the change's
transaction; attaching and detaching are not (Harbor records neither). No aiohttp here."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.common.auth.authenticate import Principal
from services.common.cache import LookupCache
from services.common.db import Database, Executor
from services.common.rbac import Action, Resource
from services.core.auditing import AuditLog
from services.core.errors import BadRequest, Forbidden, NotFound, ProjectNotFound, Unauthorized
from services.core.labels import store
from services.core.labels.models import (
    GLOBAL,
    LabelFields,
    LabelFilter,
    LabelNotFound,
    LabelView,
    Scope,
    field_problem,
)
from services.core.listing import Page, SortKey, Term
from services.core.projects.models import ProjectRef
from services.core.projects.service import ProjectService
from services.core.security.access import refuse

log = structlog.get_logger()

LabelPage = tuple[list[LabelView], int]
_READS = (Action.READ, Action.LIST)


def _missing(label_id: int) -> LabelNotFound:
    return LabelNotFound(f"label {label_id} not found")


def _describe(label: LabelView) -> str:
    return (
        f"global label {label.name}" if label.scope == GLOBAL else f"label {label.name} of project {label.project_id}"
    )


class LabelService:
    """Label changes empty this process's artifact list cache at once (they are rare; the notifications
    of migration 0009 drop exactly the repositories concerned, in every process)."""

    def __init__(self, db: Database, projects: ProjectService, cache: LookupCache, audit: AuditLog) -> None:
        self._db = db
        self._projects = projects
        self._cache = cache
        self._audit_log = audit

    async def _audit(
        self, tx: Executor, principal: Principal, operation: str, label: LabelView, what: str, project: str | None
    ) -> None:
        await self._audit_log.record(
            tx,
            operator=principal.name,
            operation=operation,
            resource_type="label",
            resource=label.name,
            description=f"{operation} {what}",
            project_id=label.project_id,
            project=project,
        )

    async def _require(self, principal: Principal, scope: Scope, project_id: int | None, action: Action) -> str | None:
        """The caller may do `action` on labels of this scope (and project); a project it cannot see is
        a ProjectNotFound, which callers turn into what they are about. Returns the project's name (None
        for global labels)."""
        if scope == GLOBAL:
            if action in _READS and principal.kind != "anonymous":
                return None
            if principal.sysadmin:
                return None
            raise refuse(principal, f"{action.value} global labels")
        assert project_id is not None
        view, _ = await self._projects.resolve(principal, ProjectRef(id=project_id), Resource.LABEL, action)
        return view.name

    async def _visible(self, principal: Principal, label_id: int, action: Action) -> tuple[LabelView, str | None]:
        """The label (and its project's name) if the caller may do `action` on it; one of an invisible
        project is a 404 too."""
        if principal.kind == "anonymous" and action not in _READS:
            raise Unauthorized(f"authentication is required to {action.value} labels")
        found = await store.label(self._db.pool, label_id)
        if found is None:
            raise _missing(label_id)
        try:
            project = await self._require(principal, found.scope, found.project_id, action)
        except ProjectNotFound:
            raise _missing(label_id) from None
        return found, project

    async def list(
        self,
        principal: Principal,
        where: LabelFilter,
        terms: Sequence[Term],
        sort: Sequence[SortKey],
        page: Page,
    ) -> LabelPage:
        await self._require(principal, where.scope, where.project_id, Action.LIST)
        return await store.list_labels(self._db.pool, where, terms, sort, page)

    async def get(self, principal: Principal, label_id: int) -> LabelView:
        label, _ = await self._visible(principal, label_id, Action.READ)
        return label

    async def create(
        self, principal: Principal, fields: LabelFields, scope: Scope, project_id: int | None
    ) -> LabelView:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to create labels")
        project = await self._require(principal, scope, project_id, Action.CREATE)
        if problem := field_problem(fields):
            raise BadRequest(problem)
        async with self._db.transaction() as tx:
            created = await store.create_label(tx, fields, scope, project_id)
            await self._audit(tx, principal, "create", created, _describe(created), project)
        log.info("label_created", label_id=created.id, scope=scope, project_id=project_id, by=principal.name)
        return created

    async def update(self, principal: Principal, label_id: int, fields: LabelFields) -> LabelView:
        found, project = await self._visible(principal, label_id, Action.UPDATE)
        if problem := field_problem(fields):
            raise BadRequest(problem)
        async with self._db.transaction() as tx:
            updated = await store.update_label(tx, label_id, fields)
            if updated is None:
                raise _missing(label_id)
            renamed = f" (was {found.name})" if found.name != updated.name else ""
            await self._audit(tx, principal, "update", updated, f"{_describe(updated)}{renamed}", project)
        self._cache.clear()
        log.info("label_updated", label_id=label_id, project_id=found.project_id, by=principal.name)
        return updated

    async def delete(self, principal: Principal, label_id: int) -> None:
        _, project = await self._visible(principal, label_id, Action.DELETE)
        # One transaction: the label never disappears while artifacts still show it (or the reverse).
        async with self._db.transaction() as tx:
            deleted = await store.delete_label(tx, label_id)
            if deleted is None:
                raise _missing(label_id)
            label, detached = deleted
            await self._audit(tx, principal, "delete", label, _describe(label), project)
        self._cache.clear()
        log.info("label_deleted", label_id=label_id, project_id=label.project_id, detached=detached, by=principal.name)

    async def attachable(self, principal: Principal, label_id: int, project_id: int) -> LabelView:
        """The label, if it may be put on (or taken off) an artifact of project `project_id`: a global label
        or one of that project. The caller has checked the artifact-label permission in that project."""
        label = await store.label(self._db.pool, label_id)
        if label is None:
            raise _missing(label_id)
        if label.project_id is not None and label.project_id != project_id:
            # Harbor's 400, for a label the caller may read; one of a project it cannot see stays unknown.
            try:
                await self._require(principal, label.scope, label.project_id, Action.READ)
            except (NotFound, Unauthorized, Forbidden):
                raise _missing(label_id) from None
            raise BadRequest(
                f"label {label_id} belongs to another project: only global labels and labels of the"
                " artifact's project can be added"
            )
        return label
