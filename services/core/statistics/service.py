"""Search, statistics and project summaries: who sees which figures. No aiohttp here.

Visibility is the projects list's one rule (services.core.projects.store.VISIBLE): anonymous callers see
public projects, users public ones and those they are members of (directly or through a group), robots
those their permissions name, the sysadmin everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.rbac import Action, Resource
from services.core.errors import BadRequest, Unauthorized
from services.core.listing import MAX_PARAM_LENGTH, clean_text, like_pattern
from services.core.projects import store as projects_store
from services.core.projects.models import ProjectRef, ProjectView
from services.core.projects.service import ProjectService
from services.core.registries import store as registries_store
from services.core.registries.models import RegistryView
from services.core.security.access import ProjectAccess, Viewer
from services.core.statistics import store
from services.core.statistics.models import Counts, ProjectUsage, SearchRepository

# Search answers at most this many projects and this many repositories (best matches first by name):
# a search box, not a listing; the paged lists are for everything else.
SEARCH_LIMIT = 100


@dataclass(frozen=True, slots=True)
class SearchResult:
    projects: list[tuple[ProjectView, ProjectAccess]]
    repositories: list[SearchRepository]


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project's summary as the caller may see it: member counts only with the right to list members,
    storage only with the right to read the quota (Harbor's two checks)."""

    project: ProjectView
    usage: ProjectUsage
    show_members: bool
    show_quota: bool
    registry: RegistryView | None = None  # the endpoint a proxy-cache project caches


@dataclass(frozen=True, slots=True)
class Statistics:
    """Harbor's Statistic. Totals and storage are the sysadmin's; others see them as 0."""

    counts: Counts
    sysadmin: bool


class StatisticsService:
    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    async def search(self, principal: Principal, q: str | None) -> SearchResult:
        """Projects and repositories whose name contains `q` (literally: % and _ are no wildcards)."""
        text = clean_text(q, "q").strip() if q is not None else ""
        if not text:
            raise BadRequest("the q parameter is required")
        if len(text) > MAX_PARAM_LENGTH:
            raise BadRequest("the q parameter is too long")
        viewer = Viewer.of(principal)
        pattern = like_pattern(text)
        views = await projects_store.search_projects(self._db.pool, viewer, pattern, SEARCH_LIMIT)
        repositories = await store.search_repositories(self._db.pool, viewer, pattern, SEARCH_LIMIT)
        return SearchResult([(v, self._projects.access(principal, v)) for v in views], repositories)

    async def statistics(self, principal: Principal) -> Statistics:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to read the statistics")
        sysadmin = principal.sysadmin
        counts = await store.counts(self._db.pool, Viewer.of(principal), with_storage=sysadmin)
        return Statistics(counts, sysadmin)

    async def project_summary(self, principal: Principal, ref: ProjectRef) -> ProjectSummary:
        view, access = await self._projects.resolve(principal, ref, Resource.PROJECT, Action.READ)
        show_quota = access.allows(Resource.QUOTA, Action.READ)
        usage = await store.project_usage(self._db.pool, view.id, with_storage=show_quota)
        registry = None
        if view.registry_id is not None:
            found = await registries_store.registry(self._db.pool, view.registry_id)
            registry = found[0] if found is not None else None
        return ProjectSummary(view, usage, access.allows(Resource.MEMBER, Action.LIST), show_quota, registry)
