"""SQL of chart icons (written by the registry at push, services/registry/metadata/icons.py)."""

from __future__ import annotations

from services.common.db import Executor
from services.core.icons.models import Icon


async def icon(ex: Executor, digest: str) -> Icon | None:
    row = await ex.fetchrow("SELECT content_type, content FROM chart_icons WHERE digest = $1", digest)
    return None if row is None else Icon(content_type=row["content_type"], content=bytes(row["content"]))
