"""services.cli.logs: time parsing, merging by time, --since, --tail, partial lines, and following
rotations, on files in a temporary directory (no processes: the command itself is in tests/integration)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.cli.logs import (
    Cutoff,
    Logs,
    LogsError,
    Query,
    Stamper,
    format_timestamp,
    last,
    line_timestamp,
    lines_backward,
    merge,
    parse_duration,
    parse_since,
    scan,
    since_moment,
)

BASE = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)


def ts(second: float) -> str:
    return format_timestamp(BASE + timedelta(seconds=second)).decode()


def line(second: float, program: str, text: str) -> bytes:
    return f"{ts(second)} berth-1 {program}[7]: {text}\n".encode()


def write(path: Path, *lines: bytes) -> None:
    path.write_bytes(b"".join(lines))


def append(path: Path, *lines: bytes) -> None:
    with path.open("ab") as f:
        f.write(b"".join(lines))


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


@pytest.fixture
def logs_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "log"
    directory.mkdir()
    return directory


@pytest.fixture
def opened() -> Iterator[list[Logs]]:
    """Close every run's files at the end of the test."""
    runs: list[Logs] = []
    yield runs
    for run in runs:
        run.close()


def start(
    opened: list[Logs],
    directory: Path,
    *,
    service: str | None = None,
    since: datetime | None = None,
    tail: int | None = None,
) -> tuple[Logs, bytes]:
    run = Logs(Query(directory, "test", service, since, tail))
    opened.append(run)
    return run, b"".join(line for _, line in run.history())


def poll(run: Logs) -> bytes:
    return b"".join(line for _, line in run.poll())


# --- time --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800), ("1h30m", 5400), (" 0s ", 0)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "m", "-1s", "1.5h", "10M", "1 h", "h1", "99999999999999d"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T06:00:00Z", datetime(2026, 11, 28, 6, 0, tzinfo=UTC)),
        ("2026-11-28T06:00:00+01:00", datetime(2026, 11, 28, 5, 0, tzinfo=UTC)),
        ("2026-11-28T06:00:00.250000-02:30", datetime(2026, 11, 28, 8, 30, 0, 250000, tzinfo=UTC)),
        ("2026-11-28T06:00:00", datetime(2026, 11, 28, 6, 0, tzinfo=UTC)),  # no offset: UTC, as the logs
        ("2026-11-28", datetime(2026, 11, 28, tzinfo=UTC)),
    ],
)
def test_since_times(text: str, expected: datetime) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "06:00", "0001-01-01T00:00:00+01:00"])
def test_since_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since(text)


def test_since_duration_counts_back_from_now() -> None:
    assert since_moment(parse_since("90m"), BASE) == BASE - timedelta(minutes=90)
    assert since_moment(parse_since("2026-11-28T05:00:00Z"), BASE) == datetime(2026, 11, 28, 5, tzinfo=UTC)
    assert since_moment(timedelta(days=999_999_999), BASE) == datetime.min.replace(tzinfo=UTC)


def test_cutoff_compares_like_the_lines() -> None:
    moment = parse_since("2026-11-28T07:00:01.5+01:00")
    assert isinstance(moment, datetime)
    cutoff = Cutoff.at(moment)
    assert cutoff.stamp == b"2026-11-28T06:00:01.500000Z"
    assert line(1, "p", "x") < cutoff.stamp < line(2, "p", "x")
    assert cutoff.epoch == (BASE + timedelta(seconds=1.5)).timestamp()


@pytest.mark.parametrize(
    ("raw", "stamp"),
    [
        (b"2026-11-28T06:00:00.000001Z host prog[1]: x\n", b"2026-11-28T06:00:00.000001Z"),
        (b"2026-11-28T06:00:00.000001Z\n", b"2026-11-28T06:00:00.000001Z"),
        (b"2026-11-28T06:00:00.0001Z host prog: short fraction\n", None),
        (b"2026-11-28 06:00:00.000001Z host prog: space\n", None),
        (b"  at frame 3\n", None),
        (b"\n", None),
    ],
)
def test_line_timestamp(raw: bytes, stamp: bytes | None) -> None:
    assert line_timestamp(raw) == stamp


# --- merging -----------------------------------------------------------------------------------------


def test_lines_without_timestamp_sort_with_the_line_before() -> None:
    stamper = Stamper()
    lines = [b"orphan\n", line(1, "p", "a"), b"continued\n", line(2, "p", "b")]
    assert [stamp for stamp, _ in stamper.stamp(lines)] == [b"", ts(1).encode(), ts(1).encode(), ts(2).encode()]
    assert stamper.previous == ts(2).encode()
    # It carries over to the next batch (the next file, the next poll).
    assert list(stamper.stamp([b"more\n"])) == [(ts(2).encode(), b"more\n")]


def test_merge_interleaves_programs_by_time_and_breaks_ties_by_stream_order() -> None:
    core = list(Stamper().stamp([line(1, "core", "c1"), line(3, "core", "c3"), line(3, "core", "c3b")]))
    registry = list(Stamper().stamp([line(0, "registry", "r0"), line(3, "registry", "r3"), b"r3 cont\n"]))
    merged = [raw for _, raw in merge([core, registry])]
    assert merged == [
        line(0, "registry", "r0"),
        line(1, "core", "c1"),
        line(3, "core", "c3"),
        line(3, "core", "c3b"),
        line(3, "registry", "r3"),
        b"r3 cont\n",
    ]


def test_last() -> None:
    entries = [(b"", bytes([n])) for n in range(5)]
    assert last(entries, 2) == entries[3:]
    assert last(entries, 0) == []
    assert last(entries, 9) == entries


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"\n\n",
        b"one\n",
        b"one",
        b"one\ntwo\nthree\n",
        b"one\ntwo\nthree",
        b"\nstarts empty\n\nand has gaps\n",
        b"a very long line " * 40 + b"\nshort\n",
    ],
)
@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 64 << 10])
def test_lines_backward_is_forward_reversed(tmp_path: Path, data: bytes, block_size: int) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        backward = list(lines_backward(fd, len(data), block_size))
    finally:
        os.close(fd)
    assert b"".join(reversed(backward)) == data
    assert all(piece.endswith(b"\n") for piece in backward[1:])
    assert backward == list(reversed(data.splitlines(keepends=True)))


# --- reading the directory ---------------------------------------------------------------------------


def test_file_names(logs_dir: Path) -> None:
    for name in [
        "registry.log",
        "registry.log.1",
        "registry.log.12",
        "core.log.3",
        "registry.log.log",  # a program called "registry.log"
        ".registry.log.swp",
        ".hidden.log",
        "registry.log.0",
        "registry.log.1.gz",
        "registry.txt",
    ]:
        (logs_dir / name).write_bytes(b"")
    (logs_dir / "dir.log").mkdir()
    found = {program: [f.generation for f in files] for program, files in scan(logs_dir).items()}
    assert found == {"registry": [12, 1, 0], "core": [3], "registry.log": [0]}


def test_merges_programs_and_their_rotated_files(logs_dir: Path, opened: list[Logs]) -> None:
    write(logs_dir / "registry.log.2", line(0, "registry", "r0"), line(2, "registry", "r2"))
    write(logs_dir / "registry.log.1", line(4, "registry", "r4"), line(6, "registry", "r6"))
    write(logs_dir / "registry.log", line(8, "registry", "r8"))
    write(logs_dir / "core.log.1", line(1, "core", "c1"), line(3, "core", "c3"), line(5, "core", "c5"))
    write(logs_dir / "core.log", line(7, "core", "c7"), line(9, "core", "c9"))
    _, out = start(opened, logs_dir)
    assert out == b"".join(line(n, "core", f"c{n}") if n % 2 else line(n, "registry", f"r{n}") for n in range(10))
    _, only_core = start(opened, logs_dir, service="core")
    assert only_core == b"".join(line(n, "core", f"c{n}") for n in (1, 3, 5, 7, 9))


def test_a_program_keeps_its_own_order_even_when_senders_clocks_disagree(logs_dir: Path, opened: list[Logs]) -> None:
    # The collector keeps a sender's own timestamp, so a file can go back in time; the file order wins.
    write(logs_dir / "jobservice.log.1", line(5, "jobservice", "j5"))
    write(logs_dir / "jobservice.log", line(3, "jobservice", "j3"), line(6, "jobservice", "j6"))
    _, out = start(opened, logs_dir)
    assert out == line(5, "jobservice", "j5") + line(3, "jobservice", "j3") + line(6, "jobservice", "j6")


def test_lines_without_timestamp_keep_their_place(logs_dir: Path, opened: list[Logs]) -> None:
    write(logs_dir / "core.log.1", b"orphan at the start\n", line(2, "core", "c2"))
    write(logs_dir / "core.log", b"continues c2 from the rotated file\n", line(5, "core", "c5"), b"continues c5\n")
    write(logs_dir / "registry.log", line(1, "registry", "r1"), line(3, "registry", "r3"), line(6, "registry", "r6"))
    _, out = start(opened, logs_dir)
    assert out == b"".join(
        [
            b"orphan at the start\n",
            line(1, "registry", "r1"),
            line(2, "core", "c2"),
            b"continues c2 from the rotated file\n",
            line(3, "registry", "r3"),
            line(5, "core", "c5"),
            b"continues c5\n",
            line(6, "registry", "r6"),
        ]
    )


def test_partial_last_line_waits_in_the_live_file_only(logs_dir: Path, opened: list[Logs]) -> None:
    # In a rotated file nobody will finish it: printed, with the newline it would never get.
    write(logs_dir / "nginx.log.1", line(1, "nginx", "n1"), line(2, "nginx", "cut off")[:-1])
    write(logs_dir / "nginx.log", line(3, "nginx", "n3"), line(4, "nginx", "being written")[:-10])
    _, out = start(opened, logs_dir)
    assert out == line(1, "nginx", "n1") + line(2, "nginx", "cut off") + line(3, "nginx", "n3")
    _, tail = start(opened, logs_dir, tail=1)
    assert tail == line(3, "nginx", "n3")


def test_since_drops_older_lines(logs_dir: Path, opened: list[Logs]) -> None:
    write(logs_dir / "core.log.1", line(1, "core", "c1"), line(3, "core", "c3"))
    write(logs_dir / "core.log", line(4, "core", "c4"), b"continues c4\n", line(6, "core", "c6"))
    write(logs_dir / "registry.log", line(2, "registry", "r2"), line(5, "registry", "r5"))
    _, out = start(opened, logs_dir, since=BASE + timedelta(seconds=3.5))
    assert out == line(4, "core", "c4") + b"continues c4\n" + line(5, "registry", "r5") + line(6, "core", "c6")
    _, exact = start(opened, logs_dir, since=BASE + timedelta(seconds=5))
    assert exact == line(5, "registry", "r5") + line(6, "core", "c6")


def test_since_skips_whole_rotated_files_by_mtime_or_last_line(logs_dir: Path, opened: list[Logs]) -> None:
    since = BASE + timedelta(seconds=10)
    # Last written before the cutoff: skipped unread, so even its line from a sender whose clock runs
    # ahead is not shown (reading it line by line would have kept that one).
    write(logs_dir / "core.log.3", line(1, "core", "c1"), line(50, "core", "clock ahead"), line(2, "core", "c2"))
    set_mtime(logs_dir / "core.log.3", BASE + timedelta(seconds=3))
    # Written after the cutoff (copied, say) but its last line is older: skipped too.
    write(logs_dir / "core.log.2", line(3, "core", "c3"), line(51, "core", "clock ahead"), line(4, "core", "c4"))
    # The first file whose last line is newer is read line by line, and so is every file after it.
    write(logs_dir / "core.log.1", line(5, "core", "c5"), line(11, "core", "c11"))
    write(logs_dir / "core.log", line(6, "core", "c6 late sender"), line(12, "core", "c12"))
    _, out = start(opened, logs_dir, since=since)
    assert out == line(11, "core", "c11") + line(12, "core", "c12")
    _, tail = start(opened, logs_dir, since=since, tail=5)
    assert tail == out


def test_since_past_everything_prints_nothing_and_follows_from_the_end(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(logs_dir / "core.log.1", line(1, "core", "c1"))
    write(live, line(2, "core", "c2"), b"continues\n", line(3, "core", "c3")[:-4])
    for path in (logs_dir / "core.log.1", live):
        set_mtime(path, BASE + timedelta(seconds=4))
    run, out = start(opened, logs_dir, since=BASE + timedelta(seconds=60))
    assert out == b""
    append(live, b"c3\n", line(61, "core", "c61"))
    assert poll(run) == line(61, "core", "c61")  # the completed c3 is old; the new line is not


def make_history(directory: Path) -> list[bytes]:
    """Three programs, rotated files, lines without timestamps; returns the expected merged output."""
    write(directory / "registry.log.2", line(0, "registry", "r0"), b"r0 more\n", line(3, "registry", "r3"))
    write(directory / "registry.log.1", line(6, "registry", "r6"), line(9, "registry", "r9"))
    write(directory / "registry.log", line(12, "registry", "r12"), b"r12 more\n", line(15, "registry", "r15"))
    write(directory / "core.log.1", line(1, "core", "c1"), line(4, "core", "c4"))
    write(directory / "core.log", line(7, "core", "c7"), line(10, "core", "c10"), b"c10 more\n")
    write(directory / "nginx.log", b"nginx preamble\n", line(2, "nginx", "n2"), line(14, "nginx", "n14"))
    order = [
        b"nginx preamble\n",
        line(0, "registry", "r0"),
        b"r0 more\n",
        line(1, "core", "c1"),
        line(2, "nginx", "n2"),
        line(3, "registry", "r3"),
        line(4, "core", "c4"),
        line(6, "registry", "r6"),
        line(7, "core", "c7"),
        line(9, "registry", "r9"),
        line(10, "core", "c10"),
        b"c10 more\n",
        line(12, "registry", "r12"),
        b"r12 more\n",
        line(14, "nginx", "n14"),
        line(15, "registry", "r15"),
    ]
    return order


def test_history_in_order(logs_dir: Path, opened: list[Logs]) -> None:
    expected = make_history(logs_dir)
    _, out = start(opened, logs_dir)
    assert out == b"".join(expected)


@pytest.mark.parametrize("count", range(18))
def test_tail_is_the_end_of_the_history(logs_dir: Path, opened: list[Logs], count: int) -> None:
    expected = make_history(logs_dir)
    _, out = start(opened, logs_dir, tail=count)
    assert out == b"".join(expected[max(0, len(expected) - count) :] if count else [])


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 8, 20])
@pytest.mark.parametrize("second", [-1, 3, 5, 9.5, 12, 14.5, 16])
def test_tail_with_since_is_the_end_of_the_history_since(
    logs_dir: Path, opened: list[Logs], count: int, second: float
) -> None:
    make_history(logs_dir)
    since = BASE + timedelta(seconds=second)
    _, everything_since = start(opened, logs_dir, since=since)
    expected = everything_since.splitlines(keepends=True)
    _, out = start(opened, logs_dir, since=since, tail=count)
    assert out == b"".join(expected[max(0, len(expected) - count) :] if count else [])


def test_tail_of_a_large_file_reads_only_its_end(logs_dir: Path, opened: list[Logs]) -> None:
    big = logs_dir / "registry.log"
    with big.open("wb") as f:
        for n in range(200_000):
            f.write(line(n / 1000, "registry", f"request {n}"))
    _, out = start(opened, logs_dir, tail=2)
    assert out == line(199.998, "registry", "request 199998") + line(199.999, "registry", "request 199999")


def test_unknown_service_lists_the_programs(logs_dir: Path, opened: list[Logs]) -> None:
    write(logs_dir / "registry.log", line(1, "registry", "r1"))
    write(logs_dir / "core.log.1", line(1, "core", "c1"))
    with pytest.raises(LogsError, match=r"no logs for 'token' in .*; programs with logs: core, registry$"):
        start(opened, logs_dir, service="token")


def test_missing_directory(tmp_path: Path, opened: list[Logs]) -> None:
    run = Logs(Query(tmp_path / "absent", "log.local.location in /etc/berth/berth.yml"))
    opened.append(run)
    with pytest.raises(LogsError) as caught:
        run.history()
    assert str(caught.value) == (
        f"log directory {tmp_path / 'absent'} does not exist (log.local.location in /etc/berth/berth.yml)"
    )


# --- following ---------------------------------------------------------------------------------------


def test_follow_appended_lines_and_a_partial_one(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "registry.log"
    write(live, line(1, "registry", "r1"))
    run, out = start(opened, logs_dir)
    assert out == line(1, "registry", "r1")
    assert poll(run) == b""
    append(live, line(2, "registry", "r2"), line(3, "registry", "r3")[:20])
    assert poll(run) == line(2, "registry", "r2")
    assert poll(run) == b""  # still being written
    append(live, line(3, "registry", "r3")[20:], b"no timestamp\n")
    assert poll(run) == line(3, "registry", "r3") + b"no timestamp\n"


def test_follow_merges_each_batch_by_time(logs_dir: Path, opened: list[Logs]) -> None:
    write(logs_dir / "registry.log", line(1, "registry", "r1"))
    write(logs_dir / "core.log", line(1, "core", "c1"))
    run, _ = start(opened, logs_dir)
    append(logs_dir / "registry.log", line(2, "registry", "r2"), line(4, "registry", "r4"))
    append(logs_dir / "core.log", line(3, "core", "c3"))
    assert poll(run) == line(2, "registry", "r2") + line(3, "core", "c3") + line(4, "registry", "r4")


def rotate(directory: Path, program: str, *, keep: int = 5) -> None:
    """What services/log/files.py does: .N-1 → .N … .1 → .2, live → .1, then a new live file."""
    base = directory / f"{program}.log"
    Path(f"{base}.{keep}").unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        if Path(f"{base}.{n}").exists():
            Path(f"{base}.{n}").rename(f"{base}.{n + 1}")
    base.rename(f"{base}.1")
    base.touch()


def test_follow_rotation_reads_the_rest_of_the_old_file_first(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"))
    run, _ = start(opened, logs_dir)
    append(live, line(2, "core", "c2 written just before the rotation"))
    rotate(logs_dir, "core")
    append(live, line(3, "core", "c3 in the new file"))
    assert poll(run) == line(2, "core", "c2 written just before the rotation") + line(3, "core", "c3 in the new file")
    append(live, line(4, "core", "c4"))
    assert poll(run) == line(4, "core", "c4")
    assert poll(run) == b""


def test_follow_several_rotations_between_two_polls(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"))
    run, _ = start(opened, logs_dir)
    expected = []
    for n in range(2, 6):
        append(live, line(n, "core", f"c{n}"))
        expected.append(line(n, "core", f"c{n}"))
        rotate(logs_dir, "core", keep=3)  # with keep=3 the file we hold is removed on the way
    append(live, line(6, "core", "c6"))
    # The held file (c1, c2) was removed by retention; the rotated files left are all newer than it.
    assert poll(run) == b"".join(expected) + line(6, "core", "c6")


def test_follow_two_rotations_keep_every_file(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"))
    run, _ = start(opened, logs_dir)
    append(live, line(2, "core", "c2"))
    rotate(logs_dir, "core")
    append(live, line(3, "core", "c3"))
    rotate(logs_dir, "core")
    append(live, line(4, "core", "c4"))
    assert poll(run) == line(2, "core", "c2") + line(3, "core", "c3") + line(4, "core", "c4")


def test_follow_rotation_while_the_new_file_is_not_created_yet(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"))
    run, _ = start(opened, logs_dir)
    append(live, line(2, "core", "c2"))
    live.rename(logs_dir / "core.log.1")
    assert poll(run) == line(2, "core", "c2")
    write(live, line(3, "core", "c3"))
    assert poll(run) == line(3, "core", "c3")


def test_follow_a_line_finished_after_its_file_was_rotated(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"), line(2, "core", "c2")[:15])
    run, out = start(opened, logs_dir)
    assert out == line(1, "core", "c1")
    rotate(logs_dir, "core")
    assert poll(run) == b""
    append(logs_dir / "core.log.1", line(2, "core", "c2")[15:])  # a writer that renames before its last write
    assert poll(run) == line(2, "core", "c2")
    assert poll(run) == b""


def test_follow_a_line_never_finished_in_a_rotated_file_is_printed(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"), b"cut off")
    run, _ = start(opened, logs_dir)
    rotate(logs_dir, "core")
    assert poll(run) == b""
    assert poll(run) == b"cut off\n"  # a whole poll without change: it will never be finished
    assert poll(run) == b""


def test_follow_copytruncate(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"))
    run, _ = start(opened, logs_dir)
    append(live, line(2, "core", "c2 before the copy"))
    (logs_dir / "core.log.1").write_bytes(live.read_bytes())  # logrotate's copytruncate
    live.write_bytes(line(3, "core", "c3 after the truncation, longer than what was there"))
    assert poll(run) == line(2, "core", "c2 before the copy") + line(
        3, "core", "c3 after the truncation, longer than what was there"
    )


def test_follow_new_program(logs_dir: Path, opened: list[Logs]) -> None:
    write(logs_dir / "core.log", line(1, "core", "c1"))
    run, _ = start(opened, logs_dir)
    write(logs_dir / "nginx.log", line(2, "nginx", "n2"), line(3, "nginx", "n3"))
    assert poll(run) == line(2, "nginx", "n2") + line(3, "nginx", "n3")
    append(logs_dir / "nginx.log", line(4, "nginx", "n4"))
    assert poll(run) == line(4, "nginx", "n4")


def test_follow_one_service_ignores_the_others(logs_dir: Path, opened: list[Logs]) -> None:
    write(logs_dir / "core.log.1", line(1, "core", "c1"))  # only rotated files so far
    run, out = start(opened, logs_dir, service="core")
    assert out == line(1, "core", "c1")
    write(logs_dir / "nginx.log", line(2, "nginx", "n2"))
    write(logs_dir / "core.log", line(3, "core", "c3"))
    assert poll(run) == line(3, "core", "c3")


def test_follow_after_tail_continues_at_the_end(logs_dir: Path, opened: list[Logs]) -> None:
    live = logs_dir / "core.log"
    write(live, line(1, "core", "c1"), line(2, "core", "c2"), line(3, "core", "c3")[:10])
    run, out = start(opened, logs_dir, tail=0)
    assert out == b""
    append(live, line(3, "core", "c3")[10:])
    assert poll(run) == line(3, "core", "c3")


def test_reads_what_the_collector_writes(logs_dir: Path, opened: list[Logs]) -> None:
    """The contract end to end with services.log.files: rotation while following loses and repeats nothing."""
    files_module = pytest.importorskip("services.log.files")
    files = files_module.LogFiles(logs_dir, rotate_size=300, rotate_count=50)
    try:
        files.write("registry", [line(0, "registry", "r0")])
        run, out = start(opened, logs_dir)
        seen = [out]
        expected = [line(0, "registry", "r0")]
        for n in range(1, 60):
            for program in ("registry", "core"):
                written = line(n, program, f"{program[0]}{n}")
                files.write(program, [written])
                expected.append(written)
            if n % 7 == 0:
                seen.append(poll(run))
        seen.append(poll(run))
    finally:
        files.close()
    assert len(list(logs_dir.glob("registry.log.*"))) > 5  # it did rotate, several times between polls
    assert b"".join(seen) == b"".join(expected)
