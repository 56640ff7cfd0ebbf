"""The storage-driver seam: what the registry needs from wherever blob bytes live.

Paths are driver-relative, `/`-separated, never absolute (layout in `paths.py`). Every driver passes the
conformance suite in tests/unit/common/test_storage_conformance.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class PathNotFound(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(f"storage path not found: {path}")
        self.path = path


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    modified: float
    is_dir: bool


ChunkObserver = Callable[[bytes], None]


class StorageDriver(Protocol):
    async def stat(self, path: str) -> FileInfo:
        """Size and kind of `path`; PathNotFound if absent."""

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream `length` bytes (all, if None) from `offset`; PathNotFound if absent."""

    async def write(
        self, path: str, chunks: AsyncIterable[bytes], *, offset: int = 0, observe: ChunkObserver | None = None
    ) -> int:
        """Write the stream at `offset`, dropping anything beyond it first; return the new size.

        `observe` sees every byte written, in order (the upload hash), off the event loop where the driver
        can manage it. If the stream fails, the bytes already written stay and the error propagates.
        """

    async def move(self, source: str, destination: str) -> None:
        """Atomically put `source` at `destination` (replacing it), durably: after return it survives a crash."""

    async def delete(self, path: str) -> None:
        """Remove a file or a whole directory tree; PathNotFound if absent."""

    async def delete_many(self, paths: Sequence[str]) -> list[str]:
        """Remove every path, each a file or a whole directory tree, as `delete` would; return those that
        were already absent, in the order given (absence is no error: a retried sweep finds its earlier
        work done).

        Atomic per path, not per batch: if it raises, some paths may be gone and the others untouched, and
        calling it again finishes the work. The driver groups the calls to its backend as suits it (the
        filesystem: one worker thread per chunk of paths; S3: DeleteObjects, 1,000 keys a call), so a
        caller passes as many paths as it likes.
        """

    async def list(self, path: str) -> list[str]:
        """Direct children of a directory as full paths, sorted; PathNotFound if absent."""

    def local_path(self, path: str) -> Path | None:
        """A local filesystem path for sendfile or X-Accel-Redirect, or None if the driver has none."""

    async def download_url(self, path: str, expires_seconds: int) -> str | None:
        """A URL that answers GET (and ranges) with the file's bytes for `expires_seconds`, without
        credentials (S3: pre-signed), or None if the driver has none. For a file that `move` put in place
        or a single `write` made, as every blob at its digest path is."""
