"""One fetch per blob: a blob a proxy-cache project does not hold yet is fetched from the upstream once, by
one task, however many clients ask for it meanwhile; each of them reads the bytes as they arrive.

The bytes land in a spool file on local disk, whatever the storage driver is (an S3 multipart upload cannot
be read while it is written); every waiting client reads the spool from its start, behind the fetch. The
last chunk is held back from the readers until the whole blob matched its digest, so no client ever
receives all the bytes of a blob that turns out wrong. The fetch then stores the blob from the spool, and
the spool goes. Within one registry process; replicas each fetch at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path

import structlog

from services.common.oci.digest import Digest
from services.common.tasks import TaskSet

log = structlog.get_logger()
READ_CHUNK = 1 << 20


class BlobFetch:
    """A blob on its way from the upstream into the spool file `spool`."""

    def __init__(self, digest: Digest, spool: Path) -> None:
        self.digest = digest
        self.spool = spool
        self.size: int | None = None  # the upstream's Content-Length, once it answered
        self._fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._written = 0
        self._last = 0  # the length of the latest chunk, held back until the digest matched
        self._verified = False
        self._answered = False
        self._error: BaseException | None = None
        self._stored = False
        self._store_error: BaseException | None = None
        self._tick = asyncio.Event()

    # --- the fetching task's side -----------------------------------------------------------------------

    def begin(self, size: int | None) -> None:
        """The upstream answered with the blob: readers may start (its size, when it said)."""
        self.size = size
        self._answered = True
        self._notify()

    async def append(self, data: bytes) -> None:
        await asyncio.to_thread(_write_all, self._fd, data)
        self._written += len(data)
        self._last = len(data)
        self._notify()

    def complete(self) -> None:
        """Every byte is in the spool and matched the digest: readers get the rest."""
        self._verified = True
        self._close()
        self._notify()

    def stored(self) -> None:
        """The blob is in storage and recorded: a manifest may name it now."""
        self._stored = True
        self._notify()

    def fail(self, error: BaseException) -> None:
        self._store_error = error
        if self._verified:
            self._notify()
            return  # the readers have every byte; storing the blob failed, which is no error of theirs
        self._error = error
        self._answered = True
        self._close()
        self._notify()

    # --- the readers' side ------------------------------------------------------------------------------

    async def ready(self) -> int | None:
        """Waits until the upstream answered; the blob's size (None: the upstream did not say). Raises the
        fetch's error when it failed before that: nothing has been sent to the client yet."""
        while not self._answered:
            await self._wait()
        if self._error is not None and self._written == 0:
            raise self._error
        return self.size

    def reader(self) -> BlobReader:
        """A reader of the spool from its start. Call it as soon as the fetch is in hand, with no await in
        between: the fetch removes the spool's name once it has stored the blob, and an open reader keeps
        reading what it named."""
        return BlobReader(self, os.open(self.spool, os.O_RDONLY))

    async def _chunks(self, fd: int) -> AsyncGenerator[bytes]:
        try:
            offset = 0
            while True:
                visible = self._written if self._verified else self._written - self._last
                if offset < visible:
                    data = await asyncio.to_thread(os.pread, fd, min(READ_CHUNK, visible - offset), offset)
                    offset += len(data)
                    yield data
                elif self._error is not None:
                    raise self._error
                elif self._verified:
                    return
                else:
                    await self._wait()
        finally:
            os.close(fd)

    async def kept(self) -> None:
        """Waits until the blob is stored; raises the fetch's error otherwise."""
        while not self._stored and self._store_error is None:
            await self._wait()
        if self._store_error is not None:
            raise self._store_error

    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    async def _wait(self) -> None:
        await self._tick.wait()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class BlobReader:
    """One client's view of a fetch: `ready`, then `chunks` (which closes it), or `close`."""

    def __init__(self, fetch: BlobFetch, fd: int) -> None:
        self.fetch = fetch
        self._fd = fd

    async def ready(self) -> int | None:
        return await self.fetch.ready()

    def chunks(self) -> AsyncGenerator[bytes]:
        """The blob's bytes from its start, as they arrive; raises the fetch's error if it fails midway
        (the client then has an incomplete body, which its digest check refuses)."""
        fd, self._fd = self._fd, -1
        return self.fetch._chunks(fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


Download = Callable[[BlobFetch], Awaitable[None]]


class BlobFetches:
    """The fetches running in this process, by digest, and the spool directory they write in."""

    def __init__(self, spool_root: str = "") -> None:
        self._spool_root = spool_root or None
        self._dir: Path | None = None
        self._running: dict[Digest, BlobFetch] = {}
        self._tasks = TaskSet()

    def running(self, digest: Digest) -> BlobFetch | None:
        return self._running.get(digest)

    def start(self, digest: Digest, download: Download) -> BlobFetch:
        """The running fetch of `digest`, or a new one that `download` fills (it calls begin, append and
        complete, and stores the blob); the fetch leaves the table when `download` returns or fails."""
        running = self._running.get(digest)
        if running is not None:
            return running
        if self._dir is None:
            raise RuntimeError("BlobFetches is used outside its lifespan")
        fetch = BlobFetch(digest, self._dir / uuid.uuid4().hex)
        self._running[digest] = fetch
        self._tasks.spawn(self._run(fetch, download))
        return fetch

    async def _run(self, fetch: BlobFetch, download: Download) -> None:
        try:
            await download(fetch)
            fetch.complete()  # a download that returned without it: no reader must wait forever
            fetch.stored()
        except asyncio.CancelledError:
            fetch.fail(RuntimeError("the registry is stopping"))
            raise
        except Exception as exc:
            fetch.fail(exc)
            log.warning("proxy_blob_fetch_failed", digest=str(fetch.digest), reason=str(exc))
        finally:
            del self._running[fetch.digest]
            # Readers that opened the spool go on reading it; the name goes now.
            with contextlib.suppress(FileNotFoundError):
                fetch.spool.unlink()

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        self._dir = Path(tempfile.mkdtemp(prefix="berth-proxy-spool-", dir=self._spool_root))
        try:
            yield
        finally:
            await self._tasks.cancel_all()
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
