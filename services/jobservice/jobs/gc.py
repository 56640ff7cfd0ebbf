"""Harbor's GARBAGE_COLLECTION, without stopping pushes: (1) with delete_untagged, untagged artifacts older
than the window go (rows only: manifests live in the database), their children and accessories after
them; (2) mark: unreferenced blobs older than the window become 'deleting', in batches of short
transactions; (3) sweep: `workers` concurrent deleters each take a batch of blobs still 'deleting' at a time
and delete their bytes from storage (one driver call), then their rows; (4) upload sessions abandoned
longer than the upload TTL go. A dry run counts what (1) and (2) would take and changes nothing.
Idempotent: a run after a crash finishes the sweep an earlier run began."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from services.common import upload_sessions
from services.common.jobs.gc import parse_gc_params
from services.common.oci.digest import parse_digest
from services.common.storage import StorageDriver
from services.common.storage.paths import blob_dir, upload_dir
from services.jobservice import gc_store
from services.jobservice.context import JobContext, JobFailed

MARK_BATCH = 1000
# Blobs per sweep transaction: one storage call deletes them (S3's DeleteObjects takes 1,000 keys), and an
# upload of one of them waits at most for one batch.
SWEEP_BATCH = 1000
UNTAGGED_BATCH = 500


@dataclass
class GcProgress:
    """What this process's runs have done so far, added to as each batch goes (so a run's progress shows
    while it runs) and read by the metrics at a scrape (services.jobservice.metrics)."""

    running: int = 0  # runs in progress here (dry runs included)
    manifests_deleted: int = 0  # untagged artifacts
    blobs_deleted: int = 0
    bytes_freed: int = 0


class GarbageCollector:
    def __init__(self, storage: StorageDriver, upload_ttl: timedelta, progress: GcProgress | None = None) -> None:
        self._storage = storage
        self._upload_ttl = upload_ttl
        self._progress = progress or GcProgress()

    async def __call__(self, context: JobContext) -> None:
        self._progress.running += 1
        try:
            await self._run(context)
        finally:
            self._progress.running -= 1

    async def _run(self, context: JobContext) -> None:
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
                self._progress.manifests_deleted += len(deleted)
            await context.log(f"deleted {artifacts} untagged artifacts")
        started = time.monotonic()
        marked = 0
        after: str | None = ""
        while after is not None:
            async with context.db.transaction() as tx:
                batch, after = await gc_store.mark(tx, window, MARK_BATCH, after)
            marked += len(batch)
        await context.log(f"marked {marked} unreferenced blobs in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        blobs, freed = await self._sweep(context, params.workers)
        swept = time.monotonic() - started
        uploads = await self._purge_uploads(context)
        await context.log(
            f"deleted {blobs} blobs, {freed} bytes freed, in {swept:.1f} s; {uploads} abandoned uploads removed"
        )
        context.result = {
            "dry_run": False,
            "blobs": blobs,
            "bytes": freed,
            "untagged_artifacts": artifacts,
            "uploads": uploads,
        }

    async def _sweep(self, context: JobContext, workers: int) -> tuple[int, int]:
        """Deletes the bytes, then the rows, of blobs still 'deleting': `workers` deleters, each a batch
        at a time in a transaction holding the batch's row locks while its bytes and rows go (an upload of
        one of them waits, then finds it gone and brings its own bytes). The locks are taken without
        waiting, so the deleters' batches are disjoint. (blobs, bytes) deleted.

        The deleters take turns at the database: one GC statement runs at a time, while the others'
        storage deletes go on. GC then keeps at most one PostgreSQL backend busy, whatever `workers` is,
        and the rest of the machine's cores stay with the pushes (PostgreSQL's processes are not the
        jobservice's to make nice: on two cores, five deleters' statements at once tripled the push p99)."""
        blobs = freed = 0
        turn = asyncio.Lock()

        async def deleter() -> None:
            nonlocal blobs, freed
            while True:
                async with context.db.transaction() as tx:
                    async with turn:
                        batch = await gc_store.lock_deleting(tx, SWEEP_BATCH)
                    if not batch:
                        return
                    # Paths already absent are no error: an earlier run deleted the bytes, then stopped
                    # before the rows.
                    await self._storage.delete_many([blob_dir(parse_digest(d)) for d, _ in batch])
                    async with turn:
                        deleted = await gc_store.delete_rows(tx, [d for d, _ in batch])
                size = sum(size for _, size in batch)
                blobs += deleted
                freed += size
                self._progress.blobs_deleted += deleted
                self._progress.bytes_freed += size
                if len(batch) < SWEEP_BATCH:
                    return  # the rest, if any, is in the other deleters' batches or an upload's hands

        tasks = [asyncio.create_task(deleter()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            # One deleter failed or the job was stopped: the others end too, their batches rolled back.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return blobs, freed

    async def _purge_uploads(self, context: JobContext) -> int:
        purged = 0
        while ids := await upload_sessions.expired(context.db.pool, self._upload_ttl, 500):
            # The files first, then the rows: a session whose row is gone never has files left behind.
            await self._storage.delete_many([upload_dir(upload_id) for upload_id in ids])
            for upload_id in ids:
                await upload_sessions.delete(context.db.pool, upload_id)
            purged += len(ids)
        return purged
