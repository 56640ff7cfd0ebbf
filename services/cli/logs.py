"""`berth logs`: the log service's files, merged by time, and followed with -f.

The contract with the collector (services/log): in `log.local.location` each program has
`<program>.log`, rotated by size into `<program>.log.1` (newest) … `<program>.log.N` (oldest). A line
is one message, `<ts> <host> <program>[<pid>]: <text>\\n`, with ts `YYYY-MM-DDTHH:MM:SS.ffffffZ`:
fixed width, so comparing the first 27 bytes compares times.

The time is the sender's own when its message carried one, so a file is only nearly in time order.
A program's own order (its files oldest first, then line by line) is therefore kept exactly, and
only different programs are interleaved by time (heapq.merge over one stream per program).

Everything is bytes: lines are printed exactly as stored, with no decoding to fail or alter them.
Files are streamed forwards, or read backwards in blocks for --tail, never loaded whole.
"""

from __future__ import annotations

import argparse
import heapq
import os
import re
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from services.common.settings import SettingsError, load_settings

POLL_SECONDS = 0.2
READ_BUFFER = 1 << 20
BACKWARD_BLOCK = 64 << 10
OUTPUT_BUFFER = 1 << 20
# Lines without a timestamp sort with the nearest one before them; when reading backwards, give up
# looking for it after this many lines (a file that has none at all would otherwise be read whole).
TIMESTAMP_LOOKBACK = 1000
# Bytes remembered from just before the read position of a live file, to tell whether the file was
# truncated and rewritten (copytruncate) between two polls, and to recognise its copy.
TAIL_BYTES = 64
TIMESTAMP_LENGTH = 27
NEWLINE = 0x0A

# (sort key, line): the key is the line's timestamp, or the one it inherits; the line keeps its newline.
Entry = tuple[bytes, bytes]

_TIMESTAMP = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
# The collector never names a program with a leading dot (services/log/parse.py safe_program), so a
# leading dot is someone else's file (an editor's swap file, a hidden temporary one).
_FILE_NAME = re.compile(r"(?P<program>[^.].*)\.log(?:\.(?P<generation>[1-9][0-9]*))?")
_DURATION = re.compile(r"(?:[0-9]+[smhdw])+")
_DURATION_PART = re.compile(r"([0-9]+)([smhdw])")
_UNIT_SECONDS = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400})


class LogsError(Exception):
    """A condition the operator must fix; the message is one line naming the directory or program."""


# --- time ------------------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """'30s', '10m', '2h', '1d', '1w', or several at once ('1h30m'). Units are lower case only, so
    that '10M' is refused rather than silently read as minutes by someone who meant months."""
    compact = text.strip()
    if not _DURATION.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m, 2h or 1d")
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(compact))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any log") from None


def parse_since(text: str) -> timedelta | datetime:
    """A duration back from now, or a time in ISO 8601 (without an offset it is UTC, as the logs are)."""
    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{text!r} is neither a duration (30s, 10m, 2h, 1d) nor a time (2026-11-28T06:00:00Z)"
        ) from None


def since_moment(since: timedelta | datetime, now: datetime) -> datetime:
    if isinstance(since, datetime):
        return since
    try:
        return now - since
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def format_timestamp(moment: datetime) -> bytes:
    """The collector's form; isoformat, unlike strftime, pads years below 1000 to four digits."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:26].encode() + b"Z"


def line_timestamp(line: bytes) -> bytes | None:
    return line[:TIMESTAMP_LENGTH] if _TIMESTAMP.match(line) is not None else None


@dataclass(frozen=True)
class Cutoff:
    """--since, as the prefix lines are compared with and as a time file mtimes are compared with."""

    stamp: bytes
    epoch: float

    @classmethod
    def at(cls, moment: datetime) -> Cutoff:
        return cls(format_timestamp(moment), moment.timestamp())


class Stamper:
    """Gives each line its sort key: its own timestamp, or for a line without one the previous line's,
    so that it stays right after the line it followed. `previous` carries across files and polls."""

    def __init__(self, previous: bytes = b"") -> None:
        self.previous = previous

    def stamp(self, lines: Iterable[bytes]) -> Iterator[Entry]:
        for line in lines:
            stamp = line_timestamp(line)
            if stamp is None:
                stamp = self.previous
            else:
                self.previous = stamp
            yield stamp, line


def since_filter(entries: Iterable[Entry], cutoff: bytes) -> Iterator[Entry]:
    return (entry for entry in entries if entry[0] >= cutoff)


def merge(streams: list[Iterable[Entry]]) -> Iterator[Entry]:
    """Interleave the programs' streams by time; on equal times the earlier stream's line comes first,
    so the output is the same on every run."""
    if len(streams) == 1:
        return iter(streams[0])  # one program: nothing to interleave, skip the heap's cost per line
    return heapq.merge(*streams, key=itemgetter(0))


def last(entries: Iterable[Entry], count: int) -> list[Entry]:
    return list(deque(entries, maxlen=count)) if count > 0 else []


# --- files -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    program: str
    generation: int  # 0: the live file; 1: the newest rotated one; N: the oldest
    path: Path
    inode: int
    size: int
    mtime: float


def scan(directory: Path) -> dict[str, list[LogFile]]:
    """Every program's files, oldest first (…, .log.2, .log.1, .log). Raises OSError for the directory."""
    programs: dict[str, list[LogFile]] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            match = _FILE_NAME.fullmatch(entry.name)
            if match is None:
                continue
            try:
                info = entry.stat()
            except FileNotFoundError:  # rotated or removed between the listing and now
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            program = match["program"]
            generation = int(match["generation"] or 0)
            found = LogFile(program, generation, Path(entry.path), info.st_ino, info.st_size, info.st_mtime)
            programs.setdefault(program, []).append(found)
    for files in programs.values():
        files.sort(key=lambda f: f.generation, reverse=True)
    return programs


def program_files(directory: Path, program: str) -> list[LogFile]:
    try:
        return scan(directory).get(program, [])
    except FileNotFoundError:  # the directory itself went away while following; it may come back
        return []


@dataclass
class OpenFile:
    """A file held by descriptor, so that a rename (rotation) cannot make us read a different one."""

    fd: int
    inode: int
    offset: int = 0
    tail: bytes = b""  # up to TAIL_BYTES read just before `offset`

    @classmethod
    def open(cls, path: Path) -> OpenFile | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        return cls(fd, os.fstat(fd).st_ino)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def lines(self, *, hold_partial: bool = True) -> Iterator[bytes]:
        """Lines from `offset` to the end, advancing `offset` past each one as it is taken. A last line
        without its newline is still being written: held back (not consumed) unless `hold_partial` is
        off, for a file nobody writes any more, where it is given the newline it will never get."""
        with open(self.fd, "rb", buffering=READ_BUFFER, closefd=False) as stream:
            stream.seek(self.offset)
            for line in stream:
                if line[-1] != NEWLINE:
                    if not hold_partial:
                        self.offset += len(line)
                        yield line + b"\n"
                    break
                self.offset += len(line)
                yield line
        self.seek(self.offset)

    def seek(self, offset: int) -> None:
        keep = min(offset, TAIL_BYTES)
        self.offset = offset
        self.tail = os.pread(self.fd, keep, offset - keep)

    def rewritten(self) -> bool:
        """Whether the bytes before `offset` changed: truncated and written again since the last read."""
        return bool(self.tail) and os.pread(self.fd, len(self.tail), self.offset - len(self.tail)) != self.tail

    def close(self) -> None:
        os.close(self.fd)


def open_rotated(directory: Path, file: LogFile) -> OpenFile | None:
    """Open a rotated file by identity: if a rotation renamed it since it was listed, find it by inode.
    None when it is gone (retention removed it): there is nothing left to print of it."""
    opened = OpenFile.open(file.path)
    if opened is not None and opened.inode == file.inode:
        return opened
    if opened is not None:
        opened.close()
    for candidate in program_files(directory, file.program):
        if candidate.inode == file.inode:
            opened = OpenFile.open(candidate.path)
            if opened is not None and opened.inode == file.inode:
                return opened
            if opened is not None:
                opened.close()
    return None


def rotated_lines(directory: Path, file: LogFile) -> Iterator[bytes]:
    opened = open_rotated(directory, file)
    if opened is None:
        return
    try:
        yield from opened.lines(hold_partial=False)
    finally:
        opened.close()


def lines_backward(fd: int, end: int, block_size: int = BACKWARD_BLOCK) -> Iterator[bytes]:
    """The lines before byte `end`, newest first, each with its newline; the first one yielded lacks it
    when the data ends inside a line. Reads blocks from the end: the cost is what is taken, not the size."""
    rest = b""  # the start of the newest line not yet yielded: it began in a block not yet read
    final = True  # whether `rest` belongs to the last line of the data (no newline after it)
    position = end
    while position > 0:
        start = max(0, position - block_size)
        block = os.pread(fd, position - start, start)
        if len(block) < position - start:  # truncated under us: what is left is not the file we measured
            return
        position = start
        pieces = block.split(b"\n")
        pieces[-1] += rest
        for index in range(len(pieces) - 1, 0, -1):
            if final:
                final = False
                if pieces[index]:
                    yield pieces[index]
            else:
                yield pieces[index] + b"\n"
        rest = pieces[0]
    if final:
        if rest:
            yield rest
    else:
        yield rest + b"\n"


def lines_before(fd: int, end: int, *, hold_partial: bool) -> tuple[int, Iterator[bytes]]:
    """`lines_backward` without the partial last line (and the offset where complete lines end), or
    with it completed by a newline for a file nobody writes any more."""
    lines = lines_backward(fd, end)
    first = next(lines, None)
    if first is None:
        return end, lines
    if first[-1] != NEWLINE:
        if hold_partial:
            return end - len(first), lines
        first += b"\n"
    return end, chain((first,), lines)


def last_timestamp(fd: int, end: int) -> bytes | None:
    for count, line in enumerate(lines_backward(fd, end)):
        stamp = line_timestamp(line)
        if stamp is not None:
            return stamp
        if count >= TIMESTAMP_LOOKBACK:
            break
    return None


def before_cutoff(mtime: float, last_stamp: Callable[[], bytes | None], cutoff: Cutoff) -> bool:
    """Whether a whole file is older than the cutoff, so that it can be skipped unread.

    Its mtime is the first hint, and costs nothing: a file last written before the cutoff holds nothing
    newer (senders whose clocks run ahead of ours aside). Otherwise its last line decides: a file copied
    or touched has a new mtime but old lines. A file whose last lines carry no timestamp is read."""
    if mtime < cutoff.epoch:
        return True
    stamp = last_stamp()
    return stamp is not None and stamp < cutoff.stamp


def rotated_before_cutoff(directory: Path, file: LogFile, cutoff: Cutoff) -> bool:
    def last_stamp() -> bytes | None:
        opened = open_rotated(directory, file)
        if opened is None:
            return b""  # removed since it was listed: nothing of it to print
        try:
            return last_timestamp(opened.fd, opened.size())
        finally:
            opened.close()

    return before_cutoff(file.mtime, last_stamp, cutoff)


@dataclass
class _Retired:
    file: OpenFile
    size: int  # when last looked at; a poll that finds it unchanged closes it


class Cursor:
    """One program's live file (<program>.log): how far it has been read, and what -f continues from."""

    def __init__(self, directory: Path, program: str, live: OpenFile | None) -> None:
        self.directory = directory
        self.program = program
        self.path = directory / f"{program}.log"
        self.live = live
        self.stamper = Stamper()
        # Files rotated away, still watched for one more poll in case their writer was mid-line.
        self._retired: list[_Retired] = []

    @classmethod
    def open(cls, directory: Path, program: str) -> Cursor:
        return cls(directory, program, OpenFile.open(directory / f"{program}.log"))

    def poll(self) -> Iterator[bytes]:
        """Lines completed since the last read, in the program's order: the rest of files rotated away,
        the files rotated in between (when several rotations fell between two polls), then the live file.
        A generator, so that a burst (or a whole rotated file) streams rather than sits in memory."""
        yield from self._drain_retired()
        live = self.live
        if live is None:
            self.live = OpenFile.open(self.path)
            if self.live is not None:
                yield from self.live.lines()
            return
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != live.inode:
            # Rotated: renamed to .1 (or removed, with rotate_count 0). Its rest comes first; the new live
            # file is opened before listing the rotated ones, so that a rotation in between shows as an
            # inode we hold rather than as a file nobody reads.
            yield from live.lines()
            self._retired.append(_Retired(live, live.size()))
            self.live = OpenFile.open(self.path)
            yield from self._rotated_after(live, exclude=None if self.live is None else self.live.inode)
            if self.live is not None:
                yield from self.live.lines()
        elif current.st_size < live.offset or (current.st_size > live.offset and live.rewritten()):
            # Truncated in place (logrotate's copytruncate): what we had not read yet is in the copy.
            yield from self._copied_remainder(live)
            live.seek(0)
            yield from live.lines()
        elif current.st_size > live.offset:
            yield from live.lines()

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None
        for retired in self._retired:
            retired.file.close()
        self._retired.clear()

    def _drain_retired(self) -> Iterator[bytes]:
        for retired in list(self._retired):
            size = retired.file.size()
            if size != retired.size:
                retired.size = size
                yield from retired.file.lines()
                continue
            # Quiet for a whole poll: nothing more is coming, and a last line without its newline never
            # will get one. Print it (completed) rather than lose it.
            yield from retired.file.lines(hold_partial=False)
            retired.file.close()
            self._retired.remove(retired)

    def _rotated_after(self, old: OpenFile, *, exclude: int | None) -> Iterator[bytes]:
        rotated = [f for f in program_files(self.directory, self.program) if f.generation > 0]
        position = next((i for i, f in enumerate(rotated) if f.inode == old.inode), None)
        if position is None:
            # The old file is gone (removed at rotation): rotated files written after it are the new ones.
            modified = os.fstat(old.fd).st_mtime
            newer = [f for f in rotated if f.mtime >= modified]
        else:
            newer = rotated[position + 1 :]
        for file in newer:
            if file.inode != exclude:
                yield from rotated_lines(self.directory, file)

    def _copied_remainder(self, live: OpenFile) -> Iterator[bytes]:
        copy = OpenFile.open(self.directory / f"{self.program}.log.1")
        if copy is None:
            return
        try:
            start = live.offset - len(live.tail)
            if start < 0 or os.pread(copy.fd, len(live.tail), start) != live.tail:
                return  # not a copy of what we read: the rest is lost, and we cannot pretend otherwise
            copy.offset = live.offset
            yield from copy.lines(hold_partial=False)
        finally:
            copy.close()


# --- one program's history -------------------------------------------------------------------------


def skip_older(directory: Path, rotated: list[LogFile], cutoff: Cutoff) -> list[LogFile]:
    """Drop the leading rotated files that are all older than the cutoff. Lines of the files kept that
    have no timestamp before them sort first, and are dropped with the old lines: what they continued
    was older than the cutoff too."""
    for index, file in enumerate(rotated):
        if not rotated_before_cutoff(directory, file, cutoff):
            return rotated[index:]
    return []


def program_history(cursor: Cursor, rotated: list[LogFile], cutoff: Cutoff | None) -> Iterator[Entry]:
    """Everything of one program in its order: rotated files oldest first, then the live file."""
    if cutoff is not None:
        rotated = skip_older(cursor.directory, rotated, cutoff)
    sources: list[Iterable[bytes]] = [rotated_lines(cursor.directory, file) for file in rotated]
    live = cursor.live
    if live is not None:
        if cutoff is not None and not rotated and live_before_cutoff(live, cutoff):
            # All old: only the place -f would continue from is needed.
            end, _ = lines_before(live.fd, live.size(), hold_partial=True)
            live.seek(end)
        else:
            sources.append(live.lines())
    entries = cursor.stamper.stamp(chain.from_iterable(sources))
    return entries if cutoff is None else since_filter(entries, cutoff.stamp)


def live_before_cutoff(live: OpenFile, cutoff: Cutoff) -> bool:
    return before_cutoff(os.fstat(live.fd).st_mtime, lambda: last_timestamp(live.fd, live.size()), cutoff)


def program_tail(cursor: Cursor, rotated: list[LogFile], count: int, cutoff: Cutoff | None) -> list[Entry]:
    """The program's last `count` lines (at or after the cutoff), read backwards from its newest file."""
    newest_first: list[Iterable[bytes]] = []
    live = cursor.live
    if live is not None:
        end, live_lines = lines_before(live.fd, live.size(), hold_partial=True)
        live.seek(end)  # where -f continues, whatever is printed
        if count == 0:
            return []
        if cutoff is None or not live_before_cutoff(live, cutoff):
            newest_first.append(live_lines)
    if count == 0:
        return []
    newest_first.append(_rotated_backward(cursor.directory, rotated, cutoff))
    picked: list[Entry] = []  # newest first
    waiting: list[bytes] = []  # lines without a timestamp, newest first, until the one they sort with
    latest_seen = False
    for line in chain.from_iterable(newest_first):
        stamp = line_timestamp(line)
        if stamp is None:
            waiting.append(line)
            if len(waiting) > count + TIMESTAMP_LOOKBACK:
                break
            continue
        if not latest_seen:
            latest_seen = True
            cursor.stamper.previous = stamp  # what a line -f finds without a timestamp will sort with
        if cutoff is None or stamp >= cutoff.stamp:
            picked.extend((stamp, waiting_line) for waiting_line in waiting)
            picked.append((stamp, line))
        waiting.clear()
        if len(picked) >= count:
            break
    if cutoff is None:
        # Lines with no timestamp before them sort first, as they do when reading forwards.
        picked.extend((b"", waiting_line) for waiting_line in waiting)
    del picked[count:]
    picked.reverse()
    return picked


def _rotated_backward(directory: Path, rotated: list[LogFile], cutoff: Cutoff | None) -> Iterator[bytes]:
    for file in reversed(rotated):
        if cutoff is not None and rotated_before_cutoff(directory, file, cutoff):
            return  # this one and every older one are before the cutoff
        opened = open_rotated(directory, file)
        if opened is None:
            continue
        try:
            _, lines = lines_before(opened.fd, opened.size(), hold_partial=False)
            yield from lines
        finally:
            opened.close()


# --- a whole run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    directory: Path
    origin: str  # where the directory came from, for the message when it is missing
    service: str | None = None
    since: datetime | None = None
    tail: int | None = None


class Logs:
    """One `berth logs` run: the history first, then (for -f) what each poll finds new."""

    def __init__(self, query: Query) -> None:
        self.query = query
        self.cutoff = None if query.since is None else Cutoff.at(query.since)
        self.cursors: dict[str, Cursor] = {}

    def history(self) -> Iterator[Entry]:
        """What the files hold now, merged by time and cut by --since and --tail. Opens the live files
        first, so that -f continues exactly where this ends."""
        programs = sorted(self._programs())
        service = self.query.service
        if service is not None:
            if service not in programs:
                known = ", ".join(programs) or "none yet"
                raise LogsError(f"no logs for {service!r} in {self.query.directory}; programs with logs: {known}")
            programs = [service]
        opened = self._open(programs)
        if self.query.tail is None:
            return merge([program_history(cursor, rotated, self.cutoff) for cursor, rotated in opened])
        count = self.query.tail
        tails: list[Iterable[Entry]] = [program_tail(c, rotated, count, self.cutoff) for c, rotated in opened]
        return iter(last(merge(tails), count))

    def poll(self) -> Iterator[Entry]:
        """Lines completed since the history or the previous poll, merged by time within this batch;
        programs whose first file appeared meanwhile are read from their beginning."""
        streams: list[Iterable[Entry]] = [c.stamper.stamp(c.poll()) for c in self.cursors.values()]
        if self.query.service is None:
            names: Iterable[str]
            try:
                names = scan(self.query.directory).keys()
            except FileNotFoundError:
                names = ()
            new = sorted(name for name in names if name not in self.cursors)
            streams.extend(program_history(cursor, rotated, None) for cursor, rotated in self._open(new))
        entries = merge(streams)
        return entries if self.cutoff is None else since_filter(entries, self.cutoff.stamp)

    def close(self) -> None:
        for cursor in self.cursors.values():
            cursor.close()

    def _programs(self) -> set[str]:
        directory, origin = self.query.directory, self.query.origin
        try:
            return set(scan(directory))
        except FileNotFoundError:
            raise LogsError(f"log directory {directory} does not exist ({origin})") from None
        except NotADirectoryError:
            raise LogsError(f"log directory {directory} is not a directory ({origin})") from None
        except OSError as exc:
            raise LogsError(f"cannot read log directory {directory}: {exc.strerror} ({origin})") from None

    def _open(self, programs: list[str]) -> list[tuple[Cursor, list[LogFile]]]:
        # Live files before the listing: a rotation in between then lists the file we hold among the
        # rotated ones (left to the cursor) instead of losing it between two names.
        cursors = [Cursor.open(self.query.directory, program) for program in programs]
        try:
            listing = scan(self.query.directory)
        except FileNotFoundError:
            listing = {}
        opened = []
        for cursor in cursors:
            self.cursors[cursor.program] = cursor
            held = None if cursor.live is None else cursor.live.inode
            rotated = [f for f in listing.get(cursor.program, []) if f.generation > 0 and f.inode != held]
            opened.append((cursor, rotated))
        return opened


def write_entries(entries: Iterable[Entry], out: BinaryIO) -> int:
    written = 0
    write = out.write
    for _, line in entries:
        write(line)
        written += 1
    return written


def show_logs(query: Query, out: BinaryIO, *, follow: bool, sleep: Callable[[float], None] = time.sleep) -> None:
    logs = Logs(query)
    try:
        write_entries(logs.history(), out)
        out.flush()
        while follow:
            # Polling: simple, portable, and a fifth of a second is prompt enough for a person reading.
            sleep(POLL_SECONDS)
            if write_entries(logs.poll(), out):
                out.flush()
    finally:
        logs.close()


# --- command line ----------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "logs",
        help="print the services' logs, merged by time",
        description="Print the log service's files (log.local.location of berth.yml), all programs "
        "merged by time, rotated files included.",
    )
    parser.add_argument(
        "service",
        nargs="?",
        metavar="SERVICE",
        help="one program (registry, core, token, proxy, log, …); all when absent",
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines, across rotations and new programs"
    )
    parser.add_argument(
        "--since",
        type=_since_argument,
        metavar="DURATION_OR_TIME",
        help="only lines from this long ago (30s, 10m, 2h, 1d) or from this time (2026-11-28T06:00:00Z)",
    )
    parser.add_argument("-n", "--tail", type=_count_argument, metavar="N", help="only the last N lines")
    parser.add_argument(
        "--config", metavar="PATH", help="berth.yml (default: $BERTH_CONFIG, ./berth.yml, /etc/berth/berth.yml)"
    )
    parser.add_argument("--dir", metavar="DIR", help="read this directory instead of berth.yml's log.local.location")
    parser.set_defaults(run=run)


def _since_argument(text: str) -> timedelta | datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count_argument(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines")
    return int(text)


def log_directory(directory: str | None, config: str | None) -> tuple[Path, str]:
    """The directory to read and, for messages, where that came from. --dir needs no berth.yml at all."""
    if directory is not None:
        return Path(directory), "given by --dir; the log service writes to berth.yml's log.local.location"
    settings = load_settings(config)
    if settings.source == "<defaults>":
        return Path(settings.log.local.location), "log.local.location's default: no berth.yml found"
    return Path(settings.log.local.location), f"log.local.location in {settings.source}"


def run(args: argparse.Namespace) -> int:
    try:
        directory, origin = log_directory(args.dir, args.config)
    except SettingsError as exc:
        print(f"berth logs: {exc}", file=sys.stderr)
        return 2
    since = None if args.since is None else since_moment(args.since, datetime.now(UTC))
    query = Query(directory, origin, args.service, since, args.tail)
    sys.stdout.flush()
    try:
        # Our own writer on fd 1: a large buffer for bulk output, and bytes exactly as stored.
        with open(sys.stdout.fileno(), "wb", buffering=OUTPUT_BUFFER, closefd=False) as out:
            show_logs(query, out, follow=args.follow)
    except LogsError as exc:
        print(f"berth logs: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how -f ends
    except BrokenPipeError:
        raise  # main's: the reader went away
    except OSError as exc:
        print(f"berth logs: cannot read {exc.filename or directory}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
