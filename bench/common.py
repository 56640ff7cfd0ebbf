"""Scaffolding shared by the benchmarks: CPU and latency accounting, starting and stopping processes,
alternating time slices of closed-loop GET clients, and clean Ctrl-C / SIGTERM handling.

Every bench here runs its servers as real processes on this machine and drives them from one aiohttp
client in the bench's own process; see bench/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from yarl import URL

T = TypeVar("T")
MiB = 1 << 20
READ_CHUNK = 1 * MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")

# --- measurements --------------------------------------------------------------------------------------


@dataclass
class Result:
    """Requests, bytes, wall time, latencies and CPU seconds, summed over the slices of one target."""

    label: str
    requests: int = 0
    errors: int = 0
    nbytes: int = 0
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, other: Result) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.nbytes += other.nbytes
        self.wall += other.wall
        self.latencies += other.latencies
        for k, v in other.cpu.items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v

    @property
    def mb_s(self) -> float:
        return self.nbytes / MiB / self.wall if self.wall else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    def pct(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index] * 1000

    def cpu_line(self) -> str:
        """CPU cores used, per process, over the wall time ('other': kernel networking and the rest)."""
        if not self.wall:
            return ""
        return "  ".join(f"{k} {v / self.wall:.2f}" for k, v in self.cpu.items())


@dataclass
class CpuSnapshot:
    named: dict[str, float]
    postgres: dict[int, float]
    machine: float


class CpuMeter:
    """CPU seconds of some processes (from /proc/<pid>/stat) and of the whole machine (from /proc/stat); a
    name may stand for several processes (replicas, nginx's workers), whose seconds are summed."""

    def __init__(self, pids: dict[str, int] | dict[str, list[int]]) -> None:
        self.pids = {name: [p] if isinstance(p, int) else p for name, p in pids.items()}

    @staticmethod
    def _stat(path: str) -> tuple[str, float] | None:
        try:
            text = Path(path).read_text()
        except OSError:
            return None
        fields = text.rsplit(")", 1)[1].split()
        return text[text.find("(") + 1 : text.rfind(")")], (int(fields[11]) + int(fields[12])) / CLK_TCK

    @staticmethod
    def _postgres() -> dict[int, float]:
        """Every PostgreSQL server process by pid (the backends serving the registry among them)."""
        found = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = CpuMeter._stat(f"{entry.path}/stat")
                if stat is not None and stat[0].startswith("postgres"):
                    found[int(entry.name)] = stat[1]
        return found

    @staticmethod
    def _machine_busy() -> float:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return (sum(values[:8]) - idle) / CLK_TCK

    def snapshot(self) -> CpuSnapshot:
        named = {}
        for name, pids in self.pids.items():
            stats = (self._stat(f"/proc/{pid}/stat") for pid in pids)
            named[name] = sum(stat[1] for stat in stats if stat)
        named["client"] = time.process_time()
        return CpuSnapshot(named, self._postgres(), self._machine_busy())

    @staticmethod
    def delta(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
        out = {k: after.named[k] - before.named[k] for k in before.named}
        # Backends that ended meanwhile are lost; those that started count from zero.
        out["postgres"] = sum(v - before.postgres.get(pid, 0.0) for pid, v in after.postgres.items())
        out["other"] = max(0.0, (after.machine - before.machine) - sum(out.values()))
        return out


# --- processes -----------------------------------------------------------------------------------------


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


def children(pid: int) -> list[int]:
    """The direct children of a process (nginx's workers under its master), [] once it is gone."""
    with contextlib.suppress(OSError, ValueError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def service_pids(status: dict[str, dict[str, str]], name: str) -> list[int]:
    """The pids of a launcher's service and its replicas (`registry`, `registry-1`, ...) from
    StackProcess.status()."""
    return [int(s["pid"]) for key, s in status.items() if key == name or key.startswith(name + "-")]


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- alternating slices of GET clients -----------------------------------------------------------------


@dataclass
class Target:
    """One side of a comparison: a session kept across slices, the request to repeat, how to read it."""

    label: str
    urls: list[str]
    concurrency: int
    meter: CpuMeter
    headers: dict[str, str] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    result: Result = field(init=False)

    def __post_init__(self) -> None:
        self.result = Result(self.label)


async def fetch(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], *, keep: bool
) -> tuple[int, aiohttp.ClientResponse, bytes | None, int]:
    """GET, read the body to the end in chunks; returns (status, response, body if keep, bytes read)."""
    async with session.get(url, headers=headers) as r:
        if keep:
            body = await r.read()
            return r.status, r, body, len(body)
        n = 0
        async for chunk in r.content.iter_chunked(READ_CHUNK):
            n += len(chunk)
        return r.status, r, None, n


async def verify(target: Target, check: Callable[[int, aiohttp.ClientResponse, bytes], None]) -> None:
    """One untimed pass over every URL that keeps and checks each body (and warms caches and connections)."""
    assert target.session is not None
    sem = asyncio.Semaphore(target.concurrency)

    async def one(i: int, url: str) -> None:
        async with sem:
            _, r, body, _ = await fetch(target.session, url, target.headers, keep=True)  # type: ignore[arg-type]
            check(i, r, body or b"")

    await asyncio.gather(*(one(i, u) for i, u in enumerate(target.urls)))


async def slice_(target: Target, duration: float) -> None:
    """`concurrency` clients GET the URLs round-robin for `duration` seconds; adds to target.result."""
    assert target.session is not None
    session = target.session
    part = Result(target.label)
    counter = iter(range(1 << 62))
    deadline = time.perf_counter() + duration
    urls, headers = target.urls, target.headers

    async def worker() -> None:
        while time.perf_counter() < deadline:
            url = urls[next(counter) % len(urls)]
            t0 = time.perf_counter()
            try:
                status, _, _, n = await fetch(session, url, headers, keep=False)
            except (aiohttp.ClientError, TimeoutError):
                part.errors += 1
                continue
            part.latencies.append(time.perf_counter() - t0)
            if status == 200:
                part.requests += 1
                part.nbytes += n
            else:
                part.errors += 1

    before = target.meter.snapshot()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(target.concurrency)))
    part.wall = time.perf_counter() - t0
    part.cpu = target.meter.delta(before, target.meter.snapshot())
    target.result.add(part)


async def compare(targets: list[Target], duration: float, slices: int) -> None:
    """Alternate the targets in `slices` slices each (order flipped every round), `duration` s per target."""
    for i in range(slices):
        order = targets if i % 2 == 0 else list(reversed(targets))
        for t in order:
            await slice_(t, duration / slices)


# --- registry clients ----------------------------------------------------------------------------------


def new_session(concurrency: int, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """Keep-alive connections, no decompression, 1 MiB reads; `headers` on every request (a bearer token:
    nginx, Distribution and the bare servers ignore it, so both sides of a comparison get the same bytes)."""
    return aiohttp.ClientSession(
        headers=headers,
        connector=aiohttp.TCPConnector(limit=concurrency, force_close=False, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=300),
        auto_decompress=False,
        read_bufsize=READ_CHUNK,
    )


@dataclass
class Blob:
    data: bytes
    digest: str


async def chunked_upload(session: aiohttp.ClientSession, base: str, repo: str, blob: Blob, chunk_size: int) -> None:
    """A docker client's chunked upload: POST, PATCH `chunk_size` chunks with Content-Range, PUT ?digest=."""
    async with session.post(f"{base}/v2/{repo}/blobs/uploads/") as r:
        if r.status != 202:
            raise RuntimeError(f"{base} POST upload: {r.status} {await r.text()}")
        location = URL(base).join(URL(r.headers["Location"]))
    view = memoryview(blob.data)
    for start in range(0, len(blob.data), chunk_size):
        chunk = view[start : start + chunk_size]
        headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(chunk) - 1}"}
        async with session.patch(location, data=chunk, headers=headers) as r:
            if r.status != 202:
                raise RuntimeError(f"{base} PATCH chunk at {start}: {r.status} {await r.text()}")
            location = URL(base).join(URL(r.headers["Location"]))
    async with session.put(location.update_query(digest=blob.digest), headers={"Content-Length": "0"}) as r:
        if r.status != 201:
            raise RuntimeError(f"{base} PUT upload: {r.status} {await r.text()}")


def blob_check(blobs: list[Blob]) -> Callable[[int, aiohttp.ClientResponse, bytes], None]:
    """For `verify`: the i-th URL answers 200 with the i-th blob's bytes."""

    def check(i: int, r: aiohttp.ClientResponse, body: bytes) -> None:
        if r.status != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != blobs[i].digest:
            raise RuntimeError(f"GET {r.url}: {r.status}, body is not {blobs[i].digest}")

    return check


@dataclass
class PushTarget:
    """One side of a push comparison: `clients` chunked uploads at a time to `base`'s `repo`."""

    label: str
    base: str
    repo: str
    meter: CpuMeter
    session: aiohttp.ClientSession
    chunk_size: int
    clients: int
    result: Result = field(init=False)

    def __post_init__(self) -> None:
        self.result = Result(self.label)


async def push_slice(t: PushTarget, blobs: list[Blob]) -> None:
    queue = list(reversed(blobs))
    part = Result(t.label)

    async def worker() -> None:
        while queue:
            blob = queue.pop()
            t0 = time.perf_counter()
            await chunked_upload(t.session, t.base, t.repo, blob, t.chunk_size)
            part.latencies.append(time.perf_counter() - t0)
            part.requests += 1
            part.nbytes += len(blob.data)

    before = t.meter.snapshot()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(t.clients)))
    part.wall = time.perf_counter() - t0
    part.cpu = t.meter.delta(before, t.meter.snapshot())
    t.result.add(part)


async def push_compare(targets: list[PushTarget], blobs: list[Blob], slices: int) -> None:
    """Each slice pushes its share of the blobs to every target in turn (order flipped every round)."""
    share = -(-len(blobs) // slices)
    for i in range(slices):
        order = targets if i % 2 == 0 else list(reversed(targets))
        for t in order:
            await push_slice(t, blobs[i * share : (i + 1) * share])


# --- interrupts ----------------------------------------------------------------------------------------

_interrupted: list[int] = []


def _interrupt(signum: int, frame: object) -> None:
    _interrupted.append(signum)
    raise KeyboardInterrupt


def install_interrupts() -> None:
    """Ctrl-C and SIGTERM unwind the same way (KeyboardInterrupt), so `finally` blocks stop every process."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


async def interruptible(work: Coroutine[Any, Any, T]) -> T:
    """Run `work`, cancelled (not hit by a KeyboardInterrupt mid-callback) on Ctrl-C or SIGTERM."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None

    def cancel(sig: int) -> None:
        _interrupted.append(sig)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, cancel, sig)
    return await work


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(work), interruptible; the process's own handlers are back afterwards."""
    try:
        return asyncio.run(interruptible(work))
    finally:
        install_interrupts()  # the loop's handlers are gone with it


@contextlib.contextmanager
def cleaned_up() -> Iterator[contextlib.ExitStack]:
    """An ExitStack closed at the end even on Ctrl-C; a second Ctrl-C must not cut the clean-up short."""
    stack = contextlib.ExitStack()
    try:
        yield stack
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])


@contextlib.contextmanager
def exit_on_interrupt() -> Iterator[None]:
    """Around a bench's main body: an interrupt (after the clean-up has run) exits 130 with a short note."""
    try:
        yield
    except BaseException:
        if not _interrupted:
            raise
        print("\ninterrupted; cleaned up", file=sys.stderr)
        raise SystemExit(130) from None


def start_module(args: list[str], log_path: Path, what: str, port: int) -> subprocess.Popen[bytes]:
    """`python -m <args>` from the repository root (a bare baseline server), listening on `port`; its own
    session, so a terminal's Ctrl-C reaches the bench only and the bench stops it."""
    from tests.harness.plugin import REPO_ROOT

    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, what, log_path)
    except BaseException:
        stop_process(proc)
        raise
    return proc
