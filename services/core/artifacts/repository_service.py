"""Repository rules: who may list, read, describe and delete repositories, and the delete's transaction
(its event in the outbox with it; the registry's caches and core's list cache told at commit by the
database's triggers). No aiohttp here."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
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
# What one cached repository's stats cost: the key, the value, the entry's bookkeeping.
STATS_BYTES = 400


class RepositoryService:
    def __init__(self, db: Database, projects: ProjectService, cache: LookupCache, config: SystemConfig) -> None:
        self._config = config
        self._db = db
        self._projects = projects
        self._cache = cache
        # Stats being read (see _stats), by repository, with the cache generation each read began at.
        self._stats_in_flight: dict[int, tuple[int, asyncio.Future[dict[int, store.RepositoryStats]]]] = {}

    async def list_all(
        self, principal: Principal, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[RepositoryView], int]:
        rows, total = await store.list_visible_repositories(self._db.reader, Viewer.of(principal), terms, sort, page)
        return await self._with_stats(rows), total

    async def list(
        self, principal: Principal, ref: ProjectRef, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[RepositoryView], int]:
        project, _ = await self._projects.resolve(principal, ref, Resource.REPOSITORY, Action.LIST)
        rows, total = await store.list_project_repositories(
            self._db.reader, project.id, project.name, terms, sort, page
        )
        return await self._with_stats(rows), total

    async def _with_stats(self, rows: builtins.list[RepositoryView]) -> builtins.list[RepositoryView]:
        """The rows with their artifact counts and last pushes (the last push counts as an update)."""
        if not rows:
            return rows
        found = await self._stats([r.id for r in rows])
        out = []
        for r in rows:
            s = found.get(r.id)
            if s is None:  # deleted since the page was read
                out.append(r)
                continue
            updated = r.updated_at if s.last_push is None else max(r.updated_at, s.last_push)
            out.append(dataclasses.replace(r, artifact_count=s.artifact_count, updated_at=updated))
        return out

    async def _stats(self, repository_ids: builtins.list[int]) -> dict[int, store.RepositoryStats]:
        """Each repository's stats, cached per repository until it changes (the notifications that keep
        the artifact list cache exact: every artifact insert, update and delete names its repository),
        read from the primary like every cached list. The ones missing are read in one statement; one
        a read in flight is already fetching (begun after the repository's last change) is shared, so
        the count of a big repository that just took a push is read once, not by every request at once.
        Without notifications: no cache, from the read replica like the page itself."""
        if not self._cache.live:
            return await store.stats(self._db.reader, repository_ids)
        found: dict[int, store.RepositoryStats] = {}
        waiting: dict[int, asyncio.Future[dict[int, store.RepositoryStats]]] = {}
        missing = []
        for repository_id in repository_ids:
            cached: store.RepositoryStats | None = self._cache.get(("repository-stats", repository_id))
            if cached is not None:
                found[repository_id] = cached
                continue
            flight = self._stats_in_flight.get(repository_id)
            if flight is not None and not self._cache.changed_since(repository_id, flight[0]):
                waiting[repository_id] = flight[1]
            else:
                missing.append(repository_id)
        if missing:
            generation = self._cache.generation

            async def read() -> dict[int, store.RepositoryStats]:
                stats = await store.stats(self._db.pool, missing)
                for repository_id, s in stats.items():
                    self._cache.put(("repository-stats", repository_id), repository_id, s, STATS_BYTES, generation)
                return stats

            task = asyncio.ensure_future(read())
            entry = (generation, task)
            for repository_id in missing:
                self._stats_in_flight[repository_id] = entry
                waiting[repository_id] = task

            def done(_: asyncio.Future[dict[int, store.RepositoryStats]]) -> None:
                for repository_id in missing:
                    if self._stats_in_flight.get(repository_id) is entry:
                        del self._stats_in_flight[repository_id]

            task.add_done_callback(done)
        for repository_id, future in waiting.items():
            s = (await asyncio.shield(future)).get(repository_id)
            if s is not None:
                found[repository_id] = s
        return found

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
