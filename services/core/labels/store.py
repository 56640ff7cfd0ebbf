"""SQL for labels. `$n` parameters only; a list is two statements (the page and the count) whatever the
page size. Attaching labels to artifacts, and how an artifact view carries its labels (one sub-select of
the artifact page query), are the artifacts' (services.core.artifacts.artifact_store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.core.errors import Conflict
from services.core.labels.models import LABEL_LIST, LabelFields, LabelFilter, LabelView, Scope
from services.core.listing import Page, SortKey, Term, column_map, like_pattern, order_by, where_clause

_COLUMNS = "l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at, l.updated_at"
LABEL_FILTERS = column_map(LABEL_LIST.filters, {"name": "l.name"})
LABEL_SORTS = column_map(
    LABEL_LIST.sorts, {"id": "l.id", "name": "l.name", "creation_time": "l.created_at", "update_time": "l.updated_at"}
)


def _label(row: asyncpg.Record) -> LabelView:
    scope: Scope = "g" if row["scope"] == "g" else "p"
    return LabelView(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        color=row["color"],
        scope=scope,
        project_id=row["project_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _duplicate(name: str) -> Conflict:
    return Conflict(f"a label named {name[:130]!r} already exists in this scope")


async def list_labels(
    ex: Executor, where: LabelFilter, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[LabelView], int]:
    args: list[Any] = [where.scope, where.project_id]
    base = "l.scope = $1 AND l.project_id IS NOT DISTINCT FROM $2"
    if where.name_contains:
        args.append(like_pattern(where.name_contains))
        base += f" AND l.name LIKE ${len(args)} ESCAPE '\\'"
    sql_where = where_clause(base, terms, LABEL_FILTERS, args)
    order = order_by(sort, LABEL_SORTS, [], "l.id ASC")
    n = len(args)
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM labels l{sql_where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM labels l{sql_where}", *args)
    return [_label(r) for r in rows], int(total)


async def label(ex: Executor, label_id: int) -> LabelView | None:
    row = await ex.fetchrow(f"SELECT {_COLUMNS} FROM labels l WHERE l.id = $1", label_id)
    return None if row is None else _label(row)


async def create_label(ex: Executor, fields: LabelFields, scope: Scope, project_id: int | None) -> LabelView:
    try:
        row = await ex.fetchrow(
            "INSERT INTO labels AS l (name, description, color, scope, project_id) VALUES ($1, $2, $3, $4, $5)"
            f" RETURNING {_COLUMNS}",
            fields.name,
            fields.description,
            fields.color,
            scope,
            project_id,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(fields.name) from None
    assert row is not None
    return _label(row)


async def update_label(ex: Executor, label_id: int, fields: LabelFields) -> LabelView | None:
    """The label as updated; None when it is gone."""
    try:
        row = await ex.fetchrow(
            "UPDATE labels AS l SET name = $2, description = $3, color = $4, updated_at = now() WHERE l.id = $1"
            f" RETURNING {_COLUMNS}",
            label_id,
            fields.name,
            fields.description,
            fields.color,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(fields.name) from None
    return None if row is None else _label(row)


async def delete_label(ex: Executor, label_id: int) -> tuple[LabelView, int] | None:
    """Detaches the label from every artifact, then deletes it; call in a transaction. The label and the
    number of artifacts it was attached to; None when it is gone."""
    detached = await ex.fetchval(
        "WITH gone AS (DELETE FROM artifact_labels WHERE label_id = $1 RETURNING 1) SELECT count(*) FROM gone",
        label_id,
    )
    row = await ex.fetchrow(f"DELETE FROM labels AS l WHERE l.id = $1 RETURNING {_COLUMNS}", label_id)
    return None if row is None else (_label(row), int(detached))


async def global_label_names(ex: Executor) -> list[str]:
    """What a replication policy's label filter can choose from on this registry."""
    rows = await ex.fetch("SELECT name FROM labels WHERE scope = 'g' ORDER BY name")
    return [r["name"] for r in rows]
