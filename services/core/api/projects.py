"""/api/v2.0/projects: parse, call the project service, render Harbor's Project model."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.auth.authenticate import Principal
from services.common.rbac import Action, Resource, best_role
from services.core.api.body import opt_bool, opt_object, opt_str, read_object
from services.core.api.common import API, PROJECT, harbor_time, page_headers, project_ref
from services.core.errors import BadRequest
from services.core.listing import Term, clean_text, parse_bool, parse_page, parse_q, parse_sort
from services.core.projects.models import (
    BOOL_METADATA,
    PROJECT_LIST,
    SEVERITIES,
    TEXT_METADATA,
    ProjectChanges,
    ProjectView,
)
from services.core.projects.service import ProjectService
from services.core.retention.service import RetentionService, proxy_cache_policy
from services.core.security.access import ProjectAccess
from services.core.security.middleware import principal_of


def parse_changes(data: dict[str, Any]) -> ProjectChanges:
    """ProjectReq → changes. `metadata.public` ("true"/"false") wins over the deprecated `public` flag."""
    public = opt_bool(data, "public")
    metadata: dict[str, str] = {}
    given = opt_object(data, "metadata") or {}
    for key, value in given.items():
        if key not in BOOL_METADATA and key not in TEXT_METADATA:
            continue  # unknown keys are ignored, like unknown fields
        if not isinstance(value, str):
            raise BadRequest(f"metadata.{key} must be a string")
        if key in BOOL_METADATA:
            flag = parse_bool(value, f"metadata.{key}")
            if key == "public":
                public = flag
            else:
                metadata[key] = "true" if flag else "false"
        elif key == "severity" and value not in SEVERITIES:
            raise BadRequest(f"metadata.severity must be one of {', '.join(SEVERITIES)}")
        else:
            metadata[key] = clean_text(value, f"metadata.{key}")[:255]
    return ProjectChanges(public=public, metadata=metadata)


def _storage_limit(data: dict[str, Any]) -> int | None:
    value = data.get("storage_limit")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("storage_limit must be an integer: -1 (unlimited) or a number of bytes")
    return value


def _registry_id(data: dict[str, Any]) -> int | None:
    value = data.get("registry_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"registry_id must be the id of a registry endpoint (an integer > 0), not {str(value)[:40]!r}")
    return value


def render(view: ProjectView, access: ProjectAccess) -> dict[str, Any]:
    role = best_role(view.roles)
    return {
        "project_id": view.id,
        "owner_id": view.owner_id,
        "name": view.name,
        "creation_time": harbor_time(view.created_at),
        "update_time": harbor_time(view.updated_at),
        "deleted": False,
        "owner_name": view.owner_name,
        "togglable": access.allows(Resource.PROJECT, Action.UPDATE),
        "current_user_role_id": int(role) if role is not None else 0,
        "current_user_role_ids": sorted(int(r) for r in view.roles),
        "repo_count": view.repo_count,
        "metadata": {**view.metadata, "public": "true" if view.public else "false"},
        # Harbor's omitempty: only a proxy-cache project shows its endpoint.
        **({"registry_id": view.registry_id} if view.registry_id is not None else {}),
    }


class ProjectsApi:
    def __init__(self, projects: ProjectService, retention: RetentionService) -> None:
        self._projects = projects
        self._retention = retention

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/projects", self.list, allow_head=False),
            web.head(f"{API}/projects", self.head_by_name),
            web.post(f"{API}/projects", self.create),
            # GET answers HEAD too (aiohttp's allow_head): same checks, no body, as Harbor does.
            web.get(PROJECT, self.get),
            web.put(PROJECT, self.update),
            web.delete(PROJECT, self.delete),
            web.get(f"{PROJECT}/_deletable", self.deletable),
        ]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), PROJECT_LIST.filters)
        # The dedicated parameters are q terms by another name: name (a substring, as Harbor's fuzzy
        # match), public flag, owner name.
        if (name := q.get("name")) is not None:
            terms.append(Term("name", "like", clean_text(name, "name")))
        if (public := q.get("public")) is not None:
            terms.append(Term("public", "eq", parse_bool(public, "public")))
        if (owner := q.get("owner")) is not None:
            terms.append(Term("owner", "eq", clean_text(owner, "owner")))
        sort = parse_sort(q.get("sort"), PROJECT_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        rows, total = await self._projects.list(principal_of(request), terms, sort, page)
        return web.json_response([render(v, a) for v, a in rows], headers=page_headers(request, page, total))

    async def head_by_name(self, request: web.Request) -> web.Response:
        # Harbor's name check for the "new project" form: existence only, for any authenticated caller.
        name = request.query.get("project_name")
        if not name:
            raise BadRequest("the project_name parameter is required")
        found = await self._projects.exists(principal_of(request), clean_text(name, "project_name"))
        return web.Response(status=200 if found else 404)

    async def create(self, request: web.Request) -> web.Response:
        principal: Principal = principal_of(request)
        data = await read_object(request)
        name = opt_str(data, "project_name")
        if name is None:
            raise BadRequest("project_name is required")
        registry_id = _registry_id(data)
        project = await self._projects.create(
            principal, name, parse_changes(data), _storage_limit(data), registry_id=registry_id
        )
        if registry_id is not None:
            # As Harbor's handler: a proxy cache keeps what was pulled lately, by a policy of its own.
            await self._retention.create(principal, proxy_cache_policy(project.id))
        in_location = request.headers.get("X-Resource-Name-In-Location", "")
        ident = project.name if in_location and parse_bool(in_location, "X-Resource-Name-In-Location") else project.id
        return web.Response(status=201, headers={"Location": f"{API}/projects/{ident}"})

    async def get(self, request: web.Request) -> web.Response:
        view, access = await self._projects.resolve(
            principal_of(request), project_ref(request), Resource.PROJECT, Action.READ
        )
        return web.json_response(render(view, access))

    async def update(self, request: web.Request) -> web.Response:
        ref = project_ref(request)
        data = await read_object(request)
        await self._projects.update(principal_of(request), ref, parse_changes(data))
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._projects.delete(principal_of(request), project_ref(request))
        return web.Response(status=200)

    async def deletable(self, request: web.Request) -> web.Response:
        verdict = await self._projects.deletable(principal_of(request), project_ref(request))
        return web.json_response({"deletable": verdict.deletable, "message": verdict.message})
