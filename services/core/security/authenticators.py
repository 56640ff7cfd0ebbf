"""Request authenticators: asked in order, the first that recognizes the request names its principal.

`create_app` puts the session cookie (`security/session.py`, from /c/login; CSRF-checked in
`security/csrf.py`) in front of `BasicAuthenticator`. Anything no authenticator recognizes is anonymous.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from services.common.auth.authenticate import Authentication, Principal
from services.common.auth.errors import InvalidCredentials, MalformedCredentials


class RequestAuthenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Principal | None:
        """The principal the request proves; None when it carries nothing this authenticator reads.
        Raise `Unauthorized` when it does and the proof fails."""


class BasicAuthenticator:
    """HTTP Basic for robot accounts, database users and (in ldap_auth mode) directory users: the token
    service's authenticators, shared. A directory that does not answer is a 503, not a refusal."""

    def __init__(self, authentication: Authentication) -> None:
        self._authentication = authentication

    async def authenticate(self, request: web.Request) -> Principal | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        try:
            # No project list: core looks projects up per request, with the principal's roles.
            identified = await self._authentication.identify(header, ())
        except MalformedCredentials as exc:
            # For the REST API garbled credentials are wrong credentials: a 401 with the challenge.
            raise InvalidCredentials(exc.message) from None
        return identified.principal
