"""Blob rules: what a repository may serve, and how an uploaded file becomes a shared blob."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import structlog

from services.common import upload_sessions
from services.common.cache import LookupCache
from services.common.db import Database
from services.common.oci.digest import Digest, InvalidDigest, parse_digest
from services.common.repositories import ensure_repository
from services.common.storage import PathNotFound, StorageDriver
from services.common.storage.paths import blob_path, upload_dir
from services.registry.errors import BlobUnknown, DigestInvalid
from services.registry.metadata import blobs as blob_rows

log = structlog.get_logger()
# What one cached blob lookup costs in memory, roughly: the key and a few small objects.
CACHED_BLOB_ENTRY_BYTES = 400


def digest_param(value: str) -> Digest:
    try:
        return parse_digest(value)
    except InvalidDigest as exc:
        raise DigestInvalid(str(exc)) from None


class BlobService:
    def __init__(self, db: Database, storage: StorageDriver, cache: LookupCache) -> None:
        self._db = db
        self._storage = storage
        self._cache = cache

    async def size(self, repository: str, digest: Digest) -> int:
        key = ("blob", repository, digest)
        cached: int | None = self._cache.get(key)
        if cached is not None:
            return cached
        generation = self._cache.generation
        found = await blob_rows.linked_size(self._db.pool, repository, str(digest))
        if found is None:
            raise BlobUnknown(f"blob {digest} unknown to repository {repository}")
        repository_id, size = found
        self._cache.put(key, repository_id, size, CACHED_BLOB_ENTRY_BYTES, generation)
        return size

    def path(self, digest: Digest) -> str:
        return blob_path(digest)

    def local_path(self, digest: Digest) -> Path | None:
        return self._storage.local_path(blob_path(digest))

    async def download_url(self, digest: Digest, expires_seconds: int) -> str | None:
        return await self._storage.download_url(blob_path(digest), expires_seconds)

    def read(self, digest: Digest, offset: int, length: int) -> AsyncIterator[bytes]:
        return self._storage.read(blob_path(digest), offset, length)

    async def delete(self, repository: str, digest: Digest) -> None:
        """Unlink from the repository only; the bytes stay until garbage collection finds them unused."""
        repository_id = await blob_rows.unlink(self._db.pool, repository, str(digest))
        if repository_id is None:
            raise BlobUnknown(f"blob {digest} unknown to repository {repository}")
        # Our own client may ask again before the database's notification reaches this process.
        self._cache.invalidate(repository_id)
        log.info("blob_unlinked", repository=repository, digest=str(digest))

    async def mount(self, repository: str, digest: Digest, source: str) -> bool:
        """Link a blob the source repository holds; False if it does not (the client then uploads)."""
        async with self._db.transaction() as tx:
            if await blob_rows.linked_size(tx, source, str(digest)) is None:
                return False
            repo_id = await ensure_repository(tx, repository)
            await blob_rows.link(tx, repo_id, str(digest))
        log.info("blob_mounted", repository=repository, digest=str(digest), source=source)
        return True

    async def adopt(self, repository: str, digest: Digest) -> bool:
        """Link a blob stored for any repository into `repository` (a proxy cache's pull of a layer it
        already holds elsewhere); False when no live blob has that digest. The blob row is key-share-locked
        until the link commits, so garbage collection's mark passes over it, and the new link keeps it
        for the time window after."""
        async with self._db.transaction() as tx:
            if not await blob_rows.share_live(tx, str(digest)):
                return False
            repo_id = await ensure_repository(tx, repository)
            await blob_rows.link(tx, repo_id, str(digest))
        return True

    async def commit(self, repository: str, upload_id: str, source: str, digest: Digest, size: int) -> None:
        """Make a verified upload file the blob `digest`, durably, and record it, in one transaction that
        holds the blob's row lock (the row made first if there is none): a new blob or one garbage
        collection is deleting gets these bytes before it is live, and the sweep, which deletes only rows
        still 'deleting' under the same lock, cannot remove them. A live blob keeps its bytes (the same, by
        digest)."""
        async with self._db.transaction() as tx:
            status = await blob_rows.claim(tx, str(digest), size)
            if status != "live":
                await self._storage.move(source, blob_path(digest))
            if status == "deleting":
                await blob_rows.revive(tx, str(digest))
            repo_id = await ensure_repository(tx, repository)
            await blob_rows.link(tx, repo_id, str(digest))
            await upload_sessions.delete(tx, upload_id)
        try:
            await self._storage.delete(upload_dir(upload_id))
        except PathNotFound:
            pass
        log.info("blob_committed", repository=repository, digest=str(digest), size=size)
