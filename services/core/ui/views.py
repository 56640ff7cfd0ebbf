"""Serving the UI: `/` and deep links get index.html, `/static/<file>` the assets.

There is no build step, so asset names carry no content hash: every response says `no-cache`, and the
browser revalidates with the ETag / Last-Modified that `FileResponse` sends (a 304 costs one small
round trip, and a new release is never hidden behind a stale cached module).
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/"
# Our own fixed map, not the platform's mimetypes table: module scripts must be JavaScript
# (browsers refuse `text/plain` modules under nosniff), whatever /etc/mime.types says.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
}
# Flat directory, plain names: nothing a request names can leave STATIC_DIR.
_ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.[a-z]+")
# Paths that belong to the APIs (and to the other services behind the same proxy): an unknown one
# there is a JSON 404, never the UI's page.
NOT_UI_PREFIXES = ("/api/", "/c/", "/v2/", "/service/", STATIC_PREFIX, "/healthz", "/readyz")
SECURITY_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # Scripts and styles only from here (no inline code to inject into), and never framed.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _file(path: Path) -> web.FileResponse:
    headers = {"Content-Type": CONTENT_TYPES[path.suffix], **SECURITY_HEADERS}
    return web.FileResponse(path, headers=headers)


class UiFiles:
    def __init__(self, root: Path = STATIC_DIR) -> None:
        self._root = root

    async def index(self, request: web.Request) -> web.FileResponse:
        return _file(self._root / "index.html")

    async def asset(self, request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        path = self._root / name
        if not _ASSET_NAME.fullmatch(name) or path.suffix not in CONTENT_TYPES or not path.is_file():
            raise web.HTTPNotFound()
        return _file(path)


def is_ui_path(request: web.Request) -> bool:
    """A page the UI's own router draws (a deep link such as /harbor/projects/3/members)."""
    return request.method in ("GET", "HEAD") and not request.path.startswith(NOT_UI_PREFIXES)


def ui_fallback(files: UiFiles) -> Middleware:
    """An unknown GET outside the API prefixes is a UI page: answer index.html, whose script draws it."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            if not is_ui_path(request):
                raise
            return await files.index(request)

    return middleware


def is_script_request(request: web.Request) -> bool:
    """The UI's scripts say so with the usual `X-Requested-With: XMLHttpRequest`."""
    return request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest"


def no_challenge_for_scripts() -> Middleware:
    """Drop the Basic challenge from 401s the UI's scripts receive.

    A browser that sees `WWW-Authenticate: Basic` on a fetch() shows its own password dialog before the
    script gets the answer; the UI wants the 401 to draw its login page (or to say the session ended).
    CLIs and other API clients send no such header and keep the challenge.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 401 and not response.prepared and is_script_request(request):
            response.headers.popall("WWW-Authenticate", None)
        return response

    return middleware


def setup_ui_routes(app: web.Application, files: UiFiles) -> None:
    app.router.add_get("/", files.index)
    app.router.add_get(STATIC_PREFIX + "{name}", files.asset)
