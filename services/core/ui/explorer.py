"""The API explorer, as Harbor's `/devcenter-api-2.0`: Swagger UI showing `/api/v2.0/swagger.json`.

Swagger UI is not ours: its distribution comes from the PyPI package `swagger-ui-bundle` (no npm, no build
step), and core serves the few files of it the page loads under `/static/swagger-ui/`. The page and the
script that starts Swagger UI are ours (`static/devcenter.html`, `static/devcenter.js`).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from services.core.ui.views import CONTENT_TYPES, SECURITY_HEADERS, STATIC_DIR

EXPLORER_PATH = "/devcenter-api-2.0"
SWAGGER_UI_PREFIX = "/static/swagger-ui/"
# The distribution's files the page uses, and nothing else of it (its index.html would load a petstore).
SWAGGER_UI_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"})
# Swagger UI sets style attributes as it draws (an operation's colour, a collapsed section): allowed here,
# on this page only. Scripts still come only from here.
EXPLORER_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
}


class ApiExplorer:
    def __init__(self, page: Path = STATIC_DIR / "devcenter.html", dist: Path | None = None) -> None:
        self._page = page
        self._dist = Path(str(dist or swagger_ui_path))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(EXPLORER_PATH, self.explorer),
            web.get(SWAGGER_UI_PREFIX + "{name}", self.asset),
        ]

    async def explorer(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self._page, headers={"Content-Type": CONTENT_TYPES[".html"], **EXPLORER_HEADERS})

    async def asset(self, request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in SWAGGER_UI_FILES:
            raise web.HTTPNotFound()
        path = self._dist / name
        return web.FileResponse(path, headers={"Content-Type": CONTENT_TYPES[path.suffix], **SECURITY_HEADERS})
