"""/api/v2.0/quotas[/{id}]: Harbor's Quota (id, ref {id, name, owner_name}, hard/used {storage}, times) and
QuotaUpdateReq {hard: {storage}}."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.body import no_unknown_fields, read_object
from services.core.api.common import API, harbor_time, page_headers, path_int
from services.core.errors import BadRequest
from services.core.listing import parse_page, parse_sort
from services.core.quotas.models import QUOTA_LIST, QuotaView
from services.core.quotas.service import QuotaService
from services.core.security.middleware import principal_of


def render_quota(q: QuotaView) -> dict[str, Any]:
    return {
        "id": q.id,
        "ref": {"id": q.project_id, "name": q.project_name, "owner_name": q.owner_name},
        "hard": {"storage": q.hard},
        "used": {"storage": q.used},
        "creation_time": harbor_time(q.created_at),
        "update_time": harbor_time(q.updated_at),
    }


def parse_hard(data: dict[str, Any]) -> int:
    no_unknown_fields(data, frozenset({"hard"}), what="quota update")
    hard = data.get("hard")
    if not isinstance(hard, dict):
        raise BadRequest('hard must be an object such as {"storage": 1073741824}')
    no_unknown_fields(hard, frozenset({"storage"}), what="hard resource list")
    value = hard.get("storage")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("hard.storage must be an integer: -1 (unlimited) or a number of bytes")
    return value


class QuotasApi:
    def __init__(self, quotas: QuotaService) -> None:
        self._quotas = quotas

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/quotas", self.list, allow_head=False),
            web.get(f"{API}/quotas/{{id}}", self.get, allow_head=False),
            web.put(f"{API}/quotas/{{id}}", self.update),
        ]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        reference_id: int | None = None
        if (text := q.get("reference_id")) is not None and text != "":
            if not text.isascii() or not text.isdigit() or len(text) > 18:
                raise BadRequest("reference_id must be a project id")
            reference_id = int(text)
        sort = parse_sort(q.get("sort"), QUOTA_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        rows, total = await self._quotas.list(
            principal_of(request), q.get("reference") or None, reference_id, sort, page
        )
        return web.json_response([render_quota(v) for v in rows], headers=page_headers(request, page, total))

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(render_quota(await self._quotas.get(principal_of(request), path_int(request, "id"))))

    async def update(self, request: web.Request) -> web.Response:
        hard = parse_hard(await read_object(request))
        await self._quotas.set_limit(principal_of(request), path_int(request, "id"), hard)
        return web.Response(status=200)
