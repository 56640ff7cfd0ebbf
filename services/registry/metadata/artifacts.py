"""SQL: manifests (artifacts), their tags, blob and child references, and referrers."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg

from services.common.db import Executor
from services.common.oci import mediatypes as mt
from services.registry.metadata.models import Manifest, NewManifest, Referrer

_MANIFEST_COLUMNS = "a.id, a.repository_id, a.digest, a.media_type, a.size, a.content, a.subject_digest"


def _manifest(r: asyncpg.Record) -> Manifest:
    return Manifest(
        id=r["id"],
        repository_id=r["repository_id"],
        digest=r["digest"],
        media_type=r["media_type"],
        size=r["size"],
        content=r["content"],
        subject_digest=r["subject_digest"],
    )


async def by_tag(db: Executor, repository: str, tag: str) -> Manifest | None:
    row = await db.fetchrow(
        f"SELECT {_MANIFEST_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repository_id"
        " JOIN artifacts a ON a.id = t.artifact_id WHERE r.name = $1 AND t.name = $2",
        repository,
        tag,
    )
    return None if row is None else _manifest(row)


async def by_digest(db: Executor, repository: str, digest: str) -> Manifest | None:
    row = await db.fetchrow(
        f"SELECT {_MANIFEST_COLUMNS} FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
        " WHERE r.name = $1 AND a.digest = $2",
        repository,
        digest,
    )
    return None if row is None else _manifest(row)


async def missing_children(db: Executor, repository_id: int, digests: list[str]) -> list[str]:
    rows = await db.fetch(
        "SELECT digest FROM artifacts WHERE repository_id = $1 AND digest = ANY($2::text[]) FOR KEY SHARE",
        repository_id,
        digests,
    )
    present = {r["digest"] for r in rows}
    return [d for d in digests if d not in present]


async def insert(db: Executor, repository_id: int, m: NewManifest) -> int:
    """Write the manifest with its references and tag; returns the artifact id. Idempotent.

    A manifest already there is key-share-locked until commit: garbage collection's delete of untagged
    artifacts, which locks without waiting, then passes over it; one it is deleting at that moment is
    written anew once that delete has committed."""
    for _ in range(3):
        artifact_id: int | None = await db.fetchval(
            "INSERT INTO artifacts (repository_id, digest, media_type, artifact_type, size, subject_digest,"
            " annotations, content, config, additions, icon)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10::jsonb, $11)"
            " ON CONFLICT (repository_id, digest) DO NOTHING RETURNING id",
            repository_id,
            m.digest,
            m.media_type,
            m.artifact_type,
            len(m.content),
            m.subject_digest,
            None if m.annotations is None else json.dumps(m.annotations),
            m.content,
            m.config,
            m.additions,
            m.icon,
        )
        if artifact_id is not None:
            await _references(db, repository_id, artifact_id, m)
            return await _tag(db, repository_id, artifact_id, m)
        existing: int | None = await db.fetchval(
            "SELECT id FROM artifacts WHERE repository_id = $1 AND digest = $2 FOR KEY SHARE",
            repository_id,
            m.digest,
        )
        if existing is not None:
            return await _tag(db, repository_id, existing, m)
    raise RuntimeError(f"manifest {m.digest} was deleted each time it was written")


async def _references(db: Executor, repository_id: int, artifact_id: int, m: NewManifest) -> None:
    if m.blob_digests:
        await db.execute(
            "INSERT INTO artifact_blobs (artifact_id, digest) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            artifact_id,
            list(m.blob_digests),
        )
    if m.child_digests:
        await db.execute(
            "INSERT INTO artifact_references (parent_id, child_id, platform)"
            " SELECT $1, a.id, c.platform::jsonb FROM unnest($3::text[], $4::text[]) AS c(digest, platform)"
            " JOIN artifacts a ON a.repository_id = $2 AND a.digest = c.digest ON CONFLICT DO NOTHING",
            artifact_id,
            repository_id,
            [d for d, _ in m.child_digests],
            [None if p is None else json.dumps(p) for _, p in m.child_digests],
        )


async def indexes_naming(db: Executor, repository_id: int, digest: str) -> list[tuple[int, bytes, str]]:
    """(id, content, media type) of the repository's indexes whose content names `digest` (a proxy
    cache's, kept before their children)."""
    rows = await db.fetch(
        "SELECT id, content, media_type FROM artifacts WHERE repository_id = $1 AND media_type = ANY($2::text[])"
        " AND position(convert_to($3, 'UTF8') IN content) > 0",
        repository_id,
        sorted(mt.INDEXES),
        digest,
    )
    return [(r["id"], bytes(r["content"]), r["media_type"]) for r in rows]


async def add_reference(db: Executor, parent_id: int, child_id: int, platform: str | None) -> None:
    await db.execute(
        "INSERT INTO artifact_references (parent_id, child_id, platform) VALUES ($1, $2, $3::jsonb)"
        " ON CONFLICT DO NOTHING",
        parent_id,
        child_id,
        platform,
    )


async def _tag(db: Executor, repository_id: int, artifact_id: int, m: NewManifest) -> int:
    if m.tag is not None:
        await db.execute(
            "INSERT INTO tags (repository_id, artifact_id, name) VALUES ($1, $2, $3)"
            " ON CONFLICT (repository_id, name) DO UPDATE SET artifact_id = EXCLUDED.artifact_id,"
            " updated_at = now()",
            repository_id,
            artifact_id,
            m.tag,
        )
    return artifact_id


async def delete_tag(db: Executor, repository: str, tag: str) -> tuple[int, str] | None:
    """Remove the tag; returns its repository's id and the digest it named, or None if there was no such tag."""
    row = await db.fetchrow(
        "DELETE FROM tags t USING repositories r, artifacts a"
        " WHERE r.id = t.repository_id AND a.id = t.artifact_id AND r.name = $1 AND t.name = $2"
        " RETURNING t.repository_id, a.digest",
        repository,
        tag,
    )
    return None if row is None else (row["repository_id"], row["digest"])


async def add_pulls(db: Executor, pulls: list[tuple[str, str, int, dt.datetime]]) -> None:
    """(repository, digest, count, last pull time) merged by the caller; artifacts gone since are skipped."""
    repos, digests, counts, times = (list(col) for col in zip(*pulls, strict=True))
    await db.execute(
        "UPDATE artifacts a SET pull_count = a.pull_count + s.n, pull_time = GREATEST(a.pull_time, s.t)"
        " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[]) AS s(repo, digest, n, t)"
        " JOIN repositories r ON r.name = s.repo WHERE a.repository_id = r.id AND a.digest = s.digest",
        repos,
        digests,
        counts,
        times,
    )
    await db.execute(
        "UPDATE repositories r SET pull_count = r.pull_count + s.n"
        " FROM (SELECT repo, sum(n) AS n FROM unnest($1::text[], $2::bigint[]) AS u(repo, n) GROUP BY repo) s"
        " WHERE r.name = s.repo",
        repos,
        counts,
    )


async def lock_for_delete(db: Executor, repository: str, digest: str) -> tuple[int, int] | None:
    """(artifact id, repository id), row-locked until the transaction ends."""
    row = await db.fetchrow(
        "SELECT a.id, a.repository_id FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
        " WHERE r.name = $1 AND a.digest = $2 FOR UPDATE OF a",
        repository,
        digest,
    )
    return None if row is None else (row["id"], row["repository_id"])


async def delete(db: Executor, artifact_id: int) -> None:
    await db.execute("DELETE FROM artifacts WHERE id = $1", artifact_id)


async def tags_page(db: Executor, repository_id: int, last: str, limit: int) -> list[str]:
    rows = await db.fetch(
        "SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3",
        repository_id,
        last,
        limit,
    )
    return [r["name"] for r in rows]


async def referrers(db: Executor, repository: str, subject: str, artifact_type: str | None) -> list[Referrer]:
    rows = await db.fetch(
        "SELECT a.digest, a.media_type, a.artifact_type, a.size, a.annotations FROM artifacts a"
        " JOIN repositories r ON r.id = a.repository_id"
        " WHERE r.name = $1 AND a.subject_digest = $2 AND ($3::text IS NULL OR a.artifact_type = $3)"
        " ORDER BY a.created_at, a.id",
        repository,
        subject,
        artifact_type,
    )
    return [
        Referrer(
            digest=r["digest"],
            media_type=r["media_type"],
            artifact_type=r["artifact_type"],
            size=r["size"],
            annotations=None if r["annotations"] is None else json.loads(r["annotations"]),
        )
        for r in rows
    ]
