"""/api/v2.0/projects/{p}/metadatas: a project's settings one key at a time, values as strings."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.body import read_object
from services.core.api.common import PROJECT, project_ref
from services.core.errors import BadRequest
from services.core.listing import clean_text
from services.core.projects.metadata import ProjectMetadataService
from services.core.security.middleware import principal_of

METADATAS = f"{PROJECT}/metadatas"


def string_values(data: dict[str, Any]) -> dict[str, str]:
    """The body as Harbor's `additionalProperties: string` object: every value a string."""
    values = {}
    for key, value in data.items():
        name = clean_text(key, "metadata key")
        if not isinstance(value, str):
            raise BadRequest(f'{name[:50]} must be a string, such as "true" (Harbor keeps metadata as strings)')
        values[name] = clean_text(value, name[:50])
    return values


def meta_name(request: web.Request) -> str:
    return clean_text(request.match_info["meta_name"], "meta_name")


class ProjectMetadataApi:
    def __init__(self, metadata: ProjectMetadataService) -> None:
        self._metadata = metadata

    def routes(self) -> list[web.RouteDef]:
        # Harbor's spec spells the collection with a trailing slash; clients send it with and without.
        return [
            *(web.get(path, self.list) for path in (METADATAS, f"{METADATAS}/")),
            *(web.post(path, self.add) for path in (METADATAS, f"{METADATAS}/")),
            web.get(f"{METADATAS}/{{meta_name}}", self.get),
            web.put(f"{METADATAS}/{{meta_name}}", self.update),
            web.delete(f"{METADATAS}/{{meta_name}}", self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        return web.json_response(await self._metadata.list(principal_of(request), project_ref(request)))

    async def get(self, request: web.Request) -> web.Response:
        values = await self._metadata.get(principal_of(request), project_ref(request), meta_name(request))
        return web.json_response(values)

    async def add(self, request: web.Request) -> web.Response:
        ref = project_ref(request)
        values = string_values(await read_object(request))
        await self._metadata.add(principal_of(request), ref, values)
        return web.Response(status=200)

    async def update(self, request: web.Request) -> web.Response:
        ref, key = project_ref(request), meta_name(request)
        values = string_values(await read_object(request))
        await self._metadata.update(principal_of(request), ref, key, values)
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._metadata.delete(principal_of(request), project_ref(request), meta_name(request))
        return web.Response(status=200)
