"""GET /api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/accessories: Harbor's ListAccessories,
the artifact's accessories (signatures, SBOMs and other referrers in its repository) as the Accessory
objects its `with_accessory=true` shows, with `q`, `sort` and paging."""

from __future__ import annotations

from aiohttp import web

from services.core.api.artifacts import render_accessory
from services.core.api.common import ARTIFACT, page_headers, project_ref
from services.core.api.repositories import repository_path
from services.core.artifacts.models import ACCESSORY_LIST
from services.core.artifacts.references import parse_reference
from services.core.artifacts.service import ArtifactService
from services.core.listing import clean_text, parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of


class AccessoriesApi:
    def __init__(self, artifacts: ArtifactService) -> None:
        self._artifacts = artifacts

    def routes(self) -> list[web.RouteDef]:
        return [web.get(f"{ARTIFACT}/accessories", self.list, allow_head=False)]

    async def list(self, request: web.Request) -> web.Response:
        path = repository_path(request)
        reference = parse_reference(clean_text(request.match_info["reference"], "reference"))
        q = request.query
        terms = parse_q(q.get("q"), ACCESSORY_LIST.filters)
        sort = parse_sort(q.get("sort"), ACCESSORY_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        subject, accessories, total = await self._artifacts.list_accessories(
            principal_of(request), project_ref(request), path, reference, terms, sort, page
        )
        body = [render_accessory(a, subject) for a in accessories]
        return web.json_response(body, headers=page_headers(request, page, total))
