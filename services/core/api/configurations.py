"""/api/v2.0/configurations: Harbor's ConfigurationsResponse on GET ({key: {value, editable}}), and a
flat {key: value} object on PUT."""

from __future__ import annotations

from aiohttp import web

from services.core.api.body import read_object
from services.core.api.common import API
from services.core.configuration.service import ConfigService
from services.core.security.middleware import principal_of


class ConfigurationsApi:
    def __init__(self, service: ConfigService) -> None:
        self._service = service

    def routes(self) -> list[web.RouteDef]:
        path = f"{API}/configurations"
        return [web.get(path, self.read, allow_head=False), web.put(path, self.update)]

    async def read(self, request: web.Request) -> web.Response:
        items = await self._service.read(principal_of(request))
        return web.json_response({k: {"value": i.value, "editable": i.editable} for k, i in items.items()})

    async def update(self, request: web.Request) -> web.Response:
        await self._service.update(principal_of(request), await read_object(request))
        return web.Response(status=200)
