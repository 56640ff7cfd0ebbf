"""Harbor's GARBAGE_COLLECTION, without stopping pushes: (1) with delete_untagged, untagged artifacts older
than the window go (rows only: manifests live in the database), their children and accessories after
them; (2) mark: unreferenced blobs older than the window become 'deleting', in batches of short
transactions; (3) sweep: the bytes of every blob still 'deleting' are deleted from storage by `workers`
concurrent deleters, then the rows; (4) upload sessions abandoned longer than the upload TTL go. A dry run
counts what (1) and (2) would take and changes nothing. Idempotent: a run after a crash finishes the
sweep an earlier run began."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.common import upload_sessions
from services.common.jobs.gc import parse_gc_params
from services.common.oci.digest import parse_digest
from services.common.storage import PathNotFound, StorageDriver
from services.common.storage.paths import blob_dir, upload_dir
from services.jobservice import gc_store
from services.jobservice.context import JobContext, JobFailed

MARK_BATCH = 1000
SWEEP_BATCH = 1000
UNTAGGED_BATCH = 500


class GarbageCollector:
    def __init__(self, storage: StorageDriver, upload_ttl: timedelta) -> None:
        self._storage = storage
        self._upload_ttl = upload_ttl

    async def __call__(self, context: JobContext) -> None:
        try:
            params = parse_gc_params(context.job.parameters)
        except ValueError as exc:
            raise JobFailed(f"the job's parameters do not parse: {exc}") from None
        window = params.time_window_hours * 3600.0
        pool = context.db.pool
        if params.dry_run:
            untagged = await gc_store.count_untagged(pool, window) if params.delete_untagged else 0
            blobs, size = await gc_store.unreferenced(pool, window)
            await context.log(
                f"dry run: {blobs} blobs ({size} bytes) would be deleted"
                + (
                    f", and {untagged} untagged artifacts (their own blobs are counted once they go)"
                    if untagged
                    else ""
                )
            )
            context.result = {"dry_run": True, "blobs": blobs, "bytes": size, "untagged_artifacts": untagged}
            return
        artifacts = 0
        if params.delete_untagged:
            while deleted := await gc_store.delete_untagged(pool, window, UNTAGGED_BATCH):
                artifacts += len(deleted)
            await context.log(f"deleted {artifacts} untagged artifacts")
        marked = 0
        while True:
            async with context.db.transaction() as tx:
                batch, scanned = await gc_store.mark(tx, window, MARK_BATCH)
            marked += len(batch)
            if scanned < MARK_BATCH or not batch:
                break  # none left, or only those pushes hold (the next run takes them)
        await context.log(f"marked {marked} unreferenced blobs")
        blobs, freed = await self._sweep(context, params.workers)
        uploads = await self._purge_uploads(context)
        await context.log(f"deleted {blobs} blobs, {freed} bytes freed; {uploads} abandoned uploads removed")
        context.result = {
            "dry_run": False,
            "blobs": blobs,
            "bytes": freed,
            "untagged_artifacts": artifacts,
            "uploads": uploads,
        }

    async def _sweep(self, context: JobContext, workers: int) -> tuple[int, int]:
        """Deletes the bytes, then the rows, of blobs still 'deleting', a batch per transaction holding
        their row locks (an upload of one of them waits, then finds it gone and brings its own bytes)."""
        gate = asyncio.Semaphore(workers)
        blobs = freed = 0

        async def delete(digest: str) -> None:
            async with gate:
                try:
                    await self._storage.delete(blob_dir(parse_digest(digest)))
                except PathNotFound:
                    pass  # already gone: an earlier run deleted the bytes, then stopped before the row

        while True:
            async with context.db.transaction() as tx:
                batch = await gc_store.lock_deleting(tx, SWEEP_BATCH)
                if not batch:
                    break
                await asyncio.gather(*(delete(d) for d, _ in batch))
                blobs += await gc_store.delete_rows(tx, [d for d, _ in batch])
                freed += sum(size for _, size in batch)
            if len(batch) < SWEEP_BATCH:
                break
        return blobs, freed

    async def _purge_uploads(self, context: JobContext) -> int:
        purged = 0
        while ids := await upload_sessions.expired(context.db.pool, self._upload_ttl, 500):
            for upload_id in ids:
                try:
                    await self._storage.delete(upload_dir(upload_id))
                except PathNotFound:
                    pass
                await upload_sessions.delete(context.db.pool, upload_id)
            purged += len(ids)
        return purged
