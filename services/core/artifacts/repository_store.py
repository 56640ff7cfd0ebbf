"""SQL for repositories as the REST API shows and changes them. `$n` parameters only; column and order
fragments come from fixed tables here, never from the request. A list is two statements (the page, then
the count) whatever the page size, and a third for the artifact counts and last pushes of the page's rows
that the service has not cached (`stats`). A repository belongs to the project named by its first path
component; a project's repositories are a range over the C-collated unique index on the name ('0' follows
'/').
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.common.db import Executor
from services.core.artifacts.artifact_store import ARTIFACT_COUNT
from services.core.artifacts.models import REPOSITORY_LIST, RepositoryView
from services.core.listing import Page, SortKey, Term, column_map, order_by, where_clause
from services.core.projects.store import VISIBLE, viewer_args
from services.core.security.access import Viewer

# The last push counts as an update, as in Harbor (the registry leaves the repository row alone on push).
_REPO_UPDATED = "GREATEST(r.updated_at, (SELECT max(a.created_at) FROM artifacts a WHERE a.repository_id = r.id))"
_REPO_SELECT = (
    "SELECT r.id, p.id AS project_id, r.name, r.description, r.pull_count, r.created_at,"
    f" {_REPO_UPDATED} AS updated_at, {ARTIFACT_COUNT} AS artifact_count"
)
# A list page's rows without what their artifacts say (the count and the last push): see `stats`.
_REPO_LIST_SELECT = (
    "SELECT r.id, p.id AS project_id, r.name, r.description, r.pull_count, r.created_at, r.updated_at,"
    " NULL AS artifact_count"
)
REPO_FILTERS = column_map(REPOSITORY_LIST.filters, {"name": "r.name", "project_id": "p.id"})
REPO_SORTS = column_map(
    REPOSITORY_LIST.sorts,
    {
        "name": "r.name",
        "id": "r.id",
        "creation_time": "r.created_at",
        "update_time": _REPO_UPDATED,
        "pull_count": "r.pull_count",
    },
)


@dataclass(frozen=True, slots=True)
class RepositoryStats:
    """What a repository's artifacts add to its list row: how many top-level ones, the last push."""

    artifact_count: int
    last_push: dt.datetime | None


def _repository(row: asyncpg.Record) -> RepositoryView:
    return RepositoryView(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        description=row["description"],
        artifact_count=int(row["artifact_count"] or 0),
        pull_count=row["pull_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _repository_page(source: str, where: str, order: str, n: int) -> str:
    """The page's ids first (LIMIT ${n+1} OFFSET ${n+2}), then those rows; their artifact counts and last
    pushes are not read here but by `stats` (cached by the service): the count of a big repository is
    most of a page's cost (a page with a repository of 25,000 artifacts took 20 ms of PostgreSQL)."""
    page_ids = f"SELECT r.id{source}{where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}"
    return f"{_REPO_LIST_SELECT}{source} WHERE r.id IN ({page_ids}) ORDER BY {order}"


async def stats(ex: Executor, repository_ids: Sequence[int]) -> dict[int, RepositoryStats]:
    """The artifact count and last push of each repository (one statement; a repository gone is absent)."""
    rows = await ex.fetch(
        "SELECT r.id, (SELECT max(a.created_at) FROM artifacts a WHERE a.repository_id = r.id) AS last_push,"
        f" {ARTIFACT_COUNT} AS artifact_count FROM repositories r WHERE r.id = ANY($1::bigint[])",
        list(repository_ids),
    )
    return {r["id"]: RepositoryStats(int(r["artifact_count"]), r["last_push"]) for r in rows}


def project_range(project_name: str) -> tuple[str, str]:
    return project_name + "/", project_name + "0"


async def list_project_repositories(
    ex: Executor, project_id: int, project_name: str, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[RepositoryView], int]:
    args: list[Any] = [project_id, *project_range(project_name)]
    where = where_clause("r.name >= $2 AND r.name < $3", terms, REPO_FILTERS, args)
    order = order_by(sort, REPO_SORTS, ["r.name ASC"], "r.id ASC")
    n = len(args)
    source = " FROM repositories r JOIN projects p ON p.id = $1"
    rows = await ex.fetch(_repository_page(source, where, order, n), *args, page.size, page.offset)
    total = await ex.fetchval(f"SELECT count(*){source}{where}", *args)
    return [_repository(r) for r in rows], int(total)


async def project_repository_ids(ex: Executor, project_name: str) -> list[int]:
    """The ids of every repository of the project (a range over the name index)."""
    rows = await ex.fetch(
        "SELECT id FROM repositories WHERE name >= $1 AND name < $2 ORDER BY id", *project_range(project_name)
    )
    return [r["id"] for r in rows]


async def list_visible_repositories(
    ex: Executor, viewer: Viewer, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[RepositoryView], int]:
    """Repositories of every project `viewer` may see (the projects list's visibility rule)."""
    args = viewer_args(viewer)
    where = where_clause(VISIBLE, terms, REPO_FILTERS, args)
    order = order_by(sort, REPO_SORTS, ["r.name ASC"], "r.id ASC")
    n = len(args)
    source = " FROM repositories r JOIN projects p ON p.name = split_part(r.name, '/', 1)"
    rows = await ex.fetch(_repository_page(source, where, order, n), *args, page.size, page.offset)
    total = await ex.fetchval(f"SELECT count(*){source}{where}", *args)
    return [_repository(r) for r in rows], int(total)


async def repository(ex: Executor, project_id: int, name: str) -> RepositoryView | None:
    row = await ex.fetchrow(
        f"{_REPO_SELECT} FROM repositories r JOIN projects p ON p.id = $1 WHERE r.name = $2", project_id, name
    )
    return None if row is None else _repository(row)


async def repository_id(ex: Executor, name: str) -> int | None:
    """The repository's id by its full name (the project is its first path component)."""
    value: int | None = await ex.fetchval("SELECT id FROM repositories WHERE name = $1", name)
    return value


async def set_description(ex: Executor, repository_id: int, description: str) -> None:
    await ex.execute(
        "UPDATE repositories SET description = $2, updated_at = now() WHERE id = $1", repository_id, description
    )


async def lock_repository(ex: Executor, name: str) -> int | None:
    """The repository's id, row-locked until the delete commits. A push into it meanwhile waits (its
    foreign-key checks lock the row for key share) and then fails, as a push racing a delete may."""
    value: int | None = await ex.fetchval("SELECT id FROM repositories WHERE name = $1 FOR UPDATE", name)
    return value


async def delete_repository(ex: Executor, repository_id: int) -> list[str]:
    """The repository with its artifacts, tags and blob links; the blobs themselves stay for GC. Returns
    the digests of its top-level artifacts (neither an index's child nor an accessory of one there): the
    artifacts deleted, as Harbor's events name them.

    Index → child references go first: they RESTRICT deleting a child, row by row, even when the index
    goes in the same statement."""
    rows = await ex.fetch(
        "SELECT a.digest FROM artifacts a WHERE a.repository_id = $1"
        " AND NOT EXISTS (SELECT 1 FROM artifact_references ar WHERE ar.child_id = a.id)"
        " AND (a.subject_digest IS NULL OR NOT EXISTS (SELECT 1 FROM artifacts s"
        " WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest)) ORDER BY a.id",
        repository_id,
    )
    await ex.execute(
        "DELETE FROM artifact_references WHERE parent_id IN (SELECT id FROM artifacts WHERE repository_id = $1)",
        repository_id,
    )
    await ex.execute("DELETE FROM repositories WHERE id = $1", repository_id)
    return [r["digest"] for r in rows]
