"""GET /api/v2.0/projects/{project_name_or_id}/artifacts: Harbor's ListArtifactsOfProject (Harbor 2.12),
the top-level artifacts of every repository of the project in Harbor's Artifact shape, with the same `q`,
`sort`, paging and `with_*` options as one repository's list, and `latest_in_repository`.

The items are the per-repository list's (services.core.api.artifacts.render)."""

from __future__ import annotations

from aiohttp import web

from services.core.api.artifacts import render
from services.core.api.common import PROJECT, page_headers, project_ref, query_flag
from services.core.artifacts.models import ARTIFACT_LIST
from services.core.artifacts.service import ArtifactService
from services.core.listing import parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of

# Accepted (their values checked) and of no effect: no scanner, no SBOM generation; every tag carries
# its `immutable` status whatever with_immutable_status says.
_IGNORED_FLAGS = ("with_scan_overview", "with_sbom_overview", "with_immutable_status")


class ProjectArtifactsApi:
    def __init__(self, artifacts: ArtifactService) -> None:
        self._artifacts = artifacts

    def routes(self) -> list[web.RouteDef]:
        return [web.get(f"{PROJECT}/artifacts", self.list, allow_head=False)]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), ARTIFACT_LIST.filters)
        sort = parse_sort(q.get("sort"), ARTIFACT_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        with_tag = query_flag(request, "with_tag", True)
        with_label = query_flag(request, "with_label", False)
        with_accessory = query_flag(request, "with_accessory", False)
        latest = query_flag(request, "latest_in_repository", False)
        for flag in _IGNORED_FLAGS:
            query_flag(request, flag, False)
        found, total = await self._artifacts.list_project(
            principal_of(request),
            project_ref(request),
            terms,
            sort,
            page,
            with_tag=with_tag,
            with_label=with_label,
            latest=latest,
        )
        body = [render(a, with_accessory=with_accessory, with_label=with_label) for a in found]
        return web.json_response(body, headers=page_headers(request, page, total))
