"""Repository rules: who may list, read, describe and delete repositories, and the delete's transaction
(its event in the outbox with it; the registry's caches and core's list cache told at commit by the
database's triggers). No aiohttp here."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.common.auth.authenticate import Principal
from services.common.cache import LookupCache
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.events import outbox
from services.common.events.models import Event, EventType
from services.common.immutable_store import repository_tags
from services.common.rbac import Action, Resource
from services.core.artifacts import repository_store as store
from services.core.artifacts.errors import RepositoryNotFound
from services.core.artifacts.models import RepositoryView
from services.core.artifacts.references import full_name
from services.core.artifacts.service import protected_tag, undeletable
from services.core.listing import Page, SortKey, Term
from services.core.projects.models import ProjectRef, ProjectView
from services.core.projects.service import ProjectService
from services.core.read_only import require_writable
from services.core.security.access import Viewer

log = structlog.get_logger()


class RepositoryService:
    def __init__(self, db: Database, projects: ProjectService, cache: LookupCache, config: SystemConfig) -> None:
        self._config = config
        self._db = db
        self._projects = projects
        self._cache = cache

    async def list_all(
        self, principal: Principal, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[RepositoryView], int]:
        return await store.list_visible_repositories(self._db.reader, Viewer.of(principal), terms, sort, page)

    async def list(
        self, principal: Principal, ref: ProjectRef, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[RepositoryView], int]:
        project, _ = await self._projects.resolve(principal, ref, Resource.REPOSITORY, Action.LIST)
        return await store.list_project_repositories(self._db.reader, project.id, project.name, terms, sort, page)

    async def get(self, principal: Principal, ref: ProjectRef, path: str) -> RepositoryView:
        # Pull is what every role and a public project's visitors hold on repositories (Harbor's read).
        project, _ = await self._projects.resolve(principal, ref, Resource.REPOSITORY, Action.PULL)
        return await self._find(project, path)

    async def _find(self, project: ProjectView, path: str) -> RepositoryView:
        name = full_name(project, path)
        found = await store.repository(self._db.pool, project.id, name)
        if found is None:
            raise RepositoryNotFound(f"repository {name[:200]} not found")
        return found

    async def update(self, principal: Principal, ref: ProjectRef, path: str, description: str) -> None:
        project, _ = await self._projects.resolve(principal, ref, Resource.REPOSITORY, Action.UPDATE)
        repository = await self._find(project, path)
        await store.set_description(self._db.pool, repository.id, description)
        self._cache.invalidate(repository.id)
        log.info("repository_updated", repository=repository.name, project_id=project.id)

    async def delete(self, principal: Principal, ref: ProjectRef, path: str) -> None:
        project, _ = await self._projects.resolve(principal, ref, Resource.REPOSITORY, Action.DELETE)
        require_writable(self._config)
        name = full_name(project, path)
        async with self._db.transaction() as tx:
            repository_id = await store.lock_repository(tx, name)
            if repository_id is None:
                raise RepositoryNotFound(f"repository {name[:200]} not found")
            # Harbor's 412: a repository holding an immutable tag stays.
            protected = await protected_tag(tx, project.id, name, await repository_tags(tx, repository_id))
            if protected is not None:
                raise undeletable(protected[0])
            digests = await store.delete_repository(tx, repository_id)
            # Harbor's events: each artifact deleted, then the repository (what replicates a deletion and
            # what a webhook on artifact deletion hears).
            deleted = [Event(EventType.DELETE_ARTIFACT, principal.name, name, digest=d) for d in digests]
            await outbox.record(tx, [*deleted, Event(EventType.DELETE_REPOSITORY, principal.name, name)])
        self._cache.invalidate(repository_id)
        log.info("repository_deleted", repository=name, project_id=project.id)
