"""Bearer-token access control: the registry half of the Docker token flow.

A request without a token is answered 401 with the challenge that sends the client to the token service.
A token is verified locally against the token service's certificate (signature, issuer, audience, time
with a small leeway) and its access list must cover what the request needs. Verified claims are cached
until they expire, so the check costs no database round trip and no signature check per request; only a
refused push asks the database whether the project exists, to say so.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import structlog
from aiohttp import web

from services.common.auth.tokens import Claims, InvalidToken, TokenVerifier
from services.common.db import Database
from services.registry.api.routes import Access
from services.registry.errors import Denied, Unauthorized
from services.registry.metadata import projects

CLAIMS = "claims"
MAX_CACHED_TOKENS = 10_000
log = structlog.get_logger()


class CertificateSource:
    """The token service's certificate, reloaded when the file changes (first start, key rotation)."""

    def __init__(self, path: str, *, issuer: str, audience: str) -> None:
        self._path = Path(path)
        self._issuer = issuer
        self._audience = audience
        self._stamp: tuple[int, int] | None = None
        self._verifier: TokenVerifier | None = None

    def verifier(self) -> TokenVerifier:
        try:
            st = self._path.stat()
        except OSError:
            raise InvalidToken(
                f"no token certificate at {self._path} yet (token.certificate); is the token service running?"
            ) from None
        stamp = (st.st_mtime_ns, st.st_size)
        if self._verifier is None or stamp != self._stamp:
            self._verifier = TokenVerifier(self._path.read_bytes(), issuer=self._issuer, audience=self._audience)
            self._stamp = stamp
        return self._verifier


class TokenAuthorizer:
    def __init__(self, certificate: CertificateSource, realm: str, service: str, db: Database) -> None:
        self._certificate = certificate
        self._realm = realm
        self._service = service
        self._db = db
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    async def authorize(self, request: web.Request, needed: list[Access]) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("authentication required", headers=self._challenge(needed))
        try:
            claims = self._claims(token.strip())
        except InvalidToken as exc:
            raise Unauthorized(str(exc), headers=self._challenge(needed, error="invalid_token")) from None
        request[CLAIMS] = claims
        request["user"] = claims.subject
        missing = [a for a in needed if not claims.allows(a.type, a.name, a.action)]
        if not missing:
            return
        first = missing[0]
        if first.type == "repository" and any(a.action == "push" for a in needed):
            project = first.name.split("/", 1)[0]
            if not await projects.exists(self._db.pool, project):
                raise Denied(f"project {project} does not exist; create it before pushing to {first.name}")
        who = claims.subject or "anonymous"
        raise Unauthorized(
            f"{who} may not {first.action} {first.type} {first.name}",
            headers=self._challenge(needed, error="insufficient_scope"),
        )

    def allows(self, request: web.Request, access: Access) -> bool:
        claims: Claims | None = request.get(CLAIMS)
        return claims is not None and claims.allows(access.type, access.name, access.action)

    def _claims(self, token: str) -> Claims:
        now = int(time.time())
        claims = self._verified.get(token)
        if claims is None:
            claims = self._certificate.verifier().verify(token, now=now)
            self._verified[token] = claims
            if len(self._verified) > MAX_CACHED_TOKENS:
                self._verified.popitem(last=False)
        elif claims.expires_at < now:
            del self._verified[token]
            raise InvalidToken("token has expired")
        return claims

    def _challenge(self, needed: list[Access], error: str | None = None) -> dict[str, str]:
        parts = [f'realm="{self._realm}"', f'service="{self._service}"']
        scopes = _scopes(needed)
        if scopes:
            parts.append(f'scope="{scopes}"')
        if error:
            parts.append(f'error="{error}"')
        return {"WWW-Authenticate": "Bearer " + ",".join(parts)}


def _scopes(needed: list[Access]) -> str:
    """`repository:a/b:pull,push` per resource, joined by spaces as the token spec's scope list is."""
    merged: dict[tuple[str, str], list[str]] = {}
    for access in needed:
        actions = merged.setdefault((access.type, access.name), [])
        if access.action not in actions:
            actions.append(access.action)
    return " ".join(f"{kind}:{name}:{','.join(actions)}" for (kind, name), actions in merged.items())
