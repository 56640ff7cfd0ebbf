"""SQL for search, statistics and storage. `$n` parameters only; every answer is computed from the tables
when asked (no counter kept beside them that could drift), and each function is one statement.

Storage is Harbor's quota rule: the bytes of the distinct blobs the artifacts reference (config and
layers, from artifact_blobs) plus the distinct manifests themselves, each digest counted once however
many artifacts or repositories name it. Blobs no artifact references any more (awaiting garbage
collection) count for nobody.
"""

from __future__ import annotations

from typing import Any

from services.common.db import Executor
from services.common.rbac import Role
from services.core.artifacts.artifact_store import ARTIFACT_COUNT
from services.core.projects.store import VISIBLE, viewer_args
from services.core.security.access import Viewer
from services.core.statistics.models import Counts, ProjectFigures, ProjectUsage, SearchRepository

# A repository belongs to the project named by its first path component: a range over the C-collated
# unique index on the name ('0' follows '/').
_IN_PROJECT = "r.name >= p.name || '/' AND r.name < p.name || '0'"


def _stored_bytes(source: str, condition: str) -> str:
    """A scalar sub-select: the bytes of the distinct blobs and manifests of the artifacts in the
    repositories `r` of `source` that meet `condition`. UNION (not UNION ALL) is what counts a digest
    once: a layer shared by two artifacts, two repositories or a manifest pushed to two repositories."""
    artifacts = f"FROM {source} JOIN artifacts a ON a.repository_id = r.id"
    return (
        "(SELECT COALESCE(sum(u.size), 0)::bigint FROM ("
        f"SELECT b.digest, b.size {artifacts} JOIN artifact_blobs ab ON ab.artifact_id = a.id"
        f" JOIN blobs b ON b.digest = ab.digest WHERE {condition}"
        f" UNION SELECT a.digest, a.size {artifacts} WHERE {condition}) u)"
    )


# $1..$3 the viewer (VISIBLE's parameters), $4 whether to add up the storage (a sysadmin's figure).
_STATISTICS = (
    f"WITH vp AS (SELECT p.id, p.name, p.public, {VISIBLE} AS visible FROM projects p),"
    " vr AS (SELECT vp.public, vp.visible FROM repositories r JOIN vp"
    " ON r.name >= vp.name || '/' AND r.name < vp.name || '0')"
    " SELECT (SELECT count(*) FROM vp WHERE public) AS public_projects,"
    " (SELECT count(*) FROM vp WHERE NOT public AND visible) AS private_projects,"
    " (SELECT count(*) FROM vp) AS total_projects,"
    " (SELECT count(*) FROM vr WHERE public) AS public_repositories,"
    " (SELECT count(*) FROM vr WHERE NOT public AND visible) AS private_repositories,"
    " (SELECT count(*) FROM vr) AS total_repositories,"
    f" CASE WHEN $4::bool THEN {_stored_bytes(f'projects p JOIN repositories r ON {_IN_PROJECT}', 'TRUE')}"
    " ELSE 0 END AS storage"
)

# $1 the project id, $2 whether to show the storage.
_ROLE_COUNT = "count(*) FILTER (WHERE m.role = {0})"
_USAGE = (
    f"SELECT {_ROLE_COUNT.format(int(Role.PROJECT_ADMIN))} AS project_admins,"
    f" {_ROLE_COUNT.format(int(Role.MAINTAINER))} AS maintainers,"
    f" {_ROLE_COUNT.format(int(Role.DEVELOPER))} AS developers,"
    f" {_ROLE_COUNT.format(int(Role.GUEST))} AS guests,"
    f" {_ROLE_COUNT.format(int(Role.LIMITED_GUEST))} AS limited_guests,"
    # The quota's usage: the same rule as _stored_bytes, kept by migration 0019's triggers.
    " (SELECT CASE WHEN $2::bool THEN q.used ELSE 0 END FROM quotas q WHERE q.project_id = $1) AS storage,"
    " (SELECT q.hard FROM quotas q WHERE q.project_id = $1) AS storage_limit"
    " FROM project_members m WHERE m.project_id = $1"
)

# $1..$3 the viewer, $4 the LIKE pattern, $5 the limit.
_SEARCH_REPOSITORIES = (
    "SELECT p.id AS project_id, p.name AS project_name, p.public AS project_public, r.name, r.pull_count,"
    f" {ARTIFACT_COUNT} AS artifact_count"
    f" FROM repositories r JOIN projects p ON {_IN_PROJECT}"
    f" WHERE {VISIBLE} AND r.name LIKE $4 ESCAPE '\\' ORDER BY r.name, r.id LIMIT $5"
)


async def search_repositories(ex: Executor, viewer: Viewer, pattern: str, limit: int) -> list[SearchRepository]:
    """Up to `limit` repositories of projects `viewer` may see whose full name matches the LIKE `pattern`."""
    args: list[Any] = [*viewer_args(viewer), pattern, limit]
    rows = await ex.fetch(_SEARCH_REPOSITORIES, *args)
    return [
        SearchRepository(
            project_id=r["project_id"],
            project_name=r["project_name"],
            project_public=r["project_public"],
            repository_name=r["name"],
            pull_count=r["pull_count"],
            artifact_count=int(r["artifact_count"]),
        )
        for r in rows
    ]


async def counts(ex: Executor, viewer: Viewer, *, with_storage: bool) -> Counts:
    """Every project and repository count in one statement; private ones are those `viewer` may see."""
    row = await ex.fetchrow(_STATISTICS, *viewer_args(viewer), with_storage)
    assert row is not None  # an aggregate always has its row
    return Counts(
        public_projects=int(row["public_projects"]),
        private_projects=int(row["private_projects"]),
        total_projects=int(row["total_projects"]),
        public_repositories=int(row["public_repositories"]),
        private_repositories=int(row["private_repositories"]),
        total_repositories=int(row["total_repositories"]),
        storage=int(row["storage"]),
    )


async def project_usage(ex: Executor, project_id: int, *, with_storage: bool) -> ProjectUsage:
    """The project's members by role and (when asked) its storage, in one statement."""
    row = await ex.fetchrow(_USAGE, project_id, with_storage)
    assert row is not None  # an aggregate always has its row
    return ProjectUsage(
        project_admins=int(row["project_admins"]),
        maintainers=int(row["maintainers"]),
        developers=int(row["developers"]),
        guests=int(row["guests"]),
        limited_guests=int(row["limited_guests"]),
        storage=int(row["storage"] or 0),
        storage_limit=-1 if row["storage_limit"] is None else int(row["storage_limit"]),
    )


# Every project's figures for the Prometheus metrics (Harbor's exporter reads the same): one row each.
_PROJECT_FIGURES = (
    "SELECT p.name, p.public,"
    f" (SELECT count(*) FROM repositories r WHERE {_IN_PROJECT}) AS repositories,"
    f" (SELECT COALESCE(sum(r.pull_count), 0)::bigint FROM repositories r WHERE {_IN_PROJECT}) AS pulls,"
    " (SELECT count(*) FROM project_members m WHERE m.project_id = p.id) AS members,"
    " COALESCE(q.used, 0) AS used, COALESCE(q.hard, -1) AS hard"
    " FROM projects p LEFT JOIN quotas q ON q.project_id = p.id"
)


async def project_figures(ex: Executor) -> list[ProjectFigures]:
    rows = await ex.fetch(_PROJECT_FIGURES)
    return [
        ProjectFigures(
            name=r["name"],
            public=r["public"],
            repositories=int(r["repositories"]),
            pulls=int(r["pulls"]),
            members=int(r["members"]),
            quota_used=int(r["used"]),
            quota_hard=int(r["hard"]),
        )
        for r in rows
    ]
