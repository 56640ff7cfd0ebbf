"""SQL for registry endpoints (migration 0021). The password goes in and out as the ciphertext only: the
service encrypts and decrypts it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.core.errors import Conflict, RegistryInUse
from services.core.listing import Page, SortKey, Term, column_map, like_pattern, order_by, where_clause
from services.core.registries.models import REGISTRY_LIST, RegistryFields, RegistryView

_COLUMNS = (
    "r.id, r.name, r.description, r.type, r.url, r.insecure, r.ca_certificate, r.credential_type, r.access_key,"
    " r.access_secret <> '' AS has_secret, r.status, r.status_reason, r.created_at, r.updated_at"
)
REGISTRY_FILTERS = column_map(
    REGISTRY_LIST.filters, {"name": "r.name", "type": "r.type", "url": "r.url", "status": "r.status"}
)
REGISTRY_SORTS = column_map(
    REGISTRY_LIST.sorts,
    {"id": "r.id", "name": "r.name", "type": "r.type", "creation_time": "r.created_at", "update_time": "r.updated_at"},
)


_FIELDS = tuple(f.name for f in dataclasses.fields(RegistryView))


def _registry(row: asyncpg.Record) -> RegistryView:
    return RegistryView(**{name: row[name] for name in _FIELDS})


def _duplicate(name: str) -> Conflict:
    return Conflict(f"a registry named {name[:70]!r} already exists")


async def list_registries(
    ex: Executor, name_contains: str | None, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[RegistryView], int]:
    args: list[Any] = []
    base = "TRUE"
    if name_contains:
        args.append(like_pattern(name_contains))
        base = f"r.name LIKE ${len(args)} ESCAPE '\\'"
    sql_where = where_clause(base, terms, REGISTRY_FILTERS, args)
    order = order_by(sort, REGISTRY_SORTS, [], "r.id ASC")
    n = len(args)
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM registries r{sql_where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(f"SELECT count(*) FROM registries r{sql_where}", *args)
    return [_registry(r) for r in rows], int(total)


async def all_registries(ex: Executor) -> list[tuple[RegistryView, str]]:
    """Every endpoint with its password's ciphertext, for the regular health check."""
    rows = await ex.fetch(f"SELECT {_COLUMNS}, r.access_secret AS ciphertext FROM registries r ORDER BY r.id")
    return [(_registry(r), r["ciphertext"]) for r in rows]


async def registry(ex: Executor, registry_id: int) -> tuple[RegistryView, str] | None:
    """The endpoint and its password's ciphertext ('' for none)."""
    row = await ex.fetchrow(
        f"SELECT {_COLUMNS}, r.access_secret AS ciphertext FROM registries r WHERE r.id = $1", registry_id
    )
    return None if row is None else (_registry(row), row["ciphertext"])


def _values(fields: RegistryFields, ciphertext: str) -> tuple[Any, ...]:
    return (
        fields.name,
        fields.description,
        fields.type,
        fields.url,
        fields.insecure,
        fields.ca_certificate,
        fields.credential_type,
        fields.access_key,
        ciphertext,
    )


async def create_registry(ex: Executor, fields: RegistryFields, ciphertext: str, status: str) -> RegistryView:
    try:
        row = await ex.fetchrow(
            "INSERT INTO registries AS r (name, description, type, url, insecure, ca_certificate, credential_type,"
            " access_key, access_secret, status, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())"
            f" RETURNING {_COLUMNS}",
            *_values(fields, ciphertext),
            status,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(fields.name) from None
    assert row is not None
    return _registry(row)


async def update_registry(
    ex: Executor, registry_id: int, fields: RegistryFields, ciphertext: str, status: str
) -> RegistryView | None:
    """The endpoint as updated (every field replaced); None when it is gone."""
    try:
        row = await ex.fetchrow(
            "UPDATE registries AS r SET name = $2, description = $3, type = $4, url = $5, insecure = $6,"
            " ca_certificate = $7, credential_type = $8, access_key = $9, access_secret = $10, status = $11,"
            " status_reason = '', checked_at = now(), updated_at = now()"
            f" WHERE r.id = $1 RETURNING {_COLUMNS}",
            registry_id,
            *_values(fields, ciphertext),
            status,
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate(fields.name) from None
    return None if row is None else _registry(row)


async def set_status(ex: Executor, registry_id: int, status: str, reason: str) -> None:
    await ex.execute(
        "UPDATE registries SET status = $2, status_reason = $3, checked_at = now() WHERE id = $1",
        registry_id,
        status,
        reason,
    )


async def delete_registry(ex: Executor, registry_id: int) -> RegistryView | None:
    try:
        row = await ex.fetchrow(f"DELETE FROM registries AS r WHERE r.id = $1 RETURNING {_COLUMNS}", registry_id)
    except asyncpg.ForeignKeyViolationError as exc:
        what = "proxy cache projects" if exc.table_name == "projects" else "replication policies"
        raise RegistryInUse(f"the registry {registry_id} is referenced by {what}, cannot delete it") from None
    return None if row is None else _registry(row)
