"""SQL of webhook policies (migration 0024) and of when each last fired. `$n` parameters only; a list is
two statements (the page and the count)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.core.errors import Conflict
from services.core.listing import Page, SortKey, Term, column_map, order_by, where_clause
from services.core.webhooks.models import POLICY_LIST, PolicyView, StoredTarget

_COLUMNS = "id, project_id, name, description, creator, enabled, event_types, targets, created_at, updated_at"
_TIMES = {"creation_time": "created_at", "update_time": "updated_at"}
POLICY_FILTERS = column_map(
    POLICY_LIST.filters,
    {"name": "name", "description": "description", "creator": "creator", "enabled": "enabled", **_TIMES},
)
POLICY_SORTS = column_map(
    POLICY_LIST.sorts, {"id": "id", "name": "name", "creator": "creator", "enabled": "enabled", **_TIMES}
)


def _policy(row: asyncpg.Record) -> PolicyView:
    targets = tuple(
        StoredTarget(
            str(t.get("type", "http")),
            str(t.get("address", "")),
            str(t.get("payload_format") or "Default"),
            bool(t.get("skip_cert_verify")),
            str(t.get("auth_header", "")),
            str(t.get("signing_secret", "")),
        )
        for t in json.loads(row["targets"])
    )
    return PolicyView(
        row["id"],
        row["project_id"],
        row["name"],
        row["description"],
        row["creator"],
        row["enabled"],
        tuple(row["event_types"]),
        targets,
        row["created_at"],
        row["updated_at"],
    )


def _duplicate(name: str) -> Conflict:
    return Conflict(f"a webhook policy named {name[:70]!r} already exists in the project")


async def list_policies(
    ex: Executor, project_id: int, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[PolicyView], int]:
    """A page of the project's policies, newest first unless `sort` says otherwise."""
    args: list[Any] = [project_id]
    sql_where = where_clause("project_id = $1", terms, POLICY_FILTERS, args)
    order = order_by(sort, POLICY_SORTS, ["created_at DESC"], "id DESC")
    n = len(args)
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM webhook_policies{sql_where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM webhook_policies{sql_where}", *args)
    return [_policy(r) for r in rows], int(total)


async def all_policies(ex: Executor, project_id: int) -> list[PolicyView]:
    """Every policy of the project, oldest first (Harbor's lasttrigger lists them all, unpaged)."""
    rows = await ex.fetch(f"SELECT {_COLUMNS} FROM webhook_policies WHERE project_id = $1 ORDER BY id", project_id)
    return [_policy(r) for r in rows]


async def policy(ex: Executor, project_id: int, policy_id: int) -> PolicyView | None:
    row = await ex.fetchrow(
        f"SELECT {_COLUMNS} FROM webhook_policies WHERE project_id = $1 AND id = $2", project_id, policy_id
    )
    return None if row is None else _policy(row)


async def create_policy(
    ex: Executor,
    project_id: int,
    name: str,
    description: str,
    enabled: bool,
    event_types: tuple[str, ...],
    targets: list[StoredTarget],
    creator: str,
) -> PolicyView:
    try:
        row = await ex.fetchrow(
            "INSERT INTO webhook_policies (project_id, name, description, enabled, event_types, targets, creator)"
            f" VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING {_COLUMNS}",
            project_id,
            name,
            description,
            enabled,
            list(event_types),
            json.dumps([t.to_json() for t in targets]),
            creator,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(name) from None
    assert row is not None
    return _policy(row)


async def update_policy(
    ex: Executor,
    project_id: int,
    policy_id: int,
    name: str,
    description: str,
    enabled: bool,
    event_types: tuple[str, ...],
    targets: list[StoredTarget],
) -> PolicyView | None:
    """The policy as updated; None when the project has no such policy."""
    try:
        row = await ex.fetchrow(
            "UPDATE webhook_policies SET name = $3, description = $4, enabled = $5, event_types = $6,"
            " targets = $7::jsonb, updated_at = now()"
            f" WHERE project_id = $1 AND id = $2 RETURNING {_COLUMNS}",
            project_id,
            policy_id,
            name,
            description,
            enabled,
            list(event_types),
            json.dumps([t.to_json() for t in targets]),
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(name) from None
    return None if row is None else _policy(row)


async def delete_policy(ex: Executor, project_id: int, policy_id: int) -> bool:
    """The policy and its executions (Harbor's DeleteByVendor), their logs with them. A delivery running
    now loses its row: its worker's next heartbeat finds it gone and drops it, so nothing is sent after."""
    value = await ex.fetchval(
        "DELETE FROM webhook_policies WHERE project_id = $1 AND id = $2 RETURNING id", project_id, policy_id
    )
    if value is None:
        return False
    await ex.execute("DELETE FROM jobs WHERE type = 'WEBHOOK' AND parameters->>'policy_id' = $1", str(policy_id))
    return True


async def last_triggers(ex: Executor, project_id: int) -> dict[tuple[int, str], dt.datetime]:
    """(policy id, event type) → when its newest delivery was made, for the project's policies."""
    rows = await ex.fetch(
        "SELECT (j.parameters->>'policy_id')::bigint AS policy_id, j.parameters->>'event_type' AS event_type,"
        " max(j.created_at) AS at FROM jobs j WHERE j.type = 'WEBHOOK'"
        " AND j.parameters->>'policy_id' IN (SELECT id::text FROM webhook_policies WHERE project_id = $1)"
        " GROUP BY 1, 2",
        project_id,
    )
    return {(r["policy_id"], r["event_type"]): r["at"] for r in rows}
