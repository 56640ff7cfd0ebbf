"""GET /api/v2.0/projects/{project_name_or_id}/artifacts: Harbor's ListArtifactsOfProject (Harbor 2.12),
the top-level artifacts of every repository of the project in Harbor's Artifact shape, with the same `q`,
`sort`, paging and `with_*` options as one repository's list, and `latest_in_repository`.

The items are the per-repository list's (services.core.api.artifacts.render), with one difference: where
Harbor's schema says array, object or time this list always sends one, never null ([] and {} for
nothing, or not asked for; Harbor's zero time for an artifact or tag never pulled)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.artifacts import render
from services.core.api.common import PROJECT, page_headers, project_ref, query_flag
from services.core.artifacts.models import ARTIFACT_LIST, ArtifactView
from services.core.artifacts.service import ArtifactService
from services.core.listing import parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of

# What Harbor (Go's zero time.Time) sends for a time that never happened.
ZERO_TIME = "0001-01-01T00:00:00.000Z"
_ARRAYS = ("references", "tags", "labels", "accessories")
_OBJECTS = ("extra_attrs", "annotations", "addition_links")
# Accepted (their values checked) and of no effect: no scanner, no SBOM generation, no immutability
# rules yet (every tag's `immutable` is false).
_IGNORED_FLAGS = ("with_scan_overview", "with_sbom_overview", "with_immutable_status")


def render_typed(artifact: ArtifactView, *, with_accessory: bool, with_label: bool) -> dict[str, Any]:
    """`render`'s Artifact with every array, object and time field holding its schema type."""
    body = render(artifact, with_accessory=with_accessory, with_label=with_label)
    for key in _ARRAYS:
        if body[key] is None:
            body[key] = []
    for key in _OBJECTS:
        if body[key] is None:
            body[key] = {}
    body["pull_time"] = body["pull_time"] or ZERO_TIME
    for tag in body["tags"]:
        tag["pull_time"] = tag["pull_time"] or ZERO_TIME
    return body


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
        body = [render_typed(a, with_accessory=with_accessory, with_label=with_label) for a in found]
        return web.json_response(body, headers=page_headers(request, page, total))
