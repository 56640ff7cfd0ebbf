"""The session cookie (`sid`, from /c/login): reading it as an authenticator, and writing it."""

from __future__ import annotations

from aiohttp import web

from services.common.auth.authenticate import Principal
from services.core.sessions.service import Session, SessionService

SESSION_COOKIE = "sid"
SESSION_KEY = "session"  # request key: the Session that authenticated the request, if one did


def is_https(request: web.Request) -> bool:
    """Whether the client's connection is HTTPS: directly, or as the proxy in front reports it."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    # HttpOnly: scripts never read it (the CSRF token reaches them in a header). Lax: not sent on
    # cross-site POSTs. No Max-Age: a browser-session cookie; the server's TTL is what expires it.
    response.set_cookie(name, value, path="/", httponly=True, samesite="Lax", secure=is_https(request))


class SessionAuthenticator:
    """A valid `sid` cookie is its user; an unknown or expired one is no proof at all (the next
    authenticator, then anonymous), never an error: browsers keep stale cookies."""

    def __init__(self, sessions: SessionService) -> None:
        self._sessions = sessions

    async def authenticate(self, request: web.Request) -> Principal | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        found = await self._sessions.resolve(session_id)
        if found is None:
            return None
        principal, session = found
        request[SESSION_KEY] = session
        return principal


def session_of(request: web.Request) -> Session | None:
    session: Session | None = request.get(SESSION_KEY)
    return session
