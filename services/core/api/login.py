"""Harbor's UI login: POST /c/login (form or JSON `principal`, `password`) and GET /c/log_out; and GET
/c/session, which tells the UI whether its session cookie still logs it in (200 either way: a page that
only wants to know shows no failed request in the browser's console, as a 401 from /users/current did)."""

from __future__ import annotations

from aiohttp import web

from services.core.api.body import read_object
from services.core.security.csrf import CSRF_TOKEN_KEY
from services.core.security.middleware import principal_of
from services.core.security.session import SESSION_COOKIE, set_cookie
from services.core.sessions.service import SessionService, new_token


async def _credentials(request: web.Request) -> tuple[str, str]:
    if request.content_type == "application/json":
        data = await read_object(request)
    else:
        data = dict(await request.post())
    principal, password = data.get("principal"), data.get("password")
    # A missing or non-text field is a failed login like any other (the service refuses empty names).
    return (principal if isinstance(principal, str) else "", password if isinstance(password, str) else "")


class LoginApi:
    def __init__(self, sessions: SessionService) -> None:
        self._sessions = sessions

    def routes(self) -> list[web.RouteDef]:
        # Harbor's UI session paths, outside /api/v2.0.
        return [
            web.post("/c/login", self.login),
            web.get("/c/log_out", self.logout, allow_head=False),
            web.get("/c/session", self.session, allow_head=False),
        ]

    async def session(self, request: web.Request) -> web.Response:
        principal = principal_of(request)
        return web.json_response({"logged_in": principal.kind != "anonymous"})

    async def login(self, request: web.Request) -> web.Response:
        username, password = await _credentials(request)
        _, session = await self._sessions.login(username, password, previous=request.cookies.get(SESSION_COOKIE))
        response = web.Response(status=200)
        set_cookie(response, request, SESSION_COOKIE, session.id)
        request[CSRF_TOKEN_KEY] = session.csrf
        return response

    async def logout(self, request: web.Request) -> web.Response:
        await self._sessions.logout(request.cookies.get(SESSION_COOKIE), principal_of(request))
        response = web.Response(status=200)
        response.del_cookie(SESSION_COOKIE, path="/")
        # The old session's token goes with it.
        request[CSRF_TOKEN_KEY] = new_token()
        return response
