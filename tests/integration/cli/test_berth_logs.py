"""The installed `berth logs` command as an operator runs it: a real process, real files, real pipes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

BERTH = Path(sys.executable).with_name("berth")
BASE = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)
WAIT = 10.0  # seconds for the follower to show a line: a bound on a hang, never the expected time


def line_at(moment: datetime, program: str, text: str, *, pid: int | None = 7, host: str = "berth-1") -> bytes:
    tag = program if pid is None else f"{program}[{pid}]"
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {host} {tag}: {text}\n".encode()


def line(second: float, program: str, text: str, *, pid: int | None = 7, host: str = "berth-1") -> bytes:
    return line_at(BASE + timedelta(seconds=second), program, text, pid=pid, host=host)


def append(path: Path, *lines: bytes) -> None:
    with path.open("ab") as f:
        f.write(b"".join(lines))


def clean_env() -> dict[str, str]:
    # The machine's own BERTH_* settings must not leak into what the test sets.
    return {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}


def berth(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [BERTH, *map(str, args)], capture_output=True, timeout=60, env=clean_env(), cwd=cwd, check=False
    )


# A shell starts a script's background job (`berth logs -f &`) with SIGINT ignored, which `exec` keeps.
AS_BACKGROUND_JOB = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]


class Follower:
    """`berth logs -f` running, its stdout collected line by line by a thread so reads can have a deadline."""

    def __init__(self, *args: str | Path, background_job: bool = False) -> None:
        self.proc = subprocess.Popen(
            [*(AS_BACKGROUND_JOB if background_job else []), BERTH, "logs", "-f", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        self.lines: list[bytes] = []
        self._incoming: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._incoming.put(raw)
        self._incoming.put(None)

    def wait_for(self, done: Callable[[list[bytes]], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not done(self.lines):
            remaining = deadline - time.monotonic()
            try:
                item = self._incoming.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                pytest.fail(f"within {WAIT} s, no {what}; output so far:\n{b''.join(self.lines).decode()}")
            if item is None:
                pytest.fail(f"berth logs -f exited ({self.proc.wait()}) before {what}: {self.stderr()}")
            self.lines.append(item)

    def wait_for_lines(self, *expected: bytes) -> None:
        self.wait_for(lambda seen: all(e in seen for e in expected), f"{expected!r}")

    def barrier(self, path: Path, second: float) -> None:
        """Append a marker line and wait for it: every poll before it has then been printed in full."""
        marker = line(second, path.name.split(".")[0], f"marker {second}")
        append(path, marker)
        self.wait_for_lines(marker)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"berth logs -f still running {WAIT} s after {signal.Signals(sig).name}")
        self._reader.join(timeout=WAIT)
        while not self._incoming.empty():
            item = self._incoming.get()
            if item is not None:
                self.lines.append(item)
        return code

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode() if self.proc.poll() is not None else ""


@pytest.fixture
def logs_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "log"
    directory.mkdir()
    return directory


@pytest.fixture
def followers() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for follower in started:
        if follower.proc.poll() is None:
            follower.proc.kill()
            follower.proc.wait()


def populate(directory: Path) -> bytes:
    """Two programs with rotated files; returns what `berth logs` prints for them."""
    (directory / "registry.log.2").write_bytes(line(0, "registry", "r0") + line(3, "registry", "r3"))
    (directory / "registry.log.1").write_bytes(line(5, "registry", "r5"))
    (directory / "registry.log").write_bytes(
        line(6, "registry", "r6") + b"  traceback line without a timestamp\n" + line(9, "registry", "r9")
    )
    (directory / "core.log").write_bytes(
        line(1, "core", "c1", pid=None, host="-") + line(4, "core", "c4") + line(8, "core", "c8")
    )
    return b"".join(
        [
            line(0, "registry", "r0"),
            line(1, "core", "c1", pid=None, host="-"),
            line(3, "registry", "r3"),
            line(4, "core", "c4"),
            line(5, "registry", "r5"),
            line(6, "registry", "r6"),
            b"  traceback line without a timestamp\n",
            line(8, "core", "c8"),
            line(9, "registry", "r9"),
        ]
    )


def test_prints_every_program_merged_by_time(logs_dir: Path) -> None:
    expected = populate(logs_dir)
    result = berth("logs", "--dir", logs_dir)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == expected


def test_service_tail_and_since(logs_dir: Path) -> None:
    populate(logs_dir)
    registry = berth("logs", "registry", "--dir", logs_dir)
    assert registry.stdout.count(b" registry[7]: ") == 5 and b"core" not in registry.stdout
    tail = berth("logs", "--dir", logs_dir, "-n", "3")
    assert tail.stdout == b"  traceback line without a timestamp\n" + line(8, "core", "c8") + line(9, "registry", "r9")
    since = berth("logs", "--dir", logs_dir, "--since", "2026-11-28T07:00:05+01:00", "--tail", "2")
    assert since.stdout == line(8, "core", "c8") + line(9, "registry", "r9")
    now = datetime.now(UTC)
    recent = [line_at(now - timedelta(hours=2), "token", "two hours ago"), line_at(now, "token", "just now")]
    (logs_dir / "token.log").write_bytes(b"".join(recent))
    relative = berth("logs", "token", "--dir", logs_dir, "--since", "1h")
    assert (relative.returncode, relative.stdout) == (0, recent[1])


def test_reads_the_directory_named_in_berth_yml(logs_dir: Path, tmp_path: Path) -> None:
    expected = populate(logs_dir)
    config = tmp_path / "berth.yml"
    config.write_text(yaml.safe_dump({"log": {"local": {"location": str(logs_dir)}}}))
    result = berth("logs", "--config", config)
    assert (result.returncode, result.stderr, result.stdout) == (0, b"", expected)
    # Without --config, ./berth.yml is found as the services find it.
    in_cwd = berth("logs", "core", cwd=tmp_path)
    assert (in_cwd.returncode, in_cwd.stdout.count(b"\n")) == (0, 3)


def test_unknown_service(logs_dir: Path) -> None:
    populate(logs_dir)
    result = berth("logs", "token", "--dir", logs_dir)
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode().splitlines() == [
        f"berth logs: no logs for 'token' in {logs_dir}; programs with logs: core, registry"
    ]


def test_missing_directory_names_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "berth.yml"
    config.write_text(yaml.safe_dump({"log": {"local": {"location": str(tmp_path / "nowhere")}}}))
    result = berth("logs", "--config", config)
    assert result.returncode == 1
    [message] = result.stderr.decode().splitlines()
    assert str(tmp_path / "nowhere") in message and "log.local.location" in message and str(config) in message


def test_bad_arguments_are_usage_errors(logs_dir: Path) -> None:
    result = berth("logs", "--dir", logs_dir, "--since", "yesterday")
    assert result.returncode == 2 and b"neither a duration" in result.stderr


def test_closed_stdout_ends_quietly(logs_dir: Path) -> None:
    # More than the pipe and our output buffer hold, so the write that meets the closed pipe is ours.
    with (logs_dir / "registry.log").open("wb") as f:
        for n in range(60_000):
            f.write(line(n / 1000, "registry", f"GET /v2/library/alpine/manifests/{n} 200"))
    proc = subprocess.Popen(
        [BERTH, "logs", "--dir", str(logs_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == line(0, "registry", "GET /v2/library/alpine/manifests/0 200")
    proc.stdout.close()  # `berth logs | head -1`
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def test_follow_appends_rotations_and_new_programs(logs_dir: Path, followers: list[Follower]) -> None:
    history = populate(logs_dir)
    registry, core, nginx = logs_dir / "registry.log", logs_dir / "core.log", logs_dir / "nginx.log"
    follower = Follower("--dir", logs_dir)
    followers.append(follower)
    follower.wait_for(lambda seen: b"".join(seen) == history, "history")

    appended = [line(10, "registry", "r10"), line(11, "core", "c11")]
    append(registry, appended[0])
    append(core, appended[1])
    follower.wait_for_lines(*appended)

    # A line still being written is not printed, even after polls that saw it half done.
    partial = line(12, "registry", "r12 written in two parts")
    append(registry, partial[:30])
    follower.barrier(core, 12.1)
    follower.barrier(core, 12.2)
    assert not any(b"r12" in seen for seen in follower.lines)
    append(registry, partial[30:])
    follower.wait_for_lines(partial)

    # Rotation as the collector does it, with lines written to the old file just before.
    before_rotation = [line(13, "registry", "r13 last in the old file"), line(14, "registry", "r14 ditto")]
    append(registry, *before_rotation)
    (logs_dir / "registry.log.2").rename(logs_dir / "registry.log.3")
    (logs_dir / "registry.log.1").rename(logs_dir / "registry.log.2")
    registry.rename(logs_dir / "registry.log.1")
    after_rotation = [line(15, "registry", "r15 first in the new file")]
    registry.write_bytes(after_rotation[0])

    # And two rotations of core in a row, faster than a poll is likely to notice the first.
    core_lines = [line(16, "core", "c16"), line(17, "core", "c17"), line(18, "core", "c18")]
    append(core, core_lines[0])
    core.rename(logs_dir / "core.log.1")
    core.write_bytes(core_lines[1])
    (logs_dir / "core.log.1").rename(logs_dir / "core.log.2")
    core.rename(logs_dir / "core.log.1")
    core.write_bytes(core_lines[2])

    # A program that had no file when the follower started.
    new_program = [line(19, "nginx", "n19", pid=None), b"n19 continued without a timestamp\n"]
    nginx.write_bytes(b"".join(new_program))

    follower.wait_for_lines(*before_rotation, *after_rotation, *core_lines, *new_program)
    follower.barrier(registry, 20)  # anything repeated would have come by now
    assert follower.stop() in (0, -signal.SIGTERM)

    markers = [line(12.1, "core", "marker 12.1"), line(12.2, "core", "marker 12.2"), line(20, "registry", "marker 20")]
    expected = [
        *history.splitlines(keepends=True),
        *appended,
        *markers[:2],
        partial,
        *before_rotation,
        *after_rotation,
        *core_lines,
        *new_program,
        markers[2],
    ]
    assert sorted(follower.lines) == sorted(expected), "a line was lost or repeated"
    for program in (b" registry[7]: ", b" core[7]: "):  # and each program's order is its files' order
        assert [x for x in follower.lines if program in x] == [x for x in expected if program in x]
    position = follower.lines.index
    assert position(new_program[0]) + 1 == position(new_program[1])


def test_follow_one_service_with_tail(logs_dir: Path, followers: list[Follower]) -> None:
    populate(logs_dir)
    follower = Follower("core", "-n", "1", "--dir", logs_dir)
    followers.append(follower)
    follower.wait_for_lines(line(8, "core", "c8"))
    append(logs_dir / "registry.log", line(10, "registry", "not this one"))
    append(logs_dir / "core.log", line(11, "core", "c11"))
    follower.wait_for_lines(line(11, "core", "c11"))
    follower.stop()
    assert follower.lines == [line(8, "core", "c8"), line(11, "core", "c11")]


@pytest.mark.parametrize("background_job", [False, True], ids=["foreground", "background-job"])
def test_follow_ends_cleanly_on_ctrl_c(logs_dir: Path, followers: list[Follower], background_job: bool) -> None:
    populate(logs_dir)
    follower = Follower("--dir", logs_dir, background_job=background_job)
    followers.append(follower)
    follower.wait_for_lines(line(9, "registry", "r9"))
    assert follower.stop(signal.SIGINT) == 0
    assert follower.stderr() == ""
