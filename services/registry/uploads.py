"""Upload sessions: chunks appended in order, verified against the digest, then committed as a blob.

The acknowledged size lives in PostgreSQL and the bytes in the storage driver, so an upload survives a
restart of the registry (or lands on another replica). The running hash is kept in memory as a shortcut;
when it is missing or stale it is recomputed from the stored bytes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from typing import Any

import structlog

from services.common import upload_sessions
from services.common.db import Database
from services.common.oci.digest import Digest
from services.common.storage import PathNotFound, StorageDriver
from services.common.storage.paths import upload_dir, upload_path
from services.registry.blobs import BlobService
from services.registry.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid
from services.registry.metadata import uploads as upload_rows
from services.registry.metadata.models import Upload

log = structlog.get_logger()
MAX_CACHED_HASHES = 4096


def range_header(size: int) -> str:
    # The spec's inclusive range of bytes received; distribution answers "0-0" for an empty upload.
    return f"0-{max(size - 1, 0)}"


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


def _uuid_or_unknown(upload_id: str) -> str:
    try:
        return str(uuid.UUID(upload_id))
    except ValueError:
        raise BlobUploadUnknown(f"upload {upload_id!r} unknown to registry") from None


class UploadService:
    def __init__(self, db: Database, storage: StorageDriver, blobs: BlobService) -> None:
        self._db = db
        self._storage = storage
        self._blobs = blobs
        self._hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def start(self, repository: str) -> Upload:
        upload_id = str(uuid.uuid4())
        # The file exists from the start, so a zero-length blob (POST then PUT) has bytes to commit.
        await self._storage.write(upload_path(upload_id), _nothing())
        await upload_rows.create(self._db.pool, upload_id, repository)
        return Upload(id=upload_id, repository=repository, size=0)

    async def status(self, repository: str, upload_id: str) -> Upload:
        upload = await upload_rows.get(self._db.pool, _uuid_or_unknown(upload_id), repository)
        if upload is None:
            raise BlobUploadUnknown(f"upload {upload_id} unknown to repository {repository}")
        return upload

    async def append(
        self,
        repository: str,
        upload_id: str,
        body: AsyncIterable[bytes],
        *,
        start: int | None = None,
        length: int | None = None,
    ) -> Upload:
        # Serialise chunks of one upload within this process (the database check catches other replicas);
        # the count lets the last user drop the lock so the table does not grow with every upload.
        lock, users = self._locks.get(upload_id, (asyncio.Lock(), 0))
        self._locks[upload_id] = (lock, users + 1)
        try:
            async with lock:
                return await self._append(repository, upload_id, body, start=start, length=length)
        finally:
            lock, users = self._locks[upload_id]
            if users == 1:
                del self._locks[upload_id]
            else:
                self._locks[upload_id] = (lock, users - 1)

    async def _append(
        self, repository: str, upload_id: str, body: AsyncIterable[bytes], *, start: int | None, length: int | None
    ) -> Upload:
        upload = await self.status(repository, upload_id)
        if start is not None and start != upload.size:
            raise RangeInvalid(
                f"chunk starts at {start} but the upload has {upload.size} bytes; resume from there",
                headers=self._state_headers(upload),
            )
        hasher = (await self._hasher(upload)).copy()
        try:
            new_size = await self._storage.write(
                upload_path(upload.id), body, offset=upload.size, observe=hasher.update
            )
        except Exception:
            # The client went away or the stream broke: the acknowledged size is unchanged, and the next
            # chunk overwrites whatever part of this one reached the disk.
            self._hashes.pop(upload.id, None)
            raise
        if length is not None and new_size - upload.size != length:
            self._hashes.pop(upload.id, None)
            raise SizeInvalid(
                f"chunk declared {length} bytes but {new_size - upload.size} arrived",
                headers=self._state_headers(upload),
            )
        if not await upload_rows.advance(self._db.pool, upload.id, upload.size, new_size):
            self._hashes.pop(upload.id, None)
            current = await self.status(repository, upload_id)
            raise RangeInvalid("another request changed this upload meanwhile", headers=self._state_headers(current))
        self._remember(upload.id, new_size, hasher)
        return Upload(id=upload.id, repository=repository, size=new_size)

    async def finish(
        self, repository: str, upload_id: str, digest: Digest, body: AsyncIterable[bytes] | None, **chunk: Any
    ) -> int:
        """Append the last chunk if any, verify the digest over everything received, commit the blob."""
        upload = (
            await self.append(repository, upload_id, body, **chunk)
            if body is not None
            else await self.status(repository, upload_id)
        )
        await self._trim(upload)
        actual = await self._digest_of(upload, digest.algorithm)
        if actual != digest.hex:
            await self.cancel(repository, upload.id)
            raise DigestInvalid(
                f"digest {digest} does not match the {upload.size} bytes uploaded ({digest.algorithm}:{actual})"
            )
        await self._blobs.commit(repository, upload.id, upload_path(upload.id), digest, upload.size)
        self._hashes.pop(upload.id, None)
        return upload.size

    async def monolithic(self, repository: str, digest: Digest, body: AsyncIterable[bytes], length: int | None) -> int:
        upload = await self.start(repository)
        try:
            return await self.finish(repository, upload.id, digest, body, length=length)
        except BaseException:
            await self._discard(upload.id)
            raise

    async def cancel(self, repository: str, upload_id: str) -> None:
        upload = await self.status(repository, upload_id)
        await self._discard(upload.id)

    async def _discard(self, upload_id: str) -> None:
        self._hashes.pop(upload_id, None)
        await upload_sessions.delete(self._db.pool, upload_id)
        try:
            await self._storage.delete(upload_dir(upload_id))
        except PathNotFound:
            pass

    async def purge_expired(self, ttl: timedelta) -> int:
        ids = await upload_sessions.expired(self._db.pool, ttl, 1000)
        for upload_id in ids:
            await self._discard(upload_id)
        if ids:
            log.info("uploads_purged", count=len(ids))
        return len(ids)

    async def _trim(self, upload: Upload) -> None:
        """Drop bytes past the acknowledged size: a chunk cut off mid-stream (or by a crash) may have
        left some on disk, and they must not become part of the blob."""
        path = upload_path(upload.id)
        if (await self._storage.stat(path)).size != upload.size:
            await self._storage.write(path, _nothing(), offset=upload.size)

    def _state_headers(self, upload: Upload) -> dict[str, str]:
        return {
            "Location": f"/v2/{upload.repository}/blobs/uploads/{upload.id}",
            "Range": range_header(upload.size),
            "Docker-Upload-UUID": upload.id,
        }

    def state_headers(self, upload: Upload) -> dict[str, str]:
        return self._state_headers(upload)

    def _remember(self, upload_id: str, size: int, hasher: Any) -> None:
        self._hashes[upload_id] = (size, hasher)
        self._hashes.move_to_end(upload_id)
        while len(self._hashes) > MAX_CACHED_HASHES:
            self._hashes.popitem(last=False)

    async def _hasher(self, upload: Upload, algorithm: str = "sha256") -> Any:
        cached = self._hashes.get(upload.id)
        if algorithm == "sha256" and cached is not None and cached[0] == upload.size:
            return cached[1]
        hasher = Digest(algorithm, "").hasher()
        if upload.size:
            async for chunk in self._storage.read(upload_path(upload.id), 0, upload.size):
                await asyncio.to_thread(hasher.update, chunk)
        return hasher

    async def _digest_of(self, upload: Upload, algorithm: str) -> str:
        hexdigest: str = (await self._hasher(upload, algorithm)).hexdigest()
        return hexdigest
