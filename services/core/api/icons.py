"""GET /api/v2.0/icons/{digest}: Harbor's Icon (`content-type`, and `content` in base64)."""

from __future__ import annotations

import base64

from aiohttp import web

from services.core.api.common import API
from services.core.icons.service import IconService


class IconsApi:
    def __init__(self, icons: IconService) -> None:
        self._icons = icons

    def routes(self) -> list[web.RouteDef]:
        return [web.get(f"{API}/icons/{{digest}}", self.get, allow_head=False)]

    async def get(self, request: web.Request) -> web.Response:
        icon = await self._icons.get(request.match_info["digest"])
        body = {"content-type": icon.content_type, "content": base64.b64encode(icon.content).decode("ascii")}
        return web.json_response(body)
