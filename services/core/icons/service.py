"""Harbor's GET /icons/{digest}: a Helm chart's icon, by the digest its artifact's `icon` names.

As Harbor's, it asks for no login and checks no project: an icon is found only by the digest of its
bytes, which only those who may see the artifact learn. Icons are never fetched from a URL (see
services/registry/chart_additions.py); those a chart does not carry are not there. No aiohttp."""

from __future__ import annotations

from services.common.db import Database
from services.common.oci.digest import InvalidDigest, parse_digest
from services.core.errors import BadRequest, NotFound
from services.core.icons import store
from services.core.icons.models import Icon


class IconService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, digest: str) -> Icon:
        try:
            parse_digest(digest)
        except InvalidDigest:
            raise BadRequest(f"{digest[:100]!r} is not a digest (sha256:<64 hex digits>)") from None
        found = await store.icon(self._db.pool, digest)
        if found is None:
            raise NotFound(f"icon {digest} not found")
        return found
