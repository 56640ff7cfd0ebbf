"""SQL of the audit log. Entries that came through the outbox carry their event_id, which is unique: an
event delivered twice is written once. A list is two statements, the page and the count."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.common.db import Executor
from services.core.audit.models import AUDIT_LIST, AuditEntry, AuditView
from services.core.listing import Page, SortKey, Term, column_map, order_by, where_clause

# The q and sort keys Harbor's audit log takes, and their columns; nothing else reaches SQL.
_KEYS = {*AUDIT_LIST.filters, *AUDIT_LIST.sorts}
COLUMNS = column_map(_KEYS, {key: key for key in _KEYS})
_SELECT = (
    "SELECT id, project_id, operation, resource_type, resource, username, op_time, operation_description,"
    " operation_result FROM audit_log"
)


async def insert(tx: Executor, entries: Sequence[AuditEntry]) -> set[uuid.UUID]:
    """Writes the entries not written before; returns the event ids of those that were new."""
    if not entries:
        return set()
    rows = await tx.fetch(
        "INSERT INTO audit_log (event_id, project_id, operation, resource_type, resource, username, op_time)"
        " SELECT e.event_id, p.id, e.operation, e.resource_type, e.resource, e.username, e.op_time"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])"
        "   AS e(event_id, project, operation, resource_type, resource, username, op_time)"
        " LEFT JOIN projects p ON p.name = e.project"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        [e.event_id for e in entries],
        [e.project for e in entries],
        [e.operation for e in entries],
        [e.resource_type for e in entries],
        [e.resource for e in entries],
        [e.username for e in entries],
        [e.op_time for e in entries],
    )
    return {r["event_id"] for r in rows}


async def list_entries(
    ex: Executor,
    project_ids: Sequence[int] | None,
    terms: Sequence[Term],
    sort: Sequence[SortKey],
    page: Page,
    *,
    failures: bool = False,
) -> tuple[list[AuditView], int]:
    """`project_ids` None: every entry (the sysadmin's view). `failures`: also the failed operations (failed
    logins), which only the extended log (AuditLogExt, with its operation_result) can show as failures."""
    args: list[Any] = []
    base = "TRUE" if failures else "operation_result"
    if project_ids is not None:
        args.append(list(project_ids))
        base += " AND project_id = ANY($1::bigint[])"
    where = where_clause(base, terms, COLUMNS, args)
    # Newest first unless asked otherwise.
    order = order_by(sort, COLUMNS, ["op_time DESC"], "id DESC")
    rows = await ex.fetch(
        f"{_SELECT}{where} ORDER BY {order} LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM audit_log{where}", *args)
    return [AuditView(**dict(r)) for r in rows], int(total)
