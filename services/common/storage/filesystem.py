"""The filesystem driver: plain files under a root directory.

Blocking file calls run in worker threads, a megabyte (or a thousand deletions) at a time, so the event loop
never waits on the disk and the thread hand-offs stay few.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path

from services.common.storage.driver import ChunkObserver, FileInfo, PathNotFound

WRITE_BUFFER = 1 << 20
READ_CHUNK = 1 << 20
# Paths one worker-thread hop of delete_many removes: few hops, yet a cancelled caller waits for one only.
DELETE_CHUNK = 1000


class FilesystemDriver:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._root = str(self.root)
        self._inside = os.path.join(self._root, "")

    def _full(self, path: str) -> Path:
        return Path(self._resolved(path))

    def _resolved(self, path: str) -> str:
        # Resolved (symlinks too), then compared as strings: Path.parents cost more than the resolving.
        full = os.path.realpath(os.path.join(self._root, path))
        if full != self._root and not full.startswith(self._inside):
            raise ValueError(f"storage path escapes the root: {path}")
        return full

    def _entry(self, path: str, parents: dict[str, str]) -> str:
        """Where `path` is, to remove it: its directory resolved and kept inside the root, its own name not
        resolved, so a symlink is removed itself and never its target. `parents` caches the directories
        resolved so far: resolving costs a system call per component, and a batch of blobs shares 256."""
        head, name = os.path.split(os.path.normpath(path))
        if name in (".", ".."):
            return self._resolved(path)  # the root itself, or out of it (refused)
        parent = parents.get(head)
        if parent is None:
            parent = parents[head] = self._resolved(head)
        return os.path.join(parent, name)

    async def download_url(self, path: str, expires_seconds: int) -> str | None:
        return None

    def local_path(self, path: str) -> Path | None:
        return self._full(path)

    async def stat(self, path: str) -> FileInfo:
        full = self._full(path)
        try:
            st = await asyncio.to_thread(full.stat)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        return FileInfo(path=path, size=st.st_size, modified=st.st_mtime, is_dir=full.is_dir())

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        full = self._full(path)
        try:
            f = await asyncio.to_thread(open, full, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise PathNotFound(path) from None
        try:
            await asyncio.to_thread(f.seek, offset)
            remaining = length
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                data = await asyncio.to_thread(f.read, size)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            f.close()

    async def write(
        self, path: str, chunks: AsyncIterable[bytes], *, offset: int = 0, observe: ChunkObserver | None = None
    ) -> int:
        full = self._full(path)

        def open_at() -> int:
            full.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT, 0o644)
            os.ftruncate(fd, offset)
            return fd

        def flush(fd: int, data: bytes) -> None:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if observe is not None:
                observe(data)

        fd = await asyncio.to_thread(open_at)
        size = offset
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            buffer = bytearray()
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER:
                    data = bytes(buffer)
                    buffer.clear()
                    await asyncio.to_thread(flush, fd, data)
                    size += len(data)
            if buffer:
                await asyncio.to_thread(flush, fd, bytes(buffer))
                size += len(buffer)
        finally:
            os.close(fd)
        return size

    async def move(self, source: str, destination: str) -> None:
        src, dst = self._full(source), self._full(destination)

        def durable_rename() -> None:
            if not src.exists():
                raise PathNotFound(source)
            fd = os.open(src, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            dir_fd = os.open(dst.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

        await asyncio.to_thread(durable_rename)

    @staticmethod
    def _remove(full: str) -> bool:
        """Blocking: remove a file, symlink or directory tree; False if nothing was there."""
        try:
            # Unlink first: one system call for a file or symlink, and it fails at once for a directory
            # (EISDIR on Linux, EPERM elsewhere).
            os.unlink(full)
            return True
        except (FileNotFoundError, NotADirectoryError):
            return False
        except IsADirectoryError:
            pass
        except PermissionError:
            if not os.path.isdir(full) or os.path.islink(full):
                raise
        try:
            shutil.rmtree(full)
        except FileNotFoundError:
            if os.path.lexists(full):
                raise
            return False  # a concurrent delete removed it first
        return True

    async def delete(self, path: str) -> None:
        def remove() -> bool:
            return self._remove(self._entry(path, {}))

        if not await asyncio.to_thread(remove):
            raise PathNotFound(path)

    async def delete_many(self, paths: Sequence[str]) -> list[str]:
        def remove_all(chunk: Sequence[str]) -> list[str]:
            parents: dict[str, str] = {}
            # Every path resolved before any is removed: one out of the root refuses the chunk whole.
            entries = [self._entry(path, parents) for path in chunk]
            return [path for path, entry in zip(chunk, entries, strict=True) if not self._remove(entry)]

        absent: list[str] = []
        for start in range(0, len(paths), DELETE_CHUNK):
            absent += await asyncio.to_thread(remove_all, paths[start : start + DELETE_CHUNK])
        return absent

    async def list(self, path: str) -> list[str]:
        full = self._full(path)
        try:
            names = await asyncio.to_thread(os.listdir, full)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        prefix = path.rstrip("/")
        return sorted(f"{prefix}/{name}" if prefix else name for name in names)
