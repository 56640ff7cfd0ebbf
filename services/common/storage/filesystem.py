"""The filesystem driver: plain files under a root directory.

Blocking file calls run in worker threads, a megabyte at a time, so the event loop never waits on the disk
and the thread hand-offs stay few.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from services.common.storage.driver import ChunkObserver, FileInfo, PathNotFound

WRITE_BUFFER = 1 << 20
READ_CHUNK = 1 << 20


class FilesystemDriver:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _full(self, path: str) -> Path:
        full = (self.root / path).resolve()
        if full != self.root and self.root not in full.parents:
            raise ValueError(f"storage path escapes the root: {path}")
        return full

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

    async def delete(self, path: str) -> None:
        full = self._full(path)

        def remove() -> None:
            if full.is_dir() and not full.is_symlink():
                shutil.rmtree(full)
            else:
                full.unlink()

        try:
            await asyncio.to_thread(remove)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None

    async def list(self, path: str) -> list[str]:
        full = self._full(path)
        try:
            names = await asyncio.to_thread(os.listdir, full)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        prefix = path.rstrip("/")
        return sorted(f"{prefix}/{name}" if prefix else name for name in names)
