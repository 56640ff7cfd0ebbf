"""SQL for replication policies (migration 0022)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.core.errors import BadRequest, Conflict
from services.core.listing import Page, SortKey, Term, column_map, like_pattern, order_by, where_clause
from services.core.replication.models import POLICY_LIST, Filter, PolicyFields, PolicyView

_COLUMNS = (
    "p.id, p.name, p.description, p.creator, p.src_registry_id, p.dest_registry_id, p.dest_namespace,"
    " p.dest_namespace_replace_count, p.trigger_type, p.cron, p.filters, p.replicate_deletion, p.override,"
    " p.enabled, p.speed, p.copy_by_chunk, p.single_active_replication, p.created_at, p.updated_at"
)
POLICY_FILTERS = column_map(POLICY_LIST.filters, {"name": "p.name", "enabled": "p.enabled"})
POLICY_SORTS = column_map(
    POLICY_LIST.sorts,
    {"id": "p.id", "name": "p.name", "creation_time": "p.created_at", "update_time": "p.updated_at"},
)


def _filters(text: str) -> tuple[Filter, ...]:
    return tuple(
        Filter(f["type"], tuple(f["value"]) if isinstance(f["value"], list) else f["value"], f["decoration"])
        for f in json.loads(text)
    )


def _policy(row: asyncpg.Record) -> PolicyView:
    fields = PolicyFields(
        name=row["name"],
        src_registry_id=row["src_registry_id"],
        dest_registry_id=row["dest_registry_id"],
        description=row["description"],
        dest_namespace=row["dest_namespace"],
        dest_namespace_replace_count=row["dest_namespace_replace_count"],
        trigger_type=row["trigger_type"],
        cron=row["cron"],
        filters=_filters(row["filters"]),
        replicate_deletion=row["replicate_deletion"],
        override=row["override"],
        enabled=row["enabled"],
        speed=row["speed"],
        copy_by_chunk=row["copy_by_chunk"],
        single_active_replication=row["single_active_replication"],
    )
    return PolicyView(row["id"], fields, row["creator"], row["created_at"], row["updated_at"])


def _values(fields: PolicyFields) -> tuple[Any, ...]:
    return (
        fields.name,
        fields.description,
        fields.src_registry_id,
        fields.dest_registry_id,
        fields.dest_namespace,
        fields.dest_namespace_replace_count,
        fields.trigger_type,
        fields.cron,
        json.dumps([f.to_json() for f in fields.filters]),
        fields.replicate_deletion,
        fields.override,
        fields.enabled,
        fields.speed,
        fields.copy_by_chunk,
        fields.single_active_replication,
    )


def _refused(exc: asyncpg.PostgresError, name: str) -> Exception:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict(f"a replication policy named {name[:100]!r} already exists")
    # A registry deleted between the service's check and this statement.
    return BadRequest("the policy names a registry that does not exist")


async def list_policies(
    ex: Executor, name_contains: str | None, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[PolicyView], int]:
    args: list[Any] = []
    base = "TRUE"
    if name_contains:
        args.append(like_pattern(name_contains))
        base = f"p.name LIKE ${len(args)} ESCAPE '\\'"
    sql_where = where_clause(base, terms, POLICY_FILTERS, args)
    order = order_by(sort, POLICY_SORTS, [], "p.id ASC")
    n = len(args)
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM replication_policies p{sql_where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM replication_policies p{sql_where}", *args)
    return [_policy(r) for r in rows], int(total)


async def policy(ex: Executor, policy_id: int) -> PolicyView | None:
    row = await ex.fetchrow(f"SELECT {_COLUMNS} FROM replication_policies p WHERE p.id = $1", policy_id)
    return None if row is None else _policy(row)


async def create_policy(ex: Executor, fields: PolicyFields, creator: str) -> PolicyView:
    try:
        row = await ex.fetchrow(
            "INSERT INTO replication_policies AS p (name, description, src_registry_id, dest_registry_id,"
            " dest_namespace, dest_namespace_replace_count, trigger_type, cron, filters, replicate_deletion,"
            " override, enabled, speed, copy_by_chunk, single_active_replication, creator)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15, $16)"
            f" RETURNING {_COLUMNS}",
            *_values(fields),
            creator,
        )
    except (asyncpg.UniqueViolationError, asyncpg.ForeignKeyViolationError) as exc:
        raise _refused(exc, fields.name) from None
    assert row is not None
    return _policy(row)


async def update_policy(ex: Executor, policy_id: int, fields: PolicyFields) -> PolicyView | None:
    try:
        row = await ex.fetchrow(
            "UPDATE replication_policies AS p SET name = $2, description = $3, src_registry_id = $4,"
            " dest_registry_id = $5, dest_namespace = $6, dest_namespace_replace_count = $7, trigger_type = $8,"
            " cron = $9, filters = $10::jsonb, replicate_deletion = $11, override = $12, enabled = $13,"
            " speed = $14, copy_by_chunk = $15, single_active_replication = $16, updated_at = now()"
            f" WHERE p.id = $1 RETURNING {_COLUMNS}",
            policy_id,
            *_values(fields),
        )
    except (asyncpg.UniqueViolationError, asyncpg.ForeignKeyViolationError) as exc:
        raise _refused(exc, fields.name) from None
    return None if row is None else _policy(row)


async def delete_policy(ex: Executor, policy_id: int) -> PolicyView | None:
    row = await ex.fetchrow(f"DELETE FROM replication_policies AS p WHERE p.id = $1 RETURNING {_COLUMNS}", policy_id)
    return None if row is None else _policy(row)
