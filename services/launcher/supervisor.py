"""A small process supervisor: start children in groups, each group ready before the next, restart a
crashed child with backoff, print one status line per service when something changes, and stop children
in reverse order on a signal.

Children run in their own process group, so Ctrl-C in the terminal reaches only the launcher, which stops
them in order (the proxy before the services, the services before PostgreSQL). Each child also gets
SIGTERM from the kernel should the launcher die without stopping it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

Probe = Callable[[], Awaitable[bool]]

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    address: str  # shown in the status line
    ready: Probe  # True once the child serves
    env: dict[str, str] | None = None
    user: str | None = None
    # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for every client to leave).
    stop_signal: int = signal.SIGTERM


@dataclass
class Child:
    spec: ChildSpec
    proc: asyncio.subprocess.Process | None = None
    state: str = "stopped"
    restarts: int = 0
    failures: int = 0  # crashes in a row, without staying up for `stable_after` in between
    started_at: float = 0.0
    note: str = ""
    output: IO[bytes] | None = None
    reader: asyncio.Task[None] | None = None
    keeper: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Supervisor:
    groups: Sequence[Sequence[ChildSpec]]
    run_dir: Path
    out: TextIO = field(default_factory=lambda: sys.stdout)
    verbose: bool = False
    start_timeout: float = 90.0
    stop_timeout: float = 15.0
    stable_after: float = 30.0  # seconds up after which a crash no longer counts as part of a loop
    max_backoff: float = 30.0
    crashloop_after: int = 3

    def __post_init__(self) -> None:
        self.children = [Child(spec) for group in self.groups for spec in group]
        self._by_name = {c.spec.name: c for c in self.children}
        self._stopping = False
        self._width = max((len(c.spec.name) for c in self.children), default=8)

    # ----------------------------------------------------------------------------------------- status

    def status_line(self, child: Child) -> str:
        pid = child.pid
        line = (
            f"{child.spec.name:<{self._width}}  {child.state:<9} pid={pid if pid else '-':<7} "
            f"restarts={child.restarts:<3} {child.spec.address}"
        )
        return f"{line}  {child.note}" if child.note else line

    def print_status(self) -> None:
        for child in self.children:
            self._print(self.status_line(child))

    def _set(self, child: Child, state: str, note: str = "") -> None:
        child.state, child.note = state, note
        self._print(self.status_line(child))

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def output_path(self, child: Child) -> Path:
        return self.run_dir / f"{child.spec.name}.out"

    # ----------------------------------------------------------------------------------------- run

    async def start(self, stop: asyncio.Event) -> bool:
        """Start every group in order, each ready before the next. False: a child failed, or `stop` was set
        (what was started is stopped again before returning)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for group in self.groups:
            children = [self._by_name[spec.name] for spec in group]
            for child in children:
                await self._spawn(child)
                self._set(child, "starting")
            waits = [asyncio.ensure_future(self._until_ready(c, self.start_timeout)) for c in children]
            stopped = asyncio.ensure_future(stop.wait())
            pending: set[asyncio.Future[bool]] = set(waits)
            failed = False
            while pending and not failed and not stop.is_set():
                done, _ = await asyncio.wait(pending | {stopped}, return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    if fut is stopped:
                        continue
                    pending.discard(fut)
                    failed = failed or not fut.result()
            stopped.cancel()
            for fut in pending:
                fut.cancel()
            await asyncio.gather(*pending, stopped, return_exceptions=True)
            if failed or stop.is_set():
                await self.stop()
                return False
        for child in self.children:
            child.keeper = asyncio.ensure_future(self._keep(child))
        return True

    async def _until_ready(self, child: Child, limit: float) -> bool:
        """Poll the child's probe until it holds; False when it exits or stays unready for `limit` seconds."""
        assert child.proc is not None
        deadline = time.monotonic() + limit
        while child.proc.returncode is None:
            with contextlib.suppress(Exception):
                if await child.spec.ready():
                    self._set(child, "up")
                    return True
            if time.monotonic() > deadline:
                self._set(child, "unready", f"not ready after {limit:.0f}s; see {self.output_path(child)}")
                await self._terminate(child)
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(child.proc.wait(), 0.2)
        self._set(child, "failed", f"{describe_exit(child.proc.returncode)}; see {self.output_path(child)}")
        return False

    async def _keep(self, child: Child) -> None:
        """Restart `child` whenever it exits, with a backoff that doubles while it keeps crashing."""
        while True:
            assert child.proc is not None
            code = await child.proc.wait()
            if self._stopping:
                return
            if time.monotonic() - child.started_at >= self.stable_after:
                child.failures = 0
            child.failures += 1
            delay = min(2.0 ** (child.failures - 1), self.max_backoff)
            why = describe_exit(code)
            if child.failures >= self.crashloop_after:
                state = "crashloop"
                note = (
                    f"{why}, {child.failures} crashes in a row; retrying in {delay:.0f}s; see {self.output_path(child)}"
                )
            else:
                state, note = "crashed", f"{why}; restarting in {delay:.0f}s"
            self._set(child, state, note)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            child.restarts += 1
            await self._spawn(child)
            self._set(child, "starting")
            await self._until_ready(child, self.start_timeout)

    async def stop(self) -> None:
        """Stop every child, the last group first; SIGKILL what is still there after `stop_timeout`."""
        self._stopping = True
        for child in self.children:
            if child.keeper is not None:
                child.keeper.cancel()
        for group in reversed(self.groups):
            await asyncio.gather(*(self._terminate(self._by_name[spec.name], report=True) for spec in group))

    # ----------------------------------------------------------------------------------------- processes

    async def _spawn(self, child: Child) -> None:
        spec = child.spec
        if child.output is None:
            child.output = self.output_path(child).open("ab")
        child.output.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {' '.join(spec.argv)}\n".encode())
        child.output.flush()
        child.proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if self.verbose else child.output,
            stderr=asyncio.subprocess.STDOUT,
            env=spec.env,
            user=spec.user,
            process_group=0,
            preexec_fn=_die_with_parent,
        )
        child.started_at = time.monotonic()
        if self.verbose:
            child.reader = asyncio.ensure_future(self._relay(child, child.proc))

    async def _relay(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        """--verbose: each output line to the terminal, prefixed by the service, and to its .out file."""
        assert proc.stdout is not None and child.output is not None
        prefix = f"{child.spec.name:<{self._width}} | ".encode()
        async for line in proc.stdout:
            child.output.write(line)
            child.output.flush()
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.buffer.flush()

    async def _terminate(self, child: Child, *, report: bool = False) -> None:
        proc = child.proc
        if proc is not None and proc.returncode is None:
            if report:
                self._set(child, "stopping")
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(child.spec.stop_signal)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            if report:
                code = proc.returncode or 0
                # Ending by the signal we sent is the expected way; anything else is worth a word.
                self._set(child, "stopped", "" if code in (0, -child.spec.stop_signal) else describe_exit(code))
        if child.reader is not None:
            with contextlib.suppress(Exception):
                await child.reader
            child.reader = None
        if self._stopping and child.output is not None:
            child.output.close()
            child.output = None
