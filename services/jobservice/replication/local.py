"""This registry as a replication source: manifests from the database (the registry keeps their bytes
there), blobs from its storage, referrers from the artifacts' subjects. What a push policy copies."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.common.db import Database
from services.common.oci.digest import InvalidDigest, parse_digest
from services.common.storage import StorageDriver
from services.common.storage.driver import PathNotFound
from services.common.storage.paths import blob_path
from services.jobservice import replication_store as store
from services.jobservice.replication.copier import CHUNK_BYTES, CopyError, Descriptor, Manifest, manifest_of

WHERE = "this registry"


class LocalSource:
    def __init__(self, db: Database, storage: StorageDriver) -> None:
        self._db = db
        self._storage = storage

    @property
    def where(self) -> str:
        return WHERE

    async def manifest(self, repository: str, reference: str) -> Manifest:
        found = await store.manifest(self._db.pool, repository, reference)
        if found is None:
            raise CopyError(f"{repository}:{reference} is not in {WHERE} (deleted since the execution began?)")
        media_type, body = found
        return manifest_of(repository, reference, body, media_type, WHERE)

    @contextlib.asynccontextmanager
    async def blob(self, repository: str, digest: str, offset: int = 0) -> AsyncIterator[AsyncIterator[bytes]]:
        try:
            path = blob_path(parse_digest(digest))
        except InvalidDigest:
            raise CopyError(f"{repository}: {digest[:80]!r} is not a digest") from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for data in self._storage.read(path, offset):
                    for start in range(0, len(data), CHUNK_BYTES):
                        yield data[start : start + CHUNK_BYTES]
            except PathNotFound:
                raise CopyError(f"blob {digest} of {repository} is missing from {WHERE}'s storage") from None

        yield chunks()

    async def referrers(self, repository: str, digest: str) -> list[Descriptor]:
        return [
            Descriptor(media_type, ref_digest, size, artifact_type or "")
            for ref_digest, media_type, size, artifact_type in await store.referrers(self._db.pool, repository, digest)
        ]
