"""/api/v2.0/labels[/{label_id}] (Harbor's Label: id, name, description, color, scope, project_id,
creation_time, update_time). Attaching a label to an artifact is the artifacts API's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.body import no_unknown_fields, opt_int, opt_str, read_object
from services.core.api.common import API, harbor_time, page_headers, path_id
from services.core.errors import BadRequest
from services.core.labels.models import GLOBAL, LABEL_LIST, PROJECT, LabelFields, LabelFilter, LabelView, Scope
from services.core.labels.service import LabelService
from services.core.listing import MAX_PARAM_LENGTH, clean_text, parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of

FIELDS = frozenset({"id", "name", "description", "color", "scope", "project_id", "creation_time", "update_time"})


def render_label(label: LabelView) -> dict[str, Any]:
    return {
        "id": label.id,
        "name": label.name,
        "description": label.description,
        "color": label.color,
        "scope": label.scope,
        # Harbor's global labels belong to project 0.
        "project_id": label.project_id or 0,
        "creation_time": harbor_time(label.created_at),
        "update_time": harbor_time(label.updated_at),
    }


def _scope(text: str | None) -> Scope:
    if text == GLOBAL:
        return GLOBAL
    if text == PROJECT:
        return PROJECT
    raise BadRequest(f"scope must be g (global) or p (project), not {(text or '')[:20]!r}")


def _fields(data: dict[str, Any]) -> LabelFields:
    return LabelFields(
        name=opt_str(data, "name") or "",
        description=opt_str(data, "description") or "",
        color=opt_str(data, "color") or "",
    )


async def _body(request: web.Request) -> dict[str, Any]:
    data = await read_object(request)
    no_unknown_fields(data, FIELDS, what="label")
    # Read-only fields are ignored (Harbor's body is a whole Label), but must still have their types.
    opt_int(data, "id")
    opt_str(data, "creation_time")
    opt_str(data, "update_time")
    return data


class LabelsApi:
    def __init__(self, labels: LabelService) -> None:
        self._labels = labels

    def routes(self) -> list[web.RouteDef]:
        label = f"{API}/labels/{{label_id}}"
        return [
            web.get(f"{API}/labels", self.list, allow_head=False),
            web.post(f"{API}/labels", self.create),
            web.get(label, self.get, allow_head=False),
            web.put(label, self.update),
            web.delete(label, self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        scope = _scope(q.get("scope"))
        project_id: int | None = None
        if scope == PROJECT:
            text = q.get("project_id", "")
            if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) <= 0:
                raise BadRequest("project_id (a positive integer) is required for project labels (scope p)")
            project_id = int(text)
        name = clean_text(q.get("name", ""), "name")
        if len(name) > MAX_PARAM_LENGTH:
            raise BadRequest("name is too long")
        terms = parse_q(q.get("q"), LABEL_LIST.filters)
        sort = parse_sort(q.get("sort"), LABEL_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        where = LabelFilter(scope=scope, project_id=project_id, name_contains=name or None)
        labels, total = await self._labels.list(principal_of(request), where, terms, sort, page)
        return web.json_response([render_label(x) for x in labels], headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        data = await _body(request)
        scope = _scope(opt_str(data, "scope"))
        project_id = opt_int(data, "project_id") or None
        if scope == PROJECT and project_id is None:
            raise BadRequest("project_id is required for a project label (scope p)")
        if scope == GLOBAL and project_id is not None:
            raise BadRequest("a global label (scope g) belongs to no project: leave project_id out or 0")
        label = await self._labels.create(principal_of(request), _fields(data), scope, project_id)
        return web.Response(status=201, headers={"Location": f"{API}/labels/{label.id}"})

    async def get(self, request: web.Request) -> web.Response:
        label = await self._labels.get(principal_of(request), path_id(request, "label_id"))
        return web.json_response(render_label(label))

    async def update(self, request: web.Request) -> web.Response:
        label_id = path_id(request, "label_id")
        data = await _body(request)
        # As Harbor's PUT: name, description and color are replaced; scope and project stay as they are.
        scope = opt_str(data, "scope")
        if scope not in (None, "", GLOBAL, PROJECT):
            raise BadRequest("scope must be g or p")
        opt_int(data, "project_id")
        await self._labels.update(principal_of(request), label_id, _fields(data))
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._labels.delete(principal_of(request), path_id(request, "label_id"))
        return web.Response(status=200)
