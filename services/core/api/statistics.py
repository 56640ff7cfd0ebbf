"""/api/v2.0/search, /statistics and /projects/{p}/summary: Harbor's Search, Statistic and ProjectSummary."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api import projects
from services.core.api.common import API, PROJECT, project_ref
from services.core.api.registries import render_registry
from services.core.security.middleware import principal_of
from services.core.statistics.models import SearchRepository
from services.core.statistics.service import ProjectSummary, Statistics, StatisticsService

# Quotas do not exist yet: no hard limit, in Harbor's notation.


def render_repository(repository: SearchRepository) -> dict[str, Any]:
    return {
        "project_id": repository.project_id,
        "project_name": repository.project_name,
        "project_public": repository.project_public,
        "repository_name": repository.repository_name,
        "pull_count": repository.pull_count,
        "artifact_count": repository.artifact_count,
    }


def render_statistics(statistics: Statistics) -> dict[str, Any]:
    counts = statistics.counts
    return {
        "private_project_count": counts.private_projects,
        "private_repo_count": counts.private_repositories,
        "public_project_count": counts.public_projects,
        "public_repo_count": counts.public_repositories,
        "total_project_count": counts.total_projects if statistics.sysadmin else 0,
        "total_repo_count": counts.total_repositories if statistics.sysadmin else 0,
        "total_storage_consumption": counts.storage if statistics.sysadmin else 0,
    }


def render_summary(summary: ProjectSummary) -> dict[str, Any]:
    body: dict[str, Any] = {"repo_count": summary.project.repo_count}
    usage = summary.usage
    if summary.show_members:
        body |= {
            "project_admin_count": usage.project_admins,
            "maintainer_count": usage.maintainers,
            "developer_count": usage.developers,
            "guest_count": usage.guests,
            "limited_guest_count": usage.limited_guests,
        }
    if summary.show_quota:
        body["quota"] = {"hard": {"storage": usage.storage_limit}, "used": {"storage": usage.storage}}
    if summary.registry is not None:
        # Harbor's getProjectRegistrySummary: the endpoint without its credential.
        body["registry"] = {k: v for k, v in render_registry(summary.registry).items() if k != "credential"}
    return body


class StatisticsApi:
    def __init__(self, statistics: StatisticsService) -> None:
        self._statistics = statistics

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PROJECT}/summary", self.project_summary, allow_head=False),
            web.get(f"{API}/search", self.search, allow_head=False),
            web.get(f"{API}/statistics", self.statistics, allow_head=False),
        ]

    async def search(self, request: web.Request) -> web.Response:
        found = await self._statistics.search(principal_of(request), request.query.get("q"))
        return web.json_response(
            {
                "project": [projects.render(v, a) for v, a in found.projects],
                "repository": [render_repository(r) for r in found.repositories],
            }
        )

    async def statistics(self, request: web.Request) -> web.Response:
        return web.json_response(render_statistics(await self._statistics.statistics(principal_of(request))))

    async def project_summary(self, request: web.Request) -> web.Response:
        summary = await self._statistics.project_summary(principal_of(request), project_ref(request))
        return web.json_response(render_summary(summary))
