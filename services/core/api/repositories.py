"""/api/v2.0/repositories and /projects/{p}/repositories[/{r}]: Harbor's Repository shape.

`{repository_name}` is the name inside the project. Harbor's clients encode a `/` in it twice
(`a%252Fb`); the router has decoded it once, and it is decoded exactly once more here. Names with empty
or dot segments, or anything else outside the distribution grammar, are refused (400) before any lookup.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aiohttp import web

from services.core.api.body import no_unknown_fields, opt_str, read_object
from services.core.api.common import API, PROJECT, REPOSITORY, harbor_time, page_headers, project_ref
from services.core.artifacts.models import PROJECT_REPOSITORY_LIST, REPOSITORY_LIST, RepositoryView
from services.core.artifacts.references import check_repository_path
from services.core.artifacts.repository_service import RepositoryService
from services.core.errors import BadRequest
from services.core.listing import clean_text, parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of

REPOSITORY_FIELDS = frozenset(
    {
        "id",
        "project_id",
        "name",
        "description",
        "artifact_count",
        "pull_count",
        "creation_time",
        "update_time",
    }
)


def repository_path(request: web.Request) -> str:
    """The `{repository_name}` path parameter, decoded once more (Harbor's double encoding of `/`)."""
    raw = clean_text(request.match_info["repository_name"], "repository_name")
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("repository_name is not valid UTF-8 once decoded") from None
    return check_repository_path(clean_text(path, "repository_name"))


def render(repository: RepositoryView) -> dict[str, Any]:
    return {
        "id": repository.id,
        "project_id": repository.project_id,
        "name": repository.name,
        "description": repository.description,
        "artifact_count": repository.artifact_count,
        "pull_count": repository.pull_count,
        "creation_time": harbor_time(repository.created_at),
        "update_time": harbor_time(repository.updated_at),
    }


class RepositoriesApi:
    def __init__(self, repositories: RepositoryService) -> None:
        self._repositories = repositories

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/repositories", self.list_all, allow_head=False),
            web.get(f"{PROJECT}/repositories", self.list, allow_head=False),
            web.get(REPOSITORY, self.get, allow_head=False),
            web.put(REPOSITORY, self.update),
            web.delete(REPOSITORY, self.delete),
        ]

    async def list_all(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), REPOSITORY_LIST.filters)
        sort = parse_sort(q.get("sort"), REPOSITORY_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        found, total = await self._repositories.list_all(principal_of(request), terms, sort, page)
        return web.json_response([render(r) for r in found], headers=page_headers(request, page, total))

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), PROJECT_REPOSITORY_LIST.filters)
        sort = parse_sort(q.get("sort"), PROJECT_REPOSITORY_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        found, total = await self._repositories.list(principal_of(request), project_ref(request), terms, sort, page)
        return web.json_response([render(r) for r in found], headers=page_headers(request, page, total))

    async def get(self, request: web.Request) -> web.Response:
        path = repository_path(request)
        found = await self._repositories.get(principal_of(request), project_ref(request), path)
        return web.json_response(render(found))

    async def update(self, request: web.Request) -> web.Response:
        path = repository_path(request)
        data = await read_object(request)
        # Harbor's PUT takes a whole Repository; only the description can change.
        no_unknown_fields(data, REPOSITORY_FIELDS)
        description = opt_str(data, "description")
        if description is None:
            raise BadRequest("description is required")
        description = clean_text(description, "description")
        if len(description) > 1024:
            raise BadRequest("description must be at most 1024 characters")
        await self._repositories.update(principal_of(request), project_ref(request), path, description)
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        path = repository_path(request)
        await self._repositories.delete(principal_of(request), project_ref(request), path)
        return web.Response(status=200)
