"""SQL of replication executions (migrations 0021 to 0023): the policy with its endpoint, the local
artifacts a push policy may copy, a local artifact's manifest, and the execution's task rows."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.common.db import Executor


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    name: str
    type: str
    url: str
    insecure: bool
    ca_certificate: str
    access_key: str
    ciphertext: str  # of the password; '' for none
    credential_type: str  # basic, or '' for none


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    id: int
    name: str
    description: str
    creator: str
    push: bool  # the source is this registry
    endpoint: Endpoint
    dest_namespace: str
    dest_namespace_replace_count: int
    filters: list[dict[str, Any]]
    override: bool
    replicate_deletion: bool
    enabled: bool
    speed_kbps: int
    copy_by_chunk: bool
    single_active_replication: bool


@dataclass(frozen=True, slots=True)
class LocalArtifact:
    repository: str
    digest: str
    media_type: str
    config_media_type: str | None
    tags: tuple[str, ...]
    labels: frozenset[str]
    created_at: dt.datetime


_POLICY = (
    "SELECT p.*, r.id AS rid, r.name AS rname, r.type, r.url, r.insecure, r.ca_certificate, r.access_key,"
    " r.access_secret, r.credential_type"
    " FROM replication_policies p JOIN registries r ON r.id = COALESCE(p.dest_registry_id, p.src_registry_id)"
)


def _policy(row: asyncpg.Record) -> StoredPolicy:
    endpoint = Endpoint(
        row["rid"],
        row["rname"],
        row["type"],
        row["url"],
        row["insecure"],
        row["ca_certificate"],
        row["access_key"],
        row["access_secret"],
        row["credential_type"],
    )
    return StoredPolicy(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        creator=row["creator"],
        push=row["src_registry_id"] is None,
        endpoint=endpoint,
        dest_namespace=row["dest_namespace"],
        dest_namespace_replace_count=row["dest_namespace_replace_count"],
        filters=json.loads(row["filters"]),
        override=row["override"],
        replicate_deletion=row["replicate_deletion"],
        enabled=row["enabled"],
        speed_kbps=row["speed"],
        copy_by_chunk=row["copy_by_chunk"],
        single_active_replication=row["single_active_replication"],
    )


async def policy(ex: Executor, policy_id: int) -> StoredPolicy | None:
    row = await ex.fetchrow(f"{_POLICY} WHERE p.id = $1", policy_id)
    return None if row is None else _policy(row)


async def older_running_execution(ex: Executor, policy_id: int, job_id: int) -> int | None:
    """The id of an execution of the policy that runs and was made before `job_id` (of two that start at
    once, the older one goes on)."""
    value: int | None = await ex.fetchval(
        "SELECT min(id) FROM jobs WHERE type = 'REPLICATION' AND status = 'running' AND id < $2"
        " AND parameters->>'policy_id' = $1",
        str(policy_id),
        job_id,
    )
    return value


async def event_policies(ex: Executor) -> list[StoredPolicy]:
    """The enabled push policies a push or a tag starts."""
    rows = await ex.fetch(
        f"{_POLICY} WHERE p.enabled AND p.trigger_type = 'event_based' AND p.src_registry_id IS NULL ORDER BY p.id"
    )
    return [_policy(r) for r in rows]


async def local_artifacts(
    ex: Executor, repository: str | None = None, digest: str | None = None
) -> list[LocalArtifact]:
    """Every top-level artifact of this registry (or the one `repository`@`digest`) with its tags and
    labels: an index's children and an artifact's accessories are copied with it, never on their own."""
    rows = await ex.fetch(
        "SELECT r.name AS repository, a.digest, a.media_type, a.created_at,"
        " convert_from(a.content, 'UTF8')::jsonb #>> '{config,mediaType}' AS config_media_type,"
        " COALESCE((SELECT array_agg(t.name ORDER BY t.name) FROM tags t WHERE t.artifact_id = a.id), '{}') AS tags,"
        " COALESCE((SELECT array_agg(l.name) FROM artifact_labels al JOIN labels l ON l.id = al.label_id"
        " WHERE al.artifact_id = a.id), '{}') AS labels"
        " FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
        " WHERE NOT EXISTS (SELECT 1 FROM artifact_references ar WHERE ar.child_id = a.id)"
        " AND (a.subject_digest IS NULL OR NOT EXISTS (SELECT 1 FROM artifacts s"
        " WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))"
        " AND ($1::text IS NULL OR (r.name = $1 AND a.digest = $2))"
        " ORDER BY r.name, a.id",
        repository,
        digest,
    )
    return [
        LocalArtifact(
            r["repository"],
            r["digest"],
            r["media_type"],
            r["config_media_type"],
            tuple(r["tags"]),
            frozenset(r["labels"]),
            r["created_at"],
        )
        for r in rows
    ]


async def top_level(ex: Executor, repository: str, digest: str) -> list[str]:
    """The digests of the top-level artifacts `repository`@`digest` is copied with: itself when it is one;
    for an accessory (a subject here) or an index's child, the artifacts up its subjects and parents that
    are neither (an accessory pushed after its subject goes with the subject, as a manual run copies it)."""
    rows = await ex.fetch(
        "WITH RECURSIVE up (id, repository_id, depth) AS ("
        " SELECT a.id, a.repository_id, 0 FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
        " WHERE r.name = $1 AND a.digest = $2"
        " UNION"
        " SELECT p.id, p.repository_id, up.depth + 1 FROM up JOIN artifacts c ON c.id = up.id"
        " JOIN artifacts p ON p.repository_id = c.repository_id AND (p.digest = c.subject_digest"
        " OR p.id IN (SELECT ar.parent_id FROM artifact_references ar WHERE ar.child_id = c.id))"
        # A subject chain cannot loop (a digest names its content), but a bound costs nothing.
        " WHERE up.depth < 32)"
        " SELECT DISTINCT a.digest FROM up JOIN artifacts a ON a.id = up.id"
        " WHERE NOT EXISTS (SELECT 1 FROM artifact_references ar WHERE ar.child_id = a.id)"
        " AND (a.subject_digest IS NULL OR NOT EXISTS (SELECT 1 FROM artifacts s"
        " WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))"
        " ORDER BY a.digest",
        repository,
        digest,
    )
    return [r["digest"] for r in rows]


async def manifest(ex: Executor, repository: str, reference: str) -> tuple[str, bytes] | None:
    """(media type, bytes) of a local manifest named by digest or tag."""
    row = await ex.fetchrow(
        "SELECT a.media_type, a.content FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
        " WHERE r.name = $1 AND (a.digest = $2 OR a.id = (SELECT t.artifact_id FROM tags t"
        " WHERE t.repository_id = r.id AND t.name = $2))",
        repository,
        reference,
    )
    return None if row is None else (row["media_type"], bytes(row["content"]))


async def referrers(ex: Executor, repository: str, digest: str) -> list[tuple[str, str, int, str | None]]:
    """(digest, media type, size, artifact type) of each local artifact whose subject is `digest`."""
    rows = await ex.fetch(
        "SELECT a.digest, a.media_type, a.size, a.artifact_type FROM artifacts a"
        " JOIN repositories r ON r.id = a.repository_id WHERE r.name = $1 AND a.subject_digest = $2 ORDER BY a.id",
        repository,
        digest,
    )
    return [(r["digest"], r["media_type"], r["size"], r["artifact_type"]) for r in rows]


# --- tasks -------------------------------------------------------------------------------------------


async def task(
    ex: Executor, job_id: int, resource_type: str, src: str, dst: str, operation: str = "copy"
) -> tuple[int, str]:
    """The task row for this copy or deletion (made Pending on the first attempt, found again on a
    retry): (id, status)."""
    row = await ex.fetchrow(
        "INSERT INTO replication_tasks (job_id, resource_type, src_resource, dst_resource, operation)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, src_resource, dst_resource)"
        " DO UPDATE SET resource_type = EXCLUDED.resource_type RETURNING id, status",
        job_id,
        resource_type,
        src,
        dst,
        operation,
    )
    assert row is not None
    return row["id"], row["status"]


async def start_task(ex: Executor, task_id: int) -> None:
    await ex.execute(
        "UPDATE replication_tasks SET status = 'InProgress', started_at = now(), finished_at = NULL WHERE id = $1",
        task_id,
    )


async def log_task(ex: Executor, task_id: int, line: str) -> None:
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    await ex.execute("UPDATE replication_tasks SET log = log || $2 WHERE id = $1", task_id, f"{stamp} {line}\n")


async def finish_task(ex: Executor, task_id: int, status: str, digest: str = "", size: int = 0) -> None:
    await ex.execute(
        "UPDATE replication_tasks SET status = $2, digest = CASE WHEN $3 = '' THEN digest ELSE $3 END,"
        " bytes = bytes + $4, finished_at = now() WHERE id = $1",
        task_id,
        status,
        digest,
        size,
    )


async def stop_unfinished(ex: Executor, job_id: int) -> None:
    await ex.execute(
        "UPDATE replication_tasks SET status = 'Stopped', finished_at = now()"
        " WHERE job_id = $1 AND status IN ('Pending', 'InProgress')",
        job_id,
    )
