"""SQL for tags as the REST API shows and changes them. `$n` parameters only; column and order fragments
come from fixed tables here, never from the request. A list is two statements (the page, then the count)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.db import Executor
from services.core.artifacts.models import TAG_LIST, TagView
from services.core.listing import Page, SortKey, Term, column_map, order_by, where_clause

TAG_FILTERS = column_map(TAG_LIST.filters, {"name": "t.name"})
TAG_SORTS = column_map(TAG_LIST.sorts, {"name": "t.name", "id": "t.id", "push_time": "t.updated_at"})


async def list_tags(
    ex: Executor, artifact_id: int, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[TagView], int]:
    args: list[Any] = [artifact_id]
    where = where_clause("t.artifact_id = $1", terms, TAG_FILTERS, args)
    order = order_by(sort, TAG_SORTS, ["t.name ASC"], "t.id ASC")
    n = len(args)
    rows = await ex.fetch(
        "SELECT t.id, t.name, t.repository_id, t.artifact_id, t.updated_at, a.pull_time FROM tags t"
        f" JOIN artifacts a ON a.id = t.artifact_id{where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM tags t{where}", *args)
    return [
        TagView(
            id=r["id"],
            name=r["name"],
            repository_id=r["repository_id"],
            artifact_id=r["artifact_id"],
            pushed_at=r["updated_at"],
            pulled_at=r["pull_time"],
        )
        for r in rows
    ], int(total)


async def create_tag(ex: Executor, repository_id: int, artifact_id: int, name: str) -> int | None:
    """The new tag's id; None when the repository already has a tag of that name."""
    value: int | None = await ex.fetchval(
        "INSERT INTO tags (repository_id, artifact_id, name) VALUES ($1, $2, $3)"
        " ON CONFLICT (repository_id, name) DO NOTHING RETURNING id",
        repository_id,
        artifact_id,
        name,
    )
    return value


async def delete_tag(ex: Executor, artifact_id: int, name: str) -> bool:
    deleted = await ex.fetchval("DELETE FROM tags WHERE artifact_id = $1 AND name = $2 RETURNING id", artifact_id, name)
    return deleted is not None


async def copy_tags(ex: Executor, source_id: int, dest_repository_id: int, dest_artifact_id: int) -> list[str]:
    """The source's tags on the copy; a tag of that name in the destination moves to it, as a push would."""
    rows = await ex.fetch(
        "INSERT INTO tags (repository_id, artifact_id, name) SELECT $2, $3, t.name FROM tags t WHERE t.artifact_id = $1"
        " ON CONFLICT (repository_id, name) DO UPDATE SET artifact_id = EXCLUDED.artifact_id, updated_at = now()"
        " RETURNING name",
        source_id,
        dest_repository_id,
        dest_artifact_id,
    )
    return sorted(r["name"] for r in rows)
