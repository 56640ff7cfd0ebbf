"""A project's metadata one key at a time (Harbor's /projects/{p}/metadatas): the keys, their values as
Harbor stores them (strings: "true"/"false", numbers in decimal), who may read and change them.

The values live where project create and update keep them: the project row's `public` column and its
`metadata` (services.common.identity.projects_store), so both APIs always show the same settings. No
aiohttp here; handlers pass a `Principal` and parsed strings in.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database, Executor
from services.common.rbac import Action, Resource
from services.core.auditing import AuditLog
from services.core.errors import BadRequest, Conflict, NotFound, ProjectNotFound
from services.core.listing import parse_bool
from services.core.projects import store
from services.core.projects.models import (
    BOOL_METADATA,
    SEVERITIES,
    TEXT_METADATA,
    ProjectRef,
    ProjectView,
    proxy_number,
)
from services.core.projects.service import ProjectService
from services.core.security.access import refuse

log = structlog.get_logger()

METADATA_KEYS = BOOL_METADATA | TEXT_METADATA
# Harbor's tag retention sets this key when a policy is bound to the project; its metadata API refuses
# it ("invalid key"), so a client cannot point a project at another project's policy.
_MANAGED = frozenset({"retention_id"})


def check_key(key: str) -> None:
    if key not in METADATA_KEYS:
        raise BadRequest(f"unknown metadata key {key[:50]!r}; the keys are {', '.join(sorted(METADATA_KEYS))}")


def normalize(key: str, value: str) -> str:
    """The value as Harbor stores it, or a 400 naming the key: Harbor's validate() in
    server/v2.0/handler/project_metadata.go, rule for rule."""
    check_key(key)
    if key in _MANAGED:
        raise BadRequest(f"{key} is set by the project's tag retention policy, not through the metadata API")
    if key in BOOL_METADATA:
        return "true" if parse_bool(value, key) else "false"
    if key == "severity":
        # vuln.ParseSeverityVersion3: any case; "negligible" is CVSS v3's "none".
        severity = value.lower() if value.isascii() else value
        severity = "none" if severity == "negligible" else severity
        if severity not in SEVERITIES:
            raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)} (any case), not {value[:50]!r}")
        return severity
    return proxy_number(key, value)


def metadata_of(view: ProjectView) -> dict[str, str]:
    """Every key the project holds, `public` always among them (a column of its own), sorted as Harbor's
    JSON map is."""
    values = {k: v for k, v in view.metadata.items() if isinstance(v, str)}
    values["public"] = "true" if view.public else "false"
    return dict(sorted(values.items()))


class ProjectMetadataService:
    def __init__(self, db: Database, projects: ProjectService, audit: AuditLog) -> None:
        self._db = db
        self._projects = projects
        self._audit_log = audit

    async def list(self, principal: Principal, ref: ProjectRef) -> dict[str, str]:
        """Harbor asks metadata `list` here, which no project role holds (only robots can be given it), so
        a project admin could read each key but not all of them; `read` or `list` answers."""
        view, access = await self._projects.visible(principal, ref)
        if not (access.allows(Resource.METADATA, Action.LIST) or access.allows(Resource.METADATA, Action.READ)):
            raise refuse(principal, f"list metadata in project {view.name}")
        return metadata_of(view)

    async def get(self, principal: Principal, ref: ProjectRef, key: str) -> dict[str, str]:
        view, _ = await self._projects.resolve(principal, ref, Resource.METADATA, Action.READ)
        check_key(key)
        values = metadata_of(view)
        if key not in values:
            raise NotFound(f"project {view.name} has no metadata {key}")
        return {key: values[key]}

    async def add(self, principal: Principal, ref: ProjectRef, values: Mapping[str, str]) -> None:
        """New keys, all or none: 409 for a key the project holds already (change it with PUT)."""
        view, _ = await self._projects.resolve(principal, ref, Resource.METADATA, Action.CREATE)
        if not values:
            raise BadRequest("the request body must hold at least one metadata key and its value")
        added = {key: normalize(key, value) for key, value in sorted(values.items())}
        async with self._db.transaction() as tx:
            stored = await self._lock(tx, view)
            taken = [key for key in added if key in stored]
            if taken:
                raise Conflict(
                    f"metadata {taken[0]} already exists for project {view.name}; change it with PUT"
                    f" /projects/{view.name}/metadatas/{taken[0]}"
                )
            # `public` is never new (every project has a visibility), so it cannot be among these.
            await store.update_project(tx, view.id, None, added)
            changes = ", ".join(f"{k}={v}" for k, v in added.items())
            await self._audit(tx, principal, view, f"add metadata {changes}")
        log.info("project_metadata_added", project_id=view.id, project=view.name, keys=sorted(added))

    async def update(self, principal: Principal, ref: ProjectRef, key: str, body: Mapping[str, str]) -> None:
        """The key in the path, to the value the body gives it (`{"<key>": "<value>"}`)."""
        view, _ = await self._projects.resolve(principal, ref, Resource.METADATA, Action.UPDATE)
        check_key(key)
        if key not in body:
            raise BadRequest(f'the request body must be {{"{key}": "<value>"}}, naming the key of the path')
        others = sorted(k for k in body if k != key)
        if others:
            # Harbor ignores them; a client that sent them would believe they were changed too.
            raise BadRequest(f"PUT .../metadatas/{key} changes {key} only; change {others[0][:50]} on its own")
        value = normalize(key, body[key])
        async with self._db.transaction() as tx:
            stored = await self._lock(tx, view)
            if key not in stored:
                raise NotFound(f"project {view.name} has no metadata {key}; add it with POST")
            if key == "public":
                await store.update_project(tx, view.id, value == "true", {})
            else:
                await store.update_project(tx, view.id, None, {key: value})
            await self._audit(tx, principal, view, f"set metadata {key}={value}")
        log.info("project_metadata_updated", project_id=view.id, project=view.name, key=key)

    async def delete(self, principal: Principal, ref: ProjectRef, key: str) -> None:
        """Removes the key. A project always has a visibility: deleting `public` makes it private, as in
        Harbor, where a project without the key is private."""
        view, _ = await self._projects.resolve(principal, ref, Resource.METADATA, Action.DELETE)
        check_key(key)
        async with self._db.transaction() as tx:
            stored = await self._lock(tx, view)
            if key not in stored:
                raise NotFound(f"project {view.name} has no metadata {key}")
            if key == "public":
                await store.update_project(tx, view.id, False, {})
            else:
                await store.delete_metadata(tx, view.id, key)
            await self._audit(tx, principal, view, f"delete metadata {key}")
        log.info("project_metadata_deleted", project_id=view.id, project=view.name, key=key)

    async def _lock(self, tx: Executor, view: ProjectView) -> set[str]:
        """The keys the project holds now, its row locked until the transaction ends."""
        metadata = await store.lock_metadata(tx, view.id)
        if metadata is None:
            raise ProjectNotFound(f"project {view.name} not found")
        return {"public", *(k for k, v in metadata.items() if isinstance(v, str))}

    async def _audit(self, tx: Executor, principal: Principal, view: ProjectView, change: str) -> None:
        # A project update, as PUT /projects/{p} records it, saying which key changed and to what.
        await self._audit_log.record(
            tx,
            operator=principal.name,
            operation="update",
            resource_type="project",
            resource=view.name,
            description=f"update project {view.name}: {change}",
            project_id=view.id,
            project=view.name,
        )
