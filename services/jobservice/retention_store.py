"""SQL of tag retention runs (migration 0020): the policy, the repositories and candidates it judges, the
per-repository task rows, and the delete of one artifact, which goes through the same SQL as core's API
delete (services.common.repositories.delete_artifact; the quota follows by migration 0019's triggers).
`$n` parameters only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from services.common.db import Executor
from services.common.retention import Candidate

# The artifacts retention judges: top-level ones (not an index's child, which goes with its index, nor
# the accessory of a subject that exists, which goes with its subject), pushed before the run started.
# Pushed: the first push of the manifest or the newest push of one of its tags, whichever is later.
_CANDIDATES = (
    "SELECT a.id, a.digest, GREATEST(a.created_at, max(t.updated_at)) AS pushed_at, a.pull_time,"
    " COALESCE(array_agg(t.name ORDER BY t.name) FILTER (WHERE t.name IS NOT NULL), '{}') AS tags"
    " FROM artifacts a LEFT JOIN tags t ON t.artifact_id = a.id"
    " WHERE a.repository_id = $1 AND a.created_at < $2"
    " AND NOT EXISTS (SELECT 1 FROM artifact_references r WHERE r.child_id = a.id)"
    " AND (a.subject_digest IS NULL OR NOT EXISTS"
    " (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))"
    " GROUP BY a.id ORDER BY a.id"
)


async def policy(ex: Executor, policy_id: int) -> tuple[int, str, dict[str, Any]] | None:
    """(project id, project name, the policy's JSON)."""
    row = await ex.fetchrow(
        "SELECT p.id, p.name, r.policy::text AS policy FROM retention_policies r JOIN projects p ON p.id = r.project_id"
        " WHERE r.id = $1",
        policy_id,
    )
    return None if row is None else (row["id"], row["name"], json.loads(row["policy"]))


async def repositories(ex: Executor, project: str) -> list[tuple[int, str]]:
    """(id, full name) of the project's repositories, by name."""
    rows = await ex.fetch(
        "SELECT id, name FROM repositories WHERE name >= $1 || '/' AND name < $1 || '0' ORDER BY name", project
    )
    return [(r["id"], r["name"]) for r in rows]


async def candidates(ex: Executor, repository_id: int, started: dt.datetime) -> list[Candidate]:
    rows = await ex.fetch(_CANDIDATES, repository_id, started)
    return [
        Candidate(
            id=r["id"], digest=r["digest"], tags=tuple(r["tags"]), pushed_at=r["pushed_at"], pulled_at=r["pull_time"]
        )
        for r in rows
    ]


async def lock_unchanged(ex: Executor, candidate: Candidate, started: dt.datetime) -> tuple[int, list[str]] | None:
    """In the delete's transaction: the candidate's (repository id, tags) locked, if it is still as it was
    judged: there, pushed before the run started, with the same tags. Locked without waiting: an artifact
    a push holds right now is being written to, and is kept."""
    row = await ex.fetchrow(
        "SELECT a.repository_id, a.created_at FROM artifacts a WHERE a.id = $1 FOR UPDATE SKIP LOCKED", candidate.id
    )
    if row is None or row["created_at"] >= started:
        return None
    # A new statement after the lock: it sees every tag committed before the lock was granted.
    tags = [
        r["name"] for r in await ex.fetch("SELECT name FROM tags WHERE artifact_id = $1 ORDER BY name", candidate.id)
    ]
    if tuple(tags) != candidate.tags:
        return None
    return row["repository_id"], tags


async def start_task(ex: Executor, job_id: int, repository: str) -> int:
    value: int = await ex.fetchval(
        "INSERT INTO retention_tasks (job_id, repository) VALUES ($1, $2) ON CONFLICT (job_id, repository)"
        " DO UPDATE SET status = 'Running', total = 0, retained = 0, log = '', started_at = now(), finished_at = NULL"
        " RETURNING id",
        job_id,
        repository,
    )
    return value


async def finish_task(ex: Executor, task_id: int, status: str, total: int, retained: int, log: str) -> None:
    await ex.execute(
        "UPDATE retention_tasks SET status = $2, total = $3, retained = $4, log = $5, finished_at = now()"
        " WHERE id = $1",
        task_id,
        status,
        total,
        retained,
        log,
    )


async def stop_running_tasks(ex: Executor, job_id: int, status: str) -> None:
    """A run that ends early (stopped, failed) leaves no task 'Running'."""
    await ex.execute(
        "UPDATE retention_tasks SET status = $2, finished_at = now() WHERE job_id = $1 AND status = 'Running'",
        job_id,
        status,
    )
