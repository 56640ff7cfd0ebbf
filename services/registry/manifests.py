"""Manifest rules: verify, check every reference, and write it all in one transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass

import structlog

from services.common import quota_store
from services.common.cache import LookupCache
from services.common.db import Database, Deadlock, Executor
from services.common.events import outbox
from services.common.events.models import Event, EventType
from services.common.immutable import immutable_message, protecting_rule, split_repository
from services.common.immutable_store import artifact_tags, enabled_rules_of, lock_tag, tag_digest
from services.common.oci.digest import Digest, InvalidDigest, digest_bytes, parse_digest
from services.common.oci.names import is_valid_tag, looks_like_digest
from services.common.quota import QuotaExceeded
from services.common.repositories import ensure_repository, referencing_parents
from services.common.storage import StorageDriver
from services.common.storage.driver import PathNotFound
from services.common.storage.paths import blob_path
from services.registry.blobs import digest_param
from services.registry.chart_additions import ChartIcon, chart_additions
from services.registry.errors import (
    Denied,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestReferenced,
    ManifestUnknown,
    NameUnknown,
    TagImmutable,
    TagInvalid,
)
from services.registry.manifest_parse import ParsedManifest, parse_manifest
from services.registry.metadata import artifacts, icons, repositories
from services.registry.metadata import blobs as blob_rows
from services.registry.metadata.models import Manifest, NewManifest, Referrer

log = structlog.get_logger()


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value)


# Image configs are a few KiB; a larger config (or one that is not JSON) is not kept, and the API then
# shows no extra_attrs for that artifact.
MAX_KEPT_CONFIG_BYTES = 64 * 1024
# A push PostgreSQL aborted to break a lock cycle (nothing of it written) is run again, up to this many times.
DEADLOCK_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Reference:
    tag: str | None
    digest: Digest | None

    @staticmethod
    def parse(value: str) -> Reference:
        if looks_like_digest(value):
            return Reference(tag=None, digest=digest_param(value))
        if not is_valid_tag(value):
            raise TagInvalid(f"tag {value!r} does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")
        return Reference(tag=value, digest=None)


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject_digest: str | None


async def _refuse_moving_immutable(tx: Executor, repository: str, tag: str, digest: str | None) -> None:
    """Harbor's immutable rule, checked in the transaction that moves (`digest`) or deletes (None) the tag:
    an immutable tag may be created once and pushed again with the same digest, nothing else. The tag's
    lock makes the read of its digest and the write that follows atomic against a racing push."""
    project, path = split_repository(repository)
    rule = protecting_rule(await enabled_rules_of(tx, project), path, tag)
    if rule is None:
        return
    await lock_tag(tx, repository, tag)
    current = await tag_digest(tx, repository, tag)
    if current is not None and current != digest:
        raise TagImmutable(immutable_message(path, tag, rule))


async def _refuse_deleting_immutable(tx: Executor, repository: str, artifact_id: int) -> None:
    """Harbor's delete middleware: a manifest any of whose tags is immutable stays. Read in the delete's
    transaction, under the artifact's row lock."""
    project, path = split_repository(repository)
    rules = await enabled_rules_of(tx, project)
    if not rules:
        return
    for tag in await artifact_tags(tx, artifact_id):
        rule = protecting_rule(rules, path, tag)
        if rule is not None:
            raise TagImmutable(immutable_message(path, tag, rule))


async def _join_cached_parents(tx: Executor, repository_id: int, artifact_id: int, digest: str) -> None:
    """A proxy cache keeps an index before the children clients pull (they may never pull them all): a
    child kept later becomes a child of the indexes already kept that list it, with their platform for it,
    as if they had been pushed together."""
    for parent_id, content, media_type in await artifacts.indexes_naming(tx, repository_id, digest):
        platforms = dict(parse_manifest(content, media_type).child_digests)
        if digest in platforms:
            await artifacts.add_reference(tx, parent_id, artifact_id, _json(platforms[digest]))


class ManifestService:
    def __init__(self, db: Database, cache: LookupCache, storage: StorageDriver | None = None) -> None:
        self._db = db
        self._cache = cache
        self._storage = storage

    async def _config_json(self, parsed: ParsedManifest) -> str | None:
        """The config blob's JSON, kept with the manifest for core's extra_attrs (architecture, os, author...).

        Read here because core has no storage driver (the blobs may be on S3) and the artifact list shows
        these for every row; the blob is durable before its manifest can be pushed, and a few KiB read
        once per push is cheap. A missing, large or non-JSON config is simply not kept."""
        if self._storage is None or parsed.config is None:
            return None
        digest, _media_type, size = parsed.config
        if size > MAX_KEPT_CONFIG_BYTES:
            return None
        try:
            data = b"".join([chunk async for chunk in self._storage.read(blob_path(parse_digest(digest)))])
        except (PathNotFound, InvalidDigest):
            return None
        if len(data) > MAX_KEPT_CONFIG_BYTES:
            return None
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(doc, dict):
            return None
        # Re-encoded: PostgreSQL's jsonb refuses some texts json.loads accepts (\u0000).
        text = json.dumps(doc)
        return None if "\\u0000" in text else text

    async def get(self, repository: str, reference: str) -> Manifest:
        key = ("manifest", repository, reference)
        cached: Manifest | None = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            ref = Reference.parse(reference)
        except TagInvalid:
            raise ManifestUnknown(f"manifest {reference!r} unknown to repository {repository}") from None
        generation = self._cache.generation
        found = (
            await artifacts.by_tag(self._db.pool, repository, ref.tag)
            if ref.tag is not None
            else await artifacts.by_digest(self._db.pool, repository, str(ref.digest))
        )
        if found is None:
            raise ManifestUnknown(f"manifest {reference} unknown to repository {repository}")
        self._cache.put(key, found.repository_id, found, found.size, generation)
        return found

    async def put(
        self,
        repository: str,
        reference: str,
        content_type: str | None,
        body: bytes,
        *,
        operator: str,
        cached: bool = False,
    ) -> PushedManifest:
        """A push; `cached`: a proxy cache keeping what its upstream gave, where an index is kept with
        only the children that clients pulled (the others are fetched when asked for)."""
        ref = Reference.parse(reference)
        algorithm = ref.digest.algorithm if ref.digest is not None else "sha256"
        digest = digest_bytes(body, algorithm)
        if ref.digest is not None and ref.digest != digest:
            raise DigestInvalid(f"manifest digest is {digest}, not {ref.digest} as the URL says")
        parsed = parse_manifest(body, content_type)
        chart = await chart_additions(self._storage, parsed.artifact_type, parsed.layers)
        new = NewManifest(
            repository=repository,
            digest=str(digest),
            media_type=parsed.media_type,
            artifact_type=parsed.artifact_type,
            content=body,
            subject_digest=parsed.subject_digest,
            annotations=parsed.annotations,
            blob_digests=parsed.blob_digests,
            child_digests=parsed.child_digests,
            tag=ref.tag,
            config=await self._config_json(parsed),
            additions=_json(None if chart is None else chart.additions),
            icon=None if chart is None or chart.icon is None else chart.icon.digest,
        )
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                repo_id = await self._write(new, None if chart is None else chart.icon, operator, cached)
                break
            except QuotaExceeded as exc:
                await self._report_exceeded(new, operator, exc)
                raise Denied(str(exc)) from None
            except Deadlock:
                if attempt == DEADLOCK_ATTEMPTS:
                    raise
                log.info("manifest_push_retried", repository=repository, reason="deadlock", attempt=attempt)
        # A moved tag: our own client may read it back before the notification reaches this process.
        self._cache.invalidate(repo_id)
        log.info("manifest_pushed", repository=repository, digest=new.digest, tag=ref.tag)
        return PushedManifest(digest=new.digest, subject_digest=new.subject_digest)

    async def _write(self, new: NewManifest, icon: ChartIcon | None, operator: str, cached: bool) -> int:
        """The push's one transaction: every check, then the rows and the event; the repository's id."""
        repository, tag = new.repository, new.tag
        async with quota_store.refusals(), self._db.transaction() as tx:
            if tag is not None:
                await _refuse_moving_immutable(tx, repository, tag, new.digest)
            repo_id = await ensure_repository(tx, repository)
            missing = await blob_rows.missing_links(tx, repo_id, list(new.blob_digests))
            if missing:
                raise ManifestBlobUnknown(
                    f"manifest references blob {missing[0]} unknown to repository {repository}", detail=missing
                )
            missing = await artifacts.missing_children(tx, repo_id, [d for d, _ in new.child_digests])
            if missing and not cached:
                raise ManifestBlobUnknown(
                    f"index references manifest {missing[0]} unknown to repository {repository}", detail=missing
                )
            # Read before writing, for Harbor's message with the push's whole size; a push racing this one
            # past the limit is refused at commit all the same (migration 0019).
            project, _ = split_repository(repository)
            charge = await quota_store.push_charge(tx, project, (new.digest, len(new.content)), new.blob_digests)
            if charge is not None and (refusal := charge.refusal()) is not None:
                raise refusal
            if icon is not None:
                # In the same transaction: an artifact never names an icon that is not there.
                await icons.put(tx, icon.digest, icon.content_type, icon.content)
            artifact_id = await artifacts.insert(tx, repo_id, new)
            if cached:
                await _join_cached_parents(tx, repo_id, artifact_id, new.digest)
            events = [
                Event(
                    EventType.PUSH_ARTIFACT, operator, repository, digest=new.digest, tag=tag, media_type=new.media_type
                )
            ]
            if charge is not None and (warning := charge.warning()) is not None:
                events.append(
                    Event(EventType.QUOTA_WARNING, operator, repository, digest=new.digest, tag=tag, details=warning)
                )
            await outbox.record(tx, events)
        return repo_id

    async def _report_exceeded(self, new: NewManifest, operator: str, exc: QuotaExceeded) -> None:
        """The refusal on the event stream (Harbor's QUOTA_EXCEED), in its own transaction: the push's
        rolled back."""
        refused = Event(
            EventType.QUOTA_EXCEED, operator, new.repository, digest=new.digest, tag=new.tag, details=str(exc)
        )
        async with self._db.transaction() as tx:
            await outbox.record(tx, [refused])
        log.info("manifest_refused_by_quota", repository=new.repository, digest=new.digest, reason=str(exc))

    async def delete(self, repository: str, reference: str, *, operator: str) -> None:
        ref = Reference.parse(reference)
        if ref.tag is not None:
            async with self._db.transaction() as tx:
                await _refuse_moving_immutable(tx, repository, ref.tag, None)
                removed = await artifacts.delete_tag(tx, repository, ref.tag)
                if removed is None:
                    raise ManifestUnknown(f"tag {ref.tag} unknown to repository {repository}")
                repository_id, tagged = removed
                await outbox.record(tx, [Event(EventType.DELETE_TAG, operator, repository, digest=tagged, tag=ref.tag)])
            self._cache.invalidate(repository_id)
            log.info("tag_deleted", repository=repository, tag=ref.tag)
            return
        async with self._db.transaction() as tx:
            found = await artifacts.lock_for_delete(tx, repository, str(ref.digest))
            if found is None:
                raise ManifestUnknown(f"manifest {ref.digest} unknown to repository {repository}")
            artifact_id, repository_id = found
            await _refuse_deleting_immutable(tx, repository, artifact_id)
            parents = await referencing_parents(tx, artifact_id)
            if parents:
                raise ManifestReferenced(
                    f"manifest {ref.digest} is referenced by index {parents[0]}; delete the index first"
                )
            await artifacts.delete(tx, artifact_id)
            await outbox.record(tx, [Event(EventType.DELETE_ARTIFACT, operator, repository, digest=str(ref.digest))])
        self._cache.invalidate(repository_id)
        log.info("manifest_deleted", repository=repository, digest=str(ref.digest))

    async def tags(self, repository: str, last: str, limit: int) -> list[str]:
        repo_id = await repositories.find_id(self._db.pool, repository)
        if repo_id is None:
            raise NameUnknown(f"repository {repository} not known to registry")
        return await artifacts.tags_page(self._db.pool, repo_id, last, limit)

    async def catalog(self, last: str, limit: int) -> list[str]:
        return await repositories.page(self._db.pool, last, limit)

    async def referrers(self, repository: str, subject: Digest, artifact_type: str | None) -> list[Referrer]:
        return await artifacts.referrers(self._db.pool, repository, str(subject), artifact_type)
