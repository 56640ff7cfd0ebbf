"""The in-memory twin of the filesystem driver, for unit tests of code above the seam."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path

from services.common.storage.driver import ChunkObserver, FileInfo, PathNotFound

READ_CHUNK = 1 << 20


class MemoryDriver:
    def __init__(self) -> None:
        self._files: dict[str, tuple[bytearray, float]] = {}

    def _dirs(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return [p for p in self._files if p.startswith(prefix)]

    async def download_url(self, path: str, expires_seconds: int) -> str | None:
        return None

    def local_path(self, path: str) -> Path | None:
        return None

    async def stat(self, path: str) -> FileInfo:
        if path in self._files:
            data, modified = self._files[path]
            return FileInfo(path=path, size=len(data), modified=modified, is_dir=False)
        if self._dirs(path):
            return FileInfo(path=path, size=0, modified=time.time(), is_dir=True)
        raise PathNotFound(path)

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if path not in self._files:
            raise PathNotFound(path)
        data = self._files[path][0]
        end = len(data) if length is None else min(len(data), offset + length)
        for start in range(offset, end, READ_CHUNK):
            yield bytes(data[start : min(end, start + READ_CHUNK)])

    async def write(
        self, path: str, chunks: AsyncIterable[bytes], *, offset: int = 0, observe: ChunkObserver | None = None
    ) -> int:
        data = self._files.get(path, (bytearray(), 0.0))[0]
        del data[offset:]
        data.extend(b"\0" * (offset - len(data)))
        self._files[path] = (data, time.time())
        async for chunk in chunks:
            data += chunk
            if observe is not None:
                observe(chunk)
        return len(data)

    async def move(self, source: str, destination: str) -> None:
        if source not in self._files:
            raise PathNotFound(source)
        self._files[destination] = self._files.pop(source)

    async def delete(self, path: str) -> None:
        if path in self._files:
            del self._files[path]
            return
        children = self._dirs(path)
        if not children:
            raise PathNotFound(path)
        for child in children:
            del self._files[child]

    async def delete_many(self, paths: Sequence[str]) -> list[str]:
        absent = []
        for path in paths:
            try:
                await self.delete(path)
            except PathNotFound:
                absent.append(path)
        return absent

    async def list(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/" if path else ""
        names = {p[len(prefix) :].split("/", 1)[0] for p in self._files if p.startswith(prefix)}
        if not names:
            raise PathNotFound(path)
        return sorted(prefix + n for n in names)
