"""Quota benchmark: twenty clients pushing into one project at once, beside the same load over twenty projects.

    .venv/bin/python -m bench.quota_bench [--quick] [--strict]

Issue #13's target: twenty clients pushing different images into one project at once make no errors, leave
the project's usage exact, and reach at least 0.8x the pushes per second of the same load spread over twenty
projects (no convoy on the project's one quota row). Starts a fresh PostgreSQL database, a token service and
a registry process, creates 21 projects with a finite limit each (1 TiB: never reached, but the limit is
checked on every push), and drives the registry from one aiohttp client in this process: 20 clients in a
closed loop, each pushing distinct small images (a unique config blob, one or two unique layers of a few
KiB, then a tagged manifest). Case "one project": client i pushes to quota-one/c<i>. Case "twenty
projects": client i pushes to quota-<i>/c<i>. The two run in alternating time slices (as
bench/registry_bench.py does), so a small machine's noise falls on both alike. Afterwards every project's
`quotas.used` is compared with a recount from the tables (core's storage rule). Everything started is
stopped and removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from bench.common import CpuMeter, Result, cleaned_up, exit_on_interrupt, install_interrupts, run_async
from services.common.oci import mediatypes as mt
from tests.harness.oci import digest_of, image_manifest
from tests.harness.plugin import ADMIN_CREDENTIALS, RegistryProcess, TestDatabase
from tests.harness.registry_auth import fetch_token
from tests.harness.token import TokenServiceProcess, add_project

CLIENTS = 20
ONE_PROJECT = "quota-one"
MANY_PROJECTS = [f"quota-{i:02d}" for i in range(CLIENTS)]
LIMIT = 1 << 40  # 1 TiB: finite, so every push runs the limit check, and never reached
LAYER_SIZES = (2048, 6144)  # bytes, each layer's size drawn between the two
TARGET_RATIO = 0.8
SHOWN_ERRORS = 5
LOCK_SAMPLE_S = 0.1
REGISTRY_POOL = 20  # the production default of database.max_open_conns (the test harness uses 8)


class BenchDatabase(TestDatabase):
    """A fresh database whose services get the production pool size: twenty clients, twenty connections."""

    def settings_dict(self) -> dict[str, object]:
        return {**super().settings_dict(), "max_open_conns": REGISTRY_POOL}


@dataclass
class Stack:
    tmp: Path
    db: TestDatabase
    token: TokenServiceProcess
    registry: RegistryProcess
    project_ids: dict[str, int]


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    with cleaned_up() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="berth-quota-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db = BenchDatabase().create()
        stack.callback(db.drop)
        token = TokenServiceProcess(tmp / "token", db)
        stack.callback(token.stop)
        token.start()
        registry = RegistryProcess(tmp / "registry", db, token=token)
        stack.callback(registry.stop)
        registry.start()
        # Rows in `projects`, as core writes them; migration 0019's trigger gives each its quota row.
        ids = {name: add_project(db, name).id for name in [ONE_PROJECT, *MANY_PROJECTS]}
        yield Stack(tmp, db, token, registry, ids)


# --- pushing -------------------------------------------------------------------------------------------


class PushFailed(Exception):
    """A request of a push answered other than 2xx."""


class Pusher:
    """One client: its own token (both of its repositories), its own images, its own tag counter."""

    def __init__(self, index: int, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.index, self.session, self.base = index, session, base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rng = random.Random(index)
        self.count = 0

    async def _check(self, r: aiohttp.ClientResponse, what: str) -> None:
        if not 200 <= r.status < 300:
            raise PushFailed(f"{what}: {r.status} {(await r.text())[:300]}")
        await r.read()

    async def push(self, repo: str) -> float:
        """Config and layers (monolithic POST ?digest=), then the manifest by tag; the PUT's seconds."""
        n, self.count = self.count, self.count + 1
        config = json.dumps({"architecture": "amd64", "os": "linux", "client": self.index, "push": n}).encode()
        layers = [os.urandom(self.rng.randint(*LAYER_SIZES)) for _ in range(1 + n % 2)]
        for data in [config, *layers]:
            url = f"{self.base}/v2/{repo}/blobs/uploads/?digest={digest_of(data)}"
            headers = {**self.headers, "Content-Type": "application/octet-stream"}
            async with self.session.post(url, data=data, headers=headers) as r:
                await self._check(r, f"POST {repo} blob upload")
        body = image_manifest(config, layers)
        headers = {**self.headers, "Content-Type": mt.OCI_MANIFEST}
        t0 = time.perf_counter()
        async with self.session.put(f"{self.base}/v2/{repo}/manifests/t{n}", data=body, headers=headers) as r:
            await self._check(r, f"PUT {repo}:t{n} manifest")
        return time.perf_counter() - t0


@dataclass
class LockWaits:
    """Samples of the backends waiting for a lock: how many samples, waiters summed per wait event
    (`tuple`, `transactionid`: a row's lock; `object`: NOTIFY's queue at commit, ...), most at once."""

    samples: int = 0
    by_event: Counter[str] = field(default_factory=Counter)
    most: int = 0

    def add(self, waiting: dict[str, int]) -> None:
        self.samples += 1
        self.by_event.update(waiting)
        self.most = max(self.most, sum(waiting.values()))

    def line(self) -> str:
        if not self.samples:
            return "no samples"
        mean = sum(self.by_event.values()) / self.samples
        parts = ", ".join(f"{event} {n / self.samples:.2f}" for event, n in self.by_event.most_common())
        return f"mean {mean:.2f}{f' ({parts})' if parts else ''}, most at once {self.most}"


@dataclass
class Case:
    """One side of the comparison: which repository each client pushes to, and what it measured."""

    label: str
    repos: list[str]
    meter: CpuMeter
    push: Result = field(init=False)  # latencies: whole pushes (blobs + manifest)
    put: Result = field(init=False)  # latencies: the manifest PUTs alone
    locks: LockWaits = field(init=False)  # during the slices
    slice_rates: list[float] = field(default_factory=list)  # pushes/s of each slice, in order
    errors: int = 0  # over the whole run, warm-up included
    messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.push, self.put = Result(self.label), Result(self.label)
        self.locks = LockWaits()
        self.slice_rates.clear()


async def sample_lock_waits(conn: asyncpg.Connection, database: str, into: LockWaits) -> None:
    """The database's backends waiting for a lock, by what they wait for, every LOCK_SAMPLE_S."""
    while True:
        rows = await conn.fetch(
            "SELECT wait_event, count(*) AS n FROM pg_stat_activity"
            " WHERE datname = $1 AND wait_event_type = 'Lock' GROUP BY wait_event",
            database,
        )
        into.add({r["wait_event"]: r["n"] for r in rows})
        await asyncio.sleep(LOCK_SAMPLE_S)


async def run_slice(case: Case, pushers: list[Pusher], duration: float, conn: asyncpg.Connection, db: str) -> None:
    """Every client pushes to its repository of `case` in a closed loop for `duration` seconds."""
    push, put = Result(case.label), Result(case.label)
    deadline = time.perf_counter() + duration

    async def client(p: Pusher) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                put_s = await p.push(case.repos[p.index])
            except (PushFailed, aiohttp.ClientError, TimeoutError) as exc:
                case.errors += 1
                if len(case.messages) < SHOWN_ERRORS:
                    case.messages.append(f"client {p.index}: {type(exc).__name__}: {exc}")
                continue
            push.latencies.append(time.perf_counter() - t0)
            push.requests += 1
            put.latencies.append(put_s)
            put.requests += 1

    sampler = asyncio.create_task(sample_lock_waits(conn, db, case.locks))
    try:
        before = case.meter.snapshot()
        t0 = time.perf_counter()
        await asyncio.gather(*(client(p) for p in pushers))
        push.wall = put.wall = time.perf_counter() - t0
        push.cpu = case.meter.delta(before, case.meter.snapshot())
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    case.push.add(push)
    case.put.add(put)
    case.slice_rates.append(push.rps)


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Usage:
    """Per project: (quotas.used, the recount), and the limits as they stand after the run."""

    used: dict[str, tuple[int, int]]
    limits: dict[str, int]

    @property
    def error(self) -> int:
        return sum(abs(used - recount) for used, recount in self.used.values())


# Every project's limit, usage and recount. The recount is core's storage rule (services/core/statistics/
# store.py, `_stored_bytes`): the distinct blob digests the artifacts of the project's repositories reference
# plus their distinct manifest digests, each counted once; a repository is the project's by its first path
# component (a range: '0' follows '/').
_IN_PROJECT = "r.name >= p.name || '/' AND r.name < p.name || '0'"
_ARTIFACTS = f"FROM repositories r JOIN artifacts a ON a.repository_id = r.id WHERE {_IN_PROJECT}"
_USAGE = (
    "SELECT p.name, q.hard, q.used, (SELECT COALESCE(sum(u.size), 0)::bigint FROM ("
    " SELECT b.digest, b.size FROM repositories r JOIN artifacts a ON a.repository_id = r.id"
    f" JOIN artifact_blobs ab ON ab.artifact_id = a.id JOIN blobs b ON b.digest = ab.digest WHERE {_IN_PROJECT}"
    f" UNION SELECT a.digest, a.size {_ARTIFACTS}) u) AS recount"
    " FROM projects p LEFT JOIN quotas q ON q.project_id = p.id WHERE p.name = ANY($1::text[])"
)


async def usage(conn: asyncpg.Connection, projects: list[str]) -> Usage:
    rows = await conn.fetch(_USAGE, projects)
    missing = set(projects) - {r["name"] for r in rows if r["used"] is not None}
    if missing:
        raise RuntimeError(f"no quota row for {sorted(missing)}")
    return Usage({r["name"]: (r["used"], r["recount"]) for r in rows}, {r["name"]: r["hard"] for r in rows})


async def workload(stack: Stack, args: argparse.Namespace, tokens: list[str]) -> tuple[list[Case], Usage]:
    conn = await asyncpg.connect(stack.db.dsn())
    try:
        # As core's quota API sets a limit (services/core/quotas/store.py).
        status = await conn.execute(
            "UPDATE quotas SET hard = $2, updated_at = now() WHERE project_id = ANY($1::bigint[])",
            list(stack.project_ids.values()),
            LIMIT,
        )
        if status != f"UPDATE {len(stack.project_ids)}":
            raise RuntimeError(f"setting the limits: {status}, expected a quota row per project")
        meter = CpuMeter({"registry": stack.registry.pid, "token": stack.token.pid})
        cases = [
            Case("one project", [f"{ONE_PROJECT}/c{i}" for i in range(CLIENTS)], meter),
            Case("twenty projects", [f"{MANY_PROJECTS[i]}/c{i}" for i in range(CLIENTS)], meter),
        ]
        connector = aiohttp.TCPConnector(limit=CLIENTS, keepalive_timeout=60)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
            pushers = [Pusher(i, session, stack.registry.url, tokens[i]) for i in range(CLIENTS)]
            # Warm-up, discarded: connections, caches, and each repository's first push (which creates it).
            for case in cases:
                await run_slice(case, pushers, args.warmup, conn, stack.db.name)
                case.reset()
            for i in range(args.slices):
                for case in cases if i % 2 == 0 else list(reversed(cases)):
                    await run_slice(case, pushers, args.seconds / args.slices, conn, stack.db.name)
        return cases, await usage(conn, list(stack.project_ids))
    finally:
        await conn.close()


# --- report --------------------------------------------------------------------------------------------


def report(cases: list[Case], found: Usage) -> bool:
    print()
    print("details (CPU: cores busy on average; client is this process, 'other' the rest of the machine)")
    for c in cases:
        print(
            f"  {c.label:<16}{c.push.requests:>6} pushes in {c.push.wall:5.1f} s   push p50 {c.push.pct(50):5.1f}"
            f" p99 {c.push.pct(99):6.1f} ms"
        )
        print(f"  {'':<16}pushes/s per slice: " + " ".join(f"{r:.1f}" for r in c.slice_rates))
        print(f"  {'':<16}backends waiting for a lock: {c.locks.line()}")
        print(f"  {'':<16}CPU: {c.push.cpu_line()}")
        if c.push.requests:
            per = {k: v / c.push.requests * 1e3 for k, v in c.push.cpu.items()}
            print(f"  {'':<16}CPU per push: " + "  ".join(f"{k} {v:.2f} ms" for k, v in per.items()))
    one, many = cases
    ratio = one.push.rps / many.push.rps if many.push.rps else 0.0
    errors = sum(c.errors for c in cases)
    mismatched = {name: pair for name, pair in found.used.items() if pair[0] != pair[1]}
    unlimited = [name for name, hard in found.limits.items() if hard != LIMIT]

    print()
    print("summary")
    for c in cases:
        print(
            f"  {c.label:<16}{c.push.rps:7.1f} pushes/s   manifest PUT p50 {c.put.pct(50):6.1f}"
            f" p99 {c.put.pct(99):6.1f} ms   {c.errors} errors"
        )
    verdict = "OK" if ratio >= TARGET_RATIO else "MISS"
    print(f"  one project = {ratio:.2f} x twenty projects (target >= {TARGET_RATIO}) {verdict}")
    print(f"  errors: {errors} (target 0) {'OK' if not errors else 'MISS'}")
    for c in cases:
        for message in c.messages:
            print(f"    {c.label}: {message}")
    used_one = found.used[ONE_PROJECT][0]
    used_many = sum(found.used[p][0] for p in MANY_PROJECTS)
    print(
        f"  usage error: {found.error} bytes, summed over {len(found.used)} projects (target 0)"
        f" {'OK' if not found.error else 'MISS'}   (used: {ONE_PROJECT} {used_one:,} B,"
        f" the twenty {used_many:,} B)"
    )
    for name, (used, recount) in mismatched.items():
        print(f"    {name}: quotas.used {used:,} B, recount {recount:,} B")
    if unlimited:
        print(f"  WARNING: the limit of {', '.join(unlimited)} is not {LIMIT} after the run")
    return ratio >= TARGET_RATIO and not errors and not found.error


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quota_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements (a smoke run, noisier)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.seconds = 12.0 if args.quick else 60.0  # per case, over all its slices
    args.slices = 3 if args.quick else 5
    args.warmup = 1.0 if args.quick else 2.0

    # Ctrl-C and SIGTERM unwind the same way, so the finally blocks stop every process and drop the database.
    install_interrupts()
    ok = False
    started = time.monotonic()
    with exit_on_interrupt():
        print("starting PostgreSQL database, token service, registry; creating 21 projects ...", flush=True)
        with running_stack() as stack:
            # One token per client, for both of its repositories (the token service's signing is not timed).
            tokens = [
                fetch_token(
                    stack.token.token_url(),
                    "berth-registry",
                    [f"repository:{ONE_PROJECT}/c{i}:pull,push", f"repository:{MANY_PROJECTS[i]}/c{i}:pull,push"],
                    ADMIN_CREDENTIALS,
                )
                for i in range(CLIENTS)
            ]
            print(
                f"{CLIENTS} clients, each push a unique config + 1-2 layers of {LAYER_SIZES[0] // 1024}-"
                f"{LAYER_SIZES[1] // 1024} KiB + a tagged manifest; limit {LIMIT >> 40} TiB per project;"
                f" {args.seconds:g} s per case in {args.slices} alternating slices",
                flush=True,
            )
            cases, found = run_async(workload(stack, args, tokens))
            ok = report(cases, found)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.strict and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
