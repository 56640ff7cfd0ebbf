"""SQL for the quota API: list, read and set a limit. The usage is never written here (migration 0019's
triggers keep it). `$n` parameters only; columns come from the fixed table below."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.common.db import Executor
from services.core.listing import Page, SortKey, column_map, order_by
from services.core.quotas.models import QUOTA_LIST, QuotaView

SORT_COLUMNS = column_map(
    QUOTA_LIST.sorts,
    {
        "hard.storage": "q.hard",
        "used.storage": "q.used",
        "creation_time": "q.created_at",
        "update_time": "q.updated_at",
        "id": "q.id",
    },
)
_SELECT = (
    "SELECT q.id, q.project_id, p.name AS project_name, COALESCE(o.username, '') AS owner_name, q.hard, q.used,"
    " q.created_at, q.updated_at FROM quotas q JOIN projects p ON p.id = q.project_id"
    " LEFT JOIN users o ON o.id = p.owner_id"
)


def _view(r: asyncpg.Record) -> QuotaView:
    return QuotaView(
        id=r["id"],
        project_id=r["project_id"],
        project_name=r["project_name"],
        owner_name=r["owner_name"],
        hard=r["hard"],
        used=r["used"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def list_quotas(
    ex: Executor, project_id: int | None, sort: Sequence[SortKey], page: Page
) -> tuple[list[QuotaView], int]:
    """A page of the quotas (of one project when `project_id` is given), and how many there are."""
    where = " WHERE ($1::bigint IS NULL OR q.project_id = $1)"
    order = order_by(sort, SORT_COLUMNS, ["q.id ASC"], "q.id ASC")
    rows = await ex.fetch(f"{_SELECT}{where} ORDER BY {order} LIMIT $2 OFFSET $3", project_id, page.size, page.offset)
    total = await ex.fetchval(f"SELECT count(*) FROM quotas q{where}", project_id)
    return [_view(r) for r in rows], int(total)


async def quota(ex: Executor, quota_id: int) -> QuotaView | None:
    row = await ex.fetchrow(f"{_SELECT} WHERE q.id = $1", quota_id)
    return None if row is None else _view(row)


async def project_quota(ex: Executor, project_id: int) -> tuple[int, int] | None:
    """(hard, used) of the project's quota."""
    row = await ex.fetchrow("SELECT hard, used FROM quotas WHERE project_id = $1", project_id)
    return None if row is None else (row["hard"], row["used"])


async def set_limit(ex: Executor, quota_id: int, hard: int) -> bool:
    """Takes the row's lock, as every push's commit does: a push committing after this sees the new limit."""
    status = await ex.execute("UPDATE quotas SET hard = $2, updated_at = now() WHERE id = $1", quota_id, hard)
    return status != "UPDATE 0"


async def set_project_limit(ex: Executor, project_id: int, hard: int) -> None:
    """The limit a project is created with (its quota row was written by the project's insert)."""
    await ex.execute("UPDATE quotas SET hard = $2, updated_at = now() WHERE project_id = $1", project_id, hard)
