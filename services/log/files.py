"""One file per program under the log directory, rotated by size with a retention count.

Writes go straight to the file descriptor, a batch of lines per call, so a message handed to the kernel
survives a crash of the collector; nothing waits in a user-space buffer. A failing disk (full, read-only,
gone) loses only the lines of the failed write: they are counted, reported, and the next write tries again.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger()

# Tags are free text from the network; past this many distinct programs, new ones share one file rather
# than exhausting file descriptors.
MAX_PROGRAMS = 256
OVERFLOW_PROGRAM = "other"


@dataclass
class FileStats:
    lines_written: int = 0
    lines_lost: int = 0
    write_errors: int = 0
    last_error: str = ""
    rotations: int = 0


@dataclass
class _OpenFile:
    fd: int
    size: int
    inode: int = field(default=0)


class LogFiles:
    def __init__(self, directory: str | os.PathLike[str], rotate_size: int, rotate_count: int) -> None:
        self.directory = Path(directory)
        self._rotate_size = rotate_size
        self._rotate_count = rotate_count
        self._open: dict[str, _OpenFile] = {}
        self.stats = FileStats()

    def path(self, program: str) -> Path:
        return self.directory / f"{program}.log"

    def write(self, program: str, lines: list[bytes]) -> None:
        """Append complete lines to the program's file, rotating whenever the next ones would overflow it."""
        if program not in self._open and len(self._open) >= MAX_PROGRAMS:
            program = OVERFLOW_PROGRAM
        start = 0
        try:
            current = self._open.get(program) or self._open_file(program)
            while start < len(lines):
                room = self._rotate_size - current.size
                end, size = start, 0
                # As many lines as fit; a line larger than a whole file still goes into an empty one.
                while end < len(lines) and (size + len(lines[end]) <= room or (end == start and current.size == 0)):
                    size += len(lines[end])
                    end += 1
                if end == start:
                    current = self._rotate(program)
                    continue
                self._write_all(current, b"".join(lines[start:end]))
                self.stats.lines_written += end - start
                start = end
        except OSError as exc:
            self._failed(program, exc, len(lines) - start)

    @staticmethod
    def _write_all(current: _OpenFile, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(current.fd, view)
            view = view[written:]
            current.size += written

    def close(self) -> None:
        for opened in self._open.values():
            try:
                os.fsync(opened.fd)
            except OSError:
                pass
            os.close(opened.fd)
        self._open.clear()

    def sync(self) -> None:
        for opened in self._open.values():
            try:
                os.fsync(opened.fd)
            except OSError:
                pass

    def _open_file(self, program: str) -> _OpenFile:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(program), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        st = os.fstat(fd)
        opened = _OpenFile(fd=fd, size=st.st_size, inode=st.st_ino)
        self._open[program] = opened
        return opened

    def _rotate(self, program: str) -> _OpenFile:
        """program.log → .1 → .2 … keeping `rotate_count` rotated files, as logrotate's `rotate N` does."""
        opened = self._open.pop(program)
        os.close(opened.fd)
        base = self.path(program)
        if self._rotate_count <= 0:
            base.unlink(missing_ok=True)
        else:
            Path(f"{base}.{self._rotate_count}").unlink(missing_ok=True)
            for n in range(self._rotate_count - 1, 0, -1):
                older = Path(f"{base}.{n}")
                if older.exists():
                    older.rename(f"{base}.{n + 1}")
            base.rename(f"{base}.1")
        self.stats.rotations += 1
        return self._open_file(program)

    def _failed(self, program: str, exc: OSError, lines: int) -> None:
        self.stats.lines_lost += lines
        self.stats.write_errors += 1
        self.stats.last_error = f"{self.path(program)}: {exc.strerror or exc}"
        # Drop the descriptor: after a full disk or a removed directory the next write reopens cleanly.
        opened = self._open.pop(program, None)
        if opened is not None:
            try:
                os.close(opened.fd)
            except OSError:
                pass
        if self.stats.write_errors == 1 or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            log.error("log_write_failed", program=program, error=self.stats.last_error, lines_lost=lines)
