"""Bearer-token access control: the registry half of the Docker token flow.

A request without a token is answered 401 with the challenge that sends the client to the token service.
A token is verified locally against the token service's certificate (signature, issuer, audience, time
with a small leeway) and its access list must cover what the request needs. Verified claims are cached
until they expire, so there is no signature check per request.

Each repository entry of a token is bound to the id of the project it was granted in, and covers a request
only while the project named by the repository still has that id (`Claims.refusal`): a token outlives
neither its project's deletion nor a re-creation under the same name by someone else. The current id
comes from `ProjectIds` (cached for pulls, read for writes). A refusal for that reason is answered as a
scope the token lacks (401 insufficient_scope, or 403 for a push to a project that no longer exists) and
logged in one line with the reason. A refused push asks the database whether the project exists, to say so.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import structlog
from aiohttp import web

from services.common.auth.scopes import REPOSITORY, project_of
from services.common.auth.tokens import Claims, InvalidToken, TokenVerifier
from services.common.cache import LookupCache
from services.common.db import Database
from services.registry.api.routes import Access
from services.registry.errors import Denied, Unauthorized
from services.registry.metadata import projects

CLAIMS = "claims"
MAX_CACHED_TOKENS = 10_000
# What one cached project id costs in memory, roughly: the key and a few small objects.
CACHED_PROJECT_ENTRY_BYTES = 200
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


class ProjectIds:
    """The id the project of a repository has now, to compare with the one a token was granted under.

    Reads go to the database (one round trip, two unique-index lookups) unless the lookup cache has the
    answer. Pulls, most of them served from the cache without any query, ask it with `fresh=False`: the id
    is cached under the project's name, dropped with the repository it was read for (its deletion notifies)
    and with every other entry when any project is deleted or renamed (migration 0010), so a cached id
    never outlives its project. A project without repositories is not cached (a pull finds nothing there).

    Writes (push, delete, the source of a mount) ask with `fresh=True` and always read: they query the
    database anyway, and need not wait for a notification to arrive."""

    def __init__(self, db: Database, cache: LookupCache | None) -> None:
        self._db = db
        self._cache = cache

    async def current(self, repository: str, *, fresh: bool) -> int | None:
        project = project_of(repository)
        if project is None:
            return None
        key = ("project_id", project)
        cache = self._cache
        if cache is not None and not fresh:
            cached: int | None = cache.get(key)
            if cached is not None:
                return cached
        generation = cache.generation if cache is not None else 0
        project_id, repository_id = await projects.current_id(self._db.pool, project, repository)
        if cache is not None and project_id is not None and repository_id is not None:
            cache.put(key, repository_id, project_id, CACHED_PROJECT_ENTRY_BYTES, generation)
        return project_id


class TokenAuthorizer:
    def __init__(
        self,
        certificate: CertificateSource,
        realm: str,
        service: str,
        db: Database,
        cache: LookupCache | None = None,
    ) -> None:
        self._certificate = certificate
        self._realm = realm
        self._service = service
        self._db = db
        self._project_ids = ProjectIds(db, cache)
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
        missing = [a for a in needed if claims.entry(a.type, a.name, a.action) is None]
        if not missing:
            # Granted by name; now the project each repository entry was granted in must still be there.
            fresh = any(a.action != "pull" for a in needed)
            refused = await self._project_refusal(claims, needed, fresh=fresh)
            if refused is None:
                return
            missing = [refused]
        first = missing[0]
        if first.type == REPOSITORY and any(a.action == "push" for a in needed):
            project = first.name.split("/", 1)[0]
            if not await projects.exists(self._db.pool, project):
                raise Denied(f"project {project} does not exist; create it before pushing to {first.name}")
        who = claims.subject or "anonymous"
        raise Unauthorized(
            f"{who} may not {first.action} {first.type} {first.name}",
            headers=self._challenge(needed, error="insufficient_scope"),
        )

    async def allows(self, request: web.Request, access: Access) -> bool:
        claims: Claims | None = request.get(CLAIMS)
        if claims is None or claims.entry(access.type, access.name, access.action) is None:
            return False
        return await self._project_refusal(claims, [access], fresh=True) is None

    async def _project_refusal(self, claims: Claims, needed: list[Access], *, fresh: bool) -> Access | None:
        """The first of `needed` (each granted by name) that the token's project ids do not cover, logged
        with the reason; None when they all are covered. One lookup per repository named."""
        current: dict[str, int | None] = {}
        for access in needed:
            if access.type != REPOSITORY:
                continue
            entry = claims.entry(access.type, access.name, access.action)
            # A token issued before entries carried the id is refused without asking the database.
            if entry is not None and entry.project_id is not None and access.name not in current:
                current[access.name] = await self._project_ids.current(access.name, fresh=fresh)
            reason = claims.refusal(access.type, access.name, access.action, current.get(access.name))
            if reason is None:
                continue
            log.warning(
                "token_refused_for_project",
                reason=str(reason),
                subject=claims.subject or "anonymous",
                jti=claims.jwt_id,
                repository=access.name,
                action=access.action,
                token_project_id=entry.project_id if entry is not None else None,
                project_id=current.get(access.name),
            )
            return access
        return None

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
