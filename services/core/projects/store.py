"""SQL for projects as a caller sees them. `$n` parameters only; column and order fragments come from
fixed tables here, never from the request.

A list is two statements (the page, then the count) whatever the page size: owner names, repository
counts and the caller's roles are joined or sub-selected in the page query, not fetched per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.rbac import Role
from services.core.listing import Page, SortKey, Term, column_map, order_by, where_clause
from services.core.projects.models import PROJECT_LIST, ProjectView
from services.core.security.access import Viewer

# Filterable and sortable keys → SQL expressions (a fixed table: request text never becomes SQL).
FILTER_COLUMNS = column_map(
    PROJECT_LIST.filters, {"name": "p.name", "public": "p.public", "owner": "o.username", "project_id": "p.id"}
)
SORT_COLUMNS = column_map(
    PROJECT_LIST.sorts,
    {"name": "p.name", "project_id": "p.id", "creation_time": "p.created_at", "update_time": "p.updated_at"},
)

# The roles user $1 holds in project p, directly or through a group.
_ROLES = (
    "COALESCE((SELECT array_agg(m.role) FROM project_members m WHERE m.project_id = p.id AND $1::bigint IS NOT NULL"
    " AND ((m.entity_type = 'u' AND m.entity_id = $1)"
    " OR (m.entity_type = 'g' AND m.entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = $1)))),"
    " '{}')"
)
# Repositories named "<project>/...": a range over the C-collated unique index ('0' follows '/').
_REPO_COUNT = "(SELECT count(*) FROM repositories r WHERE r.name >= p.name || '/' AND r.name < p.name || '0')"
_SELECT = (
    "SELECT p.id, p.name, p.owner_id, COALESCE(o.username, '') AS owner_name, p.public, p.metadata,"
    f" p.created_at, p.updated_at, {_REPO_COUNT} AS repo_count, {_ROLES} AS roles, p.registry_id"
    " FROM projects p LEFT JOIN users o ON o.id = p.owner_id"
)
# Parameters $1 (user id), $2 (sees everything), $3 (robot namespaces): the projects the caller may see.
# Shared with the repository lists (services/core/artifacts/store.py), so both follow one rule.
VISIBLE = (
    "($2::bool OR p.public OR p.name = ANY($3::text[]) OR ($1::bigint IS NOT NULL AND EXISTS ("
    "SELECT 1 FROM project_members m WHERE m.project_id = p.id AND ((m.entity_type = 'u' AND m.entity_id = $1)"
    " OR (m.entity_type = 'g' AND m.entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = $1))))))"
)


def _view(row: asyncpg.Record) -> ProjectView:
    metadata = row["metadata"]
    return ProjectView(
        id=row["id"],
        name=row["name"],
        owner_id=row["owner_id"],
        owner_name=row["owner_name"],
        public=row["public"],
        metadata=json.loads(metadata) if isinstance(metadata, str) else dict(metadata),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        repo_count=row["repo_count"],
        roles=frozenset(Role(r) for r in row["roles"]),
        registry_id=row["registry_id"],
    )


def viewer_args(viewer: Viewer) -> list[Any]:
    return [viewer.user_id, viewer.sees_all, list(viewer.namespaces)]


def _where(terms: Sequence[Term], args: list[Any]) -> str:
    return where_clause(VISIBLE, terms, FILTER_COLUMNS, args)


async def list_projects(
    ex: Executor, viewer: Viewer, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[ProjectView], int]:
    """One page of the projects `viewer` may see that match every term, and how many match in all."""
    args = viewer_args(viewer)
    where = _where(terms, args)
    order = order_by(sort, SORT_COLUMNS, ["p.name ASC"], "p.id ASC")
    n = len(args)
    rows = await ex.fetch(
        f"{_SELECT}{where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}", *args, page.size, page.offset
    )
    total = await ex.fetchval(f"SELECT count(*) FROM projects p LEFT JOIN users o ON o.id = p.owner_id{where}", *args)
    return [_view(r) for r in rows], int(total)


async def project_view(
    ex: Executor, user_id: int | None, *, project_id: int | None = None, name: str | None = None
) -> ProjectView | None:
    """One project by id or name with the roles `user_id` holds there (both: the project of that name if
    there is one, else of that id); visibility is the caller's call."""
    if project_id is not None and name is not None:
        row = await ex.fetchrow(
            f"{_SELECT} WHERE p.id = COALESCE((SELECT n.id FROM projects n WHERE n.name = $3), $2)",
            user_id,
            project_id,
            name,
        )
    elif project_id is not None:
        row = await ex.fetchrow(f"{_SELECT} WHERE p.id = $2", user_id, project_id)
    else:
        row = await ex.fetchrow(f"{_SELECT} WHERE p.name = $2", user_id, name)
    return None if row is None else _view(row)


async def project_exists(ex: Executor, name: str) -> bool:
    return bool(await ex.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE name = $1)", name))


async def update_project(ex: Executor, project_id: int, public: bool | None, metadata: dict[str, str]) -> None:
    await ex.execute(
        "UPDATE projects SET public = COALESCE($2, public), metadata = metadata || $3::jsonb, updated_at = now()"
        " WHERE id = $1",
        project_id,
        public,
        json.dumps(metadata),
    )


async def registry_type(ex: Executor, registry_id: int) -> str | None:
    """The type of registry endpoint `registry_id` (what a proxy-cache project may name); None: none."""
    kind: str | None = await ex.fetchval("SELECT type FROM registries WHERE id = $1", registry_id)
    return kind


async def lock_repo_count(ex: Executor, project_id: int) -> int | None:
    """Lock the project row (a concurrent delete waits) and count its repositories; None: it is gone."""
    row = await ex.fetchrow(
        f"SELECT {_REPO_COUNT} AS repo_count FROM projects p WHERE p.id = $1 FOR UPDATE", project_id
    )
    return None if row is None else int(row["repo_count"])


async def delete_project(ex: Executor, project_id: int) -> None:
    # Members and robots go with it (ON DELETE CASCADE).
    await ex.execute("DELETE FROM projects WHERE id = $1", project_id)


async def search_projects(ex: Executor, viewer: Viewer, pattern: str, limit: int) -> list[ProjectView]:
    """Up to `limit` projects `viewer` may see whose name matches the LIKE `pattern`, by name (one statement)."""
    rows = await ex.fetch(
        f"{_SELECT} WHERE {VISIBLE} AND p.name LIKE $4 ESCAPE '\\' ORDER BY p.name, p.id LIMIT $5",
        *viewer_args(viewer),
        pattern,
        limit,
    )
    return [_view(r) for r in rows]


async def lock_metadata(ex: Executor, project_id: int) -> dict[str, Any] | None:
    """Lock the project row (a concurrent metadata change or delete waits) and read its metadata (all but
    `public`, a column); None: it is gone."""
    metadata = await ex.fetchval("SELECT metadata FROM projects WHERE id = $1 FOR UPDATE", project_id)
    if metadata is None:
        return None
    return dict(json.loads(metadata) if isinstance(metadata, str) else metadata)


async def delete_metadata(ex: Executor, project_id: int, key: str) -> None:
    await ex.execute(
        "UPDATE projects SET metadata = metadata - $2::text, updated_at = now() WHERE id = $1", project_id, key
    )
