"""SQL for labels and their attachment to artifacts. `$n` parameters only; a list is two statements (the
page and the count) whatever the page size. How an artifact view carries its labels (one sub-select of
the artifact page query) is in services.core.artifacts.store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.core.artifacts.models import ArtifactRef
from services.core.errors import Conflict
from services.core.labels.models import LabelFields, LabelFilter, LabelNotFound, LabelView, Scope
from services.core.listing import Page, SortKey, Term, like_pattern, where_clause

_COLUMNS = "l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at, l.updated_at"
LABEL_FILTERS = {"name": "l.name"}
LABEL_SORTS = {"id": "l.id", "name": "l.name", "creation_time": "l.created_at", "update_time": "l.updated_at"}


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
    order = [f"{LABEL_SORTS[k.key]} {'DESC' if k.descending else 'ASC'}" for k in sort]
    order.append("l.id ASC")  # a total order, so pages never overlap
    n = len(args)
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM labels l{sql_where} ORDER BY {', '.join(order)} LIMIT ${n + 1} OFFSET ${n + 2}",
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


async def artifact_id(ex: Executor, repository: str, ref: ArtifactRef) -> int | None:
    """The id of the artifact `ref` names in the repository (full name)."""
    value: int | None
    if ref.tag is not None:
        value = await ex.fetchval(
            "SELECT t.artifact_id FROM tags t JOIN repositories r ON r.id = t.repository_id"
            " WHERE r.name = $1 AND t.name = $2",
            repository,
            ref.tag,
        )
    else:
        value = await ex.fetchval(
            "SELECT a.id FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
            " WHERE r.name = $1 AND a.digest = $2",
            repository,
            ref.digest,
        )
    return value


async def attach(ex: Executor, artifact_id: int, label_id: int) -> bool:
    """False when the label is already attached. One statement: its foreign keys make a label (or an
    artifact) deleted meanwhile a 404 rather than a dangling row."""
    try:
        value = await ex.fetchval(
            "INSERT INTO artifact_labels (artifact_id, label_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            " RETURNING label_id",
            artifact_id,
            label_id,
        )
    except asyncpg.ForeignKeyViolationError:
        raise LabelNotFound("the label or the artifact was deleted meanwhile") from None
    return value is not None


async def detach(ex: Executor, artifact_id: int, label_id: int) -> bool:
    value = await ex.fetchval(
        "DELETE FROM artifact_labels WHERE artifact_id = $1 AND label_id = $2 RETURNING label_id",
        artifact_id,
        label_id,
    )
    return value is not None
