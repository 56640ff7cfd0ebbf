"""CSRF protection as Harbor's (double submit): the token travels in the `__csrf` cookie and must come
back in the `X-Harbor-CSRF-Token` header of every unsafe request a session cookie authenticates.

A cross-site page can make the browser send the cookies but can read neither the cookie nor our
responses' header, so it cannot echo the token. Requests that prove themselves by Basic credentials
(CLIs, robots) carry nothing a browser adds by itself, and are exempt, as in Harbor; so is /c/login,
which is where a session starts. A session's token is the one stored with it, so a cookie planted by a
neighbouring site does not match.
"""

from __future__ import annotations

import re
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.core.errors import CsrfFailed
from services.core.security.session import session_of, set_cookie
from services.core.sessions.service import new_token

CSRF_HEADER = "X-Harbor-CSRF-Token"
CSRF_COOKIE = "__csrf"
# Request key: a handler that starts or ends a session names the token the response hands out.
CSRF_TOKEN_KEY = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXEMPT_PATHS = frozenset({"/c/login"})
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def needs_check(request: web.Request) -> bool:
    return request.method in UNSAFE_METHODS and session_of(request) is not None and request.path not in EXEMPT_PATHS


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def csrf_protection() -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        session = session_of(request)
        cookie = request.cookies.get(CSRF_COOKIE)
        if session is not None:
            expected = session.csrf
            valid = cookie is not None and _same(cookie, expected)
        else:
            valid = cookie is not None and _TOKEN.fullmatch(cookie) is not None
            expected = cookie if cookie is not None and valid else new_token()
        if needs_check(request) and not (valid and _same(request.headers.get(CSRF_HEADER, ""), expected)):
            raise CsrfFailed(headers={CSRF_HEADER: expected})
        response = await handler(request)
        token: str = request.get(CSRF_TOKEN_KEY, expected)
        if not response.prepared:
            response.headers[CSRF_HEADER] = token
            if cookie is None or not _same(cookie, token):
                set_cookie(response, request, CSRF_COOKIE, token)
        return response

    return middleware
