"""SQL of Helm chart icons (migration 0017): stored once by digest, read by core's GET /icons/{digest}."""

from __future__ import annotations

from services.common.db import Executor


async def put(ex: Executor, digest: str, content_type: str, content: bytes) -> None:
    await ex.execute(
        "INSERT INTO chart_icons (digest, content_type, content) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
        digest,
        content_type,
        content,
    )
