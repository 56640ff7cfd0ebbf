"""Artifact list benchmark: core's artifact and repository lists over 100,000 artifacts, 50 clients.

    .venv/bin/python -m bench.artifact_list_bench [--artifacts N] [--seconds S] [--page-size P]
                                                  [--push-rate N] [--keep | --reuse NAME] [--core-cache-mb MB]
                                                  [--strict]

Starts a fresh PostgreSQL database, a token service, a registry and core on one database and one Redis
prefix (as tests/integration/core/registry_stack.py does), and seeds N artifacts (default 100,000)
through the registry's OCI API: per repository one config and one layer blob, then manifest PUTs with
the token flow, each manifest made unique by an annotation, one in four pushed by tag (the rest by
digest). A quarter of them go to one big repository (`bench/big`, 25,000 of 100,000), half to 150
smaller repositories of the same project `bench`, a quarter to 3 other projects of 50 repositories each.

Then 50 concurrent clients (async, keep-alive) GET, each scenario for a fixed time, as the system admin
and as a developer member of `bench` (HTTP Basic both; the visibility SQL differs):

- artifacts: `/projects/bench/repositories/big/artifacts?page=K&page_size=P&with_tag=true`, K spread
  evenly over the whole list, first to last page, in a shuffled order (offset paging: deep pages skip
  up to 25,000 rows);
- project repositories: `/projects/bench/repositories?page=K&page_size=P&sort=name`, every page. Harbor
  has no project-wide artifact list: the project's repository list, each row with its artifact count and
  last push, is what Harbor's UI shows for "the artifacts of one project", so this is the project scenario;
- all repositories: `/repositories?q=project_id=<bench>&page=K&page_size=P`, every page: the same rows
  through the cross-project list, which adds the visibility rule (the member's memberships) to the SQL.

Each scenario and user runs twice in the same alternation: without pushes, and (`+push`) while a push
load of --push-rate manifest PUTs per second (default 10; 0: no push runs) goes into `bench/big` (every
other push) and the small `bench/r*` repositories: new manifests on the seeded blobs, each unique by an
annotation, one in four by tag, as the seeding pushes them (a fixed schedule, at most PUSH_CLIENTS at a
time, so a slow push does not slow the rate down until they are all busy).

Prints the seeding rate, and per scenario and user p50/p95/p99 (ms), requests/s and the verdict
against the target: p95 <= 100 ms; for the `+push` rows also the push rate achieved and the pushes'
p50/p95. With --keep the seeded database is left in place (its name is
printed) and --reuse NAME measures it again without seeding. --core-cache-mb sets core's artifact list
cache (default 64 as in production; 0 measures every request against the database). Everything else
started is stopped and removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from bench.common import (
    CpuMeter,
    Result,
    Target,
    cleaned_up,
    exit_on_interrupt,
    install_interrupts,
    run_async,
    slice_,
)
from services.common.oci import mediatypes as mt
from tests.harness.core import CoreProcess
from tests.harness.plugin import ADMIN_CREDENTIALS, REDIS_URL, RegistryProcess, TestDatabase, free_port
from tests.harness.token import TokenServiceProcess, add_member, add_project, add_user, query

CLIENTS = 50
SEED_CLIENTS = 32
TARGET_P95_MS = 100.0
PROJECT, BIG = "bench", "big"
BENCH_SMALL_REPOS = 150
OTHER_PROJECTS, OTHER_REPOS = 3, 50
MEMBER, MEMBER_PASSWORD = "bench-member", "Bench-Secret-123"
TAG_EVERY = 4
PUSH_CLIENTS = 8
PUSH_LABEL = " +push"


# --- the stack -----------------------------------------------------------------------------------------


@dataclass
class Stack:
    db: TestDatabase
    token: TokenServiceProcess
    registry: RegistryProcess
    core: CoreProcess


@contextlib.contextmanager
def running_stack(reuse: str | None, keep: bool, core_cache_mb: int = 64) -> Iterator[Stack]:
    with cleaned_up() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="berth-artifact-bench-")))
        db = TestDatabase()
        if reuse:
            db.name = reuse
        else:
            db.create()
            if not keep:
                stack.callback(db.drop)
        token = TokenServiceProcess(tmp / "token", db)
        stack.callback(token.stop)
        token.start()
        registry = RegistryProcess(tmp / "registry", db, token=token)
        stack.callback(registry.stop)
        registry.start()
        port = free_port()
        core = CoreProcess(
            tmp / "core",
            db,
            port=port,
            settings={
                "redis": {"url": REDIS_URL, "key_prefix": registry.redis_prefix},
                # The whole section (the settings replace CoreProcess's own `core`).
                "core": {"host": "127.0.0.1", "port": port, "cache_mb": core_cache_mb},
            },
        )
        stack.callback(core.stop)
        core.start()
        yield Stack(db, token, registry, core)


# --- seeding -------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Where the N artifacts go: repository names and how many each gets."""

    counts: dict[str, int]

    @classmethod
    def of(cls, n: int) -> Layout:
        big = n // 4
        small = [f"{PROJECT}/r{i:03d}" for i in range(BENCH_SMALL_REPOS)]
        others = [f"other{p}/r{i:03d}" for p in range(1, OTHER_PROJECTS + 1) for i in range(OTHER_REPOS)]
        counts = {f"{PROJECT}/{BIG}": big}
        rest = n - big
        in_bench = rest * 2 // 3
        for names, total in ((small, in_bench), (others, rest - in_bench)):
            for i, name in enumerate(names):
                counts[name] = total // len(names) + (1 if i < total % len(names) else 0)
        return cls(counts)

    @property
    def projects(self) -> list[str]:
        return sorted({name.split("/")[0] for name in self.counts})

    def jobs(self) -> Iterator[tuple[str, int]]:
        """(repository, sequence number) interleaved over the repositories, as pushes would arrive."""
        remaining = dict(self.counts)
        seq = 0
        while remaining:
            for name in list(remaining):
                # The big repository gets its share in every round, so ids interleave throughout.
                share = max(1, round(self.counts[name] / max(1, min(self.counts.values()))))
                for _ in range(min(share, remaining[name])):
                    yield name, seq
                    seq += 1
                    remaining[name] -= 1
                if remaining[name] == 0:
                    del remaining[name]


def basic_auth(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blobs_for(repo: str) -> tuple[bytes, bytes]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"repo": repo}}}).encode()
    return config, f"the one layer of {repo}".encode()


def manifest_for(repo: str, seq: int) -> bytes:
    config, layer = blobs_for(repo)
    body = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": mt.OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}],
        "annotations": {"org.example.bench.seq": str(seq)},
    }
    return json.dumps(body).encode()


class Tokens:
    """The admin's push tokens, one per repository, fetched once."""

    def __init__(self, stack: Stack, session: aiohttp.ClientSession) -> None:
        self._url, self._session = f"{stack.token.url}/service/token", session
        self._tokens: dict[str, str] = {}

    async def of(self, repo: str) -> str:
        if repo not in self._tokens:
            params = {"service": "berth-registry", "scope": f"repository:{repo}:pull,push"}
            headers = {"Authorization": basic_auth(*ADMIN_CREDENTIALS)}
            async with self._session.get(self._url, params=params, headers=headers) as r:
                r.raise_for_status()
                self._tokens[repo] = (await r.json())["token"]
        return self._tokens[repo]


async def put_manifest(session: aiohttp.ClientSession, registry: str, token: str, repo: str, seq: int) -> None:
    """One manifest on the repository's seeded blobs, unique by `seq`; by tag when `seq` is a multiple
    of TAG_EVERY, by digest otherwise."""
    manifest = manifest_for(repo, seq)
    reference = f"v{seq}" if seq % TAG_EVERY == 0 else digest_of(manifest)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": mt.OCI_MANIFEST}
    async with session.put(f"{registry}/v2/{repo}/manifests/{reference}", data=manifest, headers=headers) as r:
        if r.status != 201:
            raise RuntimeError(f"manifest PUT {repo}:{reference}: {r.status} {await r.text()}")


async def seed(stack: Stack, layout: Layout) -> tuple[int, float]:
    """Every artifact of `layout` through the registry (token flow, blob uploads, manifest PUTs)."""
    registry = stack.registry.url
    connector = aiohttp.TCPConnector(limit=SEED_CLIENTS * 2, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        tokens = Tokens(stack, session)

        async def prepare(repo: str) -> None:
            headers = {"Authorization": f"Bearer {await tokens.of(repo)}"}
            for blob in blobs_for(repo):
                url = f"{registry}/v2/{repo}/blobs/uploads/?digest={digest_of(blob)}"
                async with session.post(url, data=blob, headers=headers) as r:
                    if r.status != 201:
                        raise RuntimeError(f"blob upload to {repo}: {r.status} {await r.text()}")

        sem = asyncio.Semaphore(SEED_CLIENTS)

        async def prepare_one(repo: str) -> None:
            async with sem:
                await prepare(repo)

        await asyncio.gather(*(prepare_one(repo) for repo in layout.counts))

        jobs = layout.jobs()
        total = sum(layout.counts.values())
        done = 0
        t0 = time.perf_counter()
        last_report = t0

        async def worker() -> None:
            nonlocal done, last_report
            for repo, seq in jobs:
                await put_manifest(session, registry, await tokens.of(repo), repo, seq)
                done += 1
                now = time.perf_counter()
                if now - last_report >= 15:
                    last_report = now
                    print(f"  {done:>7} / {total} artifacts, {done / (now - t0):.0f}/s", flush=True)

        await asyncio.gather(*(worker() for _ in range(SEED_CLIENTS)))
        return done, time.perf_counter() - t0


def add_people(stack: Stack, layout: Layout) -> None:
    for project in layout.projects:
        add_project(stack.db, project)
    add_user(stack.db, MEMBER, MEMBER_PASSWORD)
    add_member(stack.db, PROJECT, MEMBER, 2)  # developer
    add_member(stack.db, "other1", MEMBER, 3)  # guest somewhere else too: the member sees 2 of 4 projects


def vacuum_analyze(db: TestDatabase) -> None:
    async def work() -> None:
        conn = await asyncpg.connect(db.dsn())
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    t0 = time.perf_counter()
    asyncio.run(work())
    print(f"VACUUM ANALYZE: {time.perf_counter() - t0:.1f} s", flush=True)


# --- measuring -----------------------------------------------------------------------------------------


@dataclass
class Scenario:
    label: str
    path: str  # below /api/v2.0, without page
    total: int  # rows in the whole list (checked against X-Total-Count)


def spread_pages(pages: int, count: int) -> list[int]:
    """`count` pages spread evenly from the first to the last (all of them when there are fewer)."""
    if pages <= count:
        return list(range(1, pages + 1))
    return sorted({1 + round(i * (pages - 1) / (count - 1)) for i in range(count)})


def sep_of(path: str) -> str:
    return "&" if "?" in path else "?"


async def check(session: aiohttp.ClientSession, url: str, headers: dict[str, str], total: int, rows: int) -> None:
    """One untimed GET: 200, the whole list's length in X-Total-Count, `rows` rows on this page."""
    async with session.get(url, headers=headers) as r:
        body = await r.json()
        if r.status != 200:
            raise RuntimeError(f"GET {url}: {r.status} {body}")
        if int(r.headers["X-Total-Count"]) != total or len(body) != rows:
            raise RuntimeError(f"GET {url}: X-Total-Count {r.headers['X-Total-Count']}, {len(body)} rows")


class PushLoad:
    """`rate` manifest PUTs per second on a fixed schedule while `running`, every other one into
    `bench/big`, the rest round-robin into the small `bench/r*`; at most PUSH_CLIENTS in flight (a tick
    with all of them busy is skipped, so the rate achieved shows a registry that cannot keep up). Each
    push's latency goes to `result`, the Result of the slice being measured."""

    def __init__(self, stack: Stack, layout: Layout, rate: float) -> None:
        self.stack, self.rate = stack, rate
        small = [n for n in layout.counts if n.startswith(f"{PROJECT}/r")]
        self.repos = [r for pair in zip([f"{PROJECT}/{BIG}"] * len(small), small, strict=True) for r in pair]
        # Unique across runs on a kept database: the millisecond the run began, then a counter.
        self.seq = int(time.time() * 1000) * 1000
        self.result: Result | None = None
        self.pushed: list[str] = []  # repositories pushed to, in order

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=PUSH_CLIENTS, keepalive_timeout=60)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            tokens = Tokens(self.stack, session)
            for repo in set(self.repos):
                await tokens.of(repo)
            busy = asyncio.Semaphore(PUSH_CLIENTS)
            tasks: set[asyncio.Task[None]] = set()
            i = 0
            next_at = time.perf_counter()

            async def push(repo: str, seq: int, result: Result) -> None:
                t0 = time.perf_counter()
                try:
                    await put_manifest(session, self.stack.registry.url, await tokens.of(repo), repo, seq)
                except (aiohttp.ClientError, TimeoutError, RuntimeError):
                    result.errors += 1
                else:
                    result.latencies.append(time.perf_counter() - t0)
                    result.requests += 1
                    self.pushed.append(repo)
                finally:
                    busy.release()

            while True:
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                result = self.result
                if result is None or busy.locked():
                    continue
                await busy.acquire()
                repo = self.repos[i % len(self.repos)]
                i += 1
                self.seq += 1
                task = asyncio.create_task(push(repo, self.seq, result))
                tasks.add(task)
                task.add_done_callback(tasks.discard)


async def measured_slice(t: Target, duration: float, load: PushLoad | None) -> None:
    """slice_ (bench.common), with the push load running through it for a `+push` target."""
    pushing = load is not None and t.label.endswith(PUSH_LABEL)
    part = Result(t.label)
    if pushing:
        assert load is not None
        load.result = part
    t0 = time.perf_counter()
    try:
        await slice_(t, duration)
    finally:
        if load is not None:
            load.result = None
    part.wall = time.perf_counter() - t0
    PUSHES.setdefault(t.label, Result(t.label)).add(part)


# Per `+push` target: the pushes made during its slices (requests, latencies, wall).
PUSHES: dict[str, Result] = {}


async def measure(
    stack: Stack, scenarios: list[Scenario], layout: Layout, args: argparse.Namespace
) -> dict[str, Result]:
    api = stack.core.api
    size = args.page_size
    users = {"admin": ADMIN_CREDENTIALS, "member": (MEMBER, MEMBER_PASSWORD)}
    loads = ["", PUSH_LABEL] if args.push_rate > 0 else [""]
    rng = random.Random(7)
    targets = []
    for s in scenarios:
        pages = spread_pages(math.ceil(s.total / size), 200)
        urls = [f"{api}{s.path}{sep_of(s.path)}page={p}&page_size={size}" for p in pages]
        rng.shuffle(urls)
        for user, (name, password) in users.items():
            headers = {"Authorization": basic_auth(name, password)}
            for suffix in loads:
                meter = CpuMeter({"core": stack.core.pid, "registry": stack.registry.pid})
                targets.append(Target(f"{s.label} as {user}{suffix}", urls, CLIENTS, meter, headers))
    print(
        f"measuring: {CLIENTS} clients, page_size {size}, {args.seconds:g} s per scenario and user"
        f" in {args.slices} alternating slices"
        + (f", each also with {args.push_rate:g} pushes/s" if args.push_rate > 0 else ""),
        flush=True,
    )
    load = PushLoad(stack, layout, args.push_rate) if args.push_rate > 0 else None
    async with contextlib.AsyncExitStack() as sessions:
        for t, s in zip(targets, [s for s in scenarios for _ in users for _ in loads], strict=True):
            connector = aiohttp.TCPConnector(limit=CLIENTS, force_close=False, keepalive_timeout=60)
            t.session = await sessions.enter_async_context(
                aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
            )
            pages = math.ceil(s.total / size)
            base = f"{api}{s.path}{sep_of(s.path)}"
            await check(t.session, f"{base}page=1&page_size={size}", t.headers, s.total, min(size, s.total))
            last = s.total - (pages - 1) * size
            await check(t.session, f"{base}page={pages}&page_size={size}", t.headers, s.total, last)
            await slice_(t, min(1.0, args.seconds / 5))  # warm-up (connections, credential cache), discarded
            t.result = Result(t.label)
        print("  verified: totals and page lengths; warmed up", flush=True)
        pusher = asyncio.create_task(load.run()) if load is not None else None
        try:
            for i in range(args.slices):  # as bench.common.compare, the push load on for `+push` targets
                for t in targets if i % 2 == 0 else list(reversed(targets)):
                    await measured_slice(t, args.seconds / args.slices, load)
        finally:
            if pusher is not None:
                pusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pusher
    return {t.label: t.result for t in targets}


def report(results: dict[str, Result]) -> bool:
    print()
    print("details (CPU: cores busy on average; client is this process, 'other' the rest of the machine)")
    for r in results.values():
        print(f"  {r.label:<40} {r.requests:>6} ok {r.errors:>3} err  {r.wall:5.1f} s   CPU: {r.cpu_line()}")
        if r.requests:
            per = {k: v / r.requests * 1e3 for k, v in r.cpu.items()}
            print(f"  {'':<40} CPU per request: " + "  ".join(f"{k} {v:.1f} ms" for k, v in per.items()))
    print()
    print(f"summary ({CLIENTS} clients; target p95 <= {TARGET_P95_MS:.0f} ms)")
    ok = True
    for r in results.values():
        hit = r.pct(95) <= TARGET_P95_MS and not r.errors
        ok = ok and hit
        pushes = PUSHES.get(r.label)
        pushed = ""
        if pushes is not None and pushes.label.endswith(PUSH_LABEL):
            pushed = f"   pushes {pushes.rps:4.1f}/s p50 {pushes.pct(50):5.0f} p95 {pushes.pct(95):5.0f} ms"
            if pushes.errors:
                pushed += f" ({pushes.errors} failed)"
        print(
            f"  {r.label:<40} {r.rps:6.0f} req/s  p50 {r.pct(50):6.1f}  p95 {r.pct(95):6.1f}  p99 {r.pct(99):6.1f} ms"
            f"   {'OK' if hit else 'MISS'}{pushed}"
        )
        if r.errors:
            print(f"  WARNING: {r.errors} failed requests (counted out of the rates)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.artifact_list_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=int, default=100_000, help="artifacts to seed (default 100,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per scenario and user (default 10)")
    parser.add_argument("--slices", type=int, default=2, help="alternating slices (default 2)")
    parser.add_argument("--page-size", type=int, default=15, help="page_size of every list (default 15, as the UI)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keep", action="store_true", help="leave the seeded database in place for --reuse")
    group.add_argument("--reuse", metavar="NAME", help="measure a database kept by --keep, without seeding")
    parser.add_argument("--core-cache-mb", type=int, default=64, help="core's artifact list cache (default 64; 0: off)")
    parser.add_argument(
        "--push-rate", type=float, default=10.0, help="pushes/s during the `+push` runs (default 10; 0: none)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()

    install_interrupts()
    started = time.monotonic()
    ok = False
    with exit_on_interrupt():
        print("starting PostgreSQL database, token service, registry, core ...", flush=True)
        with running_stack(args.reuse, args.keep, args.core_cache_mb) as stack:
            if args.reuse:
                n = int(query(stack.db, "SELECT count(*) AS n FROM artifacts")[0]["n"])
                layout = Layout.of(n)
                print(f"reusing database {args.reuse}: {n} artifacts", flush=True)
            else:
                layout = Layout.of(args.artifacts)
                add_people(stack, layout)
                print(
                    f"seeding {args.artifacts} artifacts into {len(layout.counts)} repositories of"
                    f" {len(layout.projects)} projects, {SEED_CLIENTS} clients ...",
                    flush=True,
                )
                done, wall = run_async(seed(stack, layout))
                print(f"seeded {done} artifacts in {wall:.0f} s: {done / wall:.0f} manifest PUTs/s", flush=True)
                if args.keep:
                    print(f"kept database {stack.db.name}: --reuse {stack.db.name}", flush=True)
            # As autovacuum would by now on a production server (this machine's test server runs without it):
            # planner statistics, and the visibility map that index-only scans need.
            vacuum_analyze(stack.db)
            bench_repos = [n for n in layout.counts if n.startswith(PROJECT + "/")]
            # From the database: a kept one holds the pushes of earlier runs too.
            big_total = int(
                query(
                    stack.db,
                    "SELECT count(*) AS n FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
                    " WHERE r.name = $1",
                    f"{PROJECT}/{BIG}",
                )[0]["n"]
            )
            project_id = int(query(stack.db, "SELECT id FROM projects WHERE name = $1", PROJECT)[0]["id"])
            scenarios = [
                Scenario(
                    "artifacts (big repo)",
                    f"/projects/{PROJECT}/repositories/{BIG}/artifacts?with_tag=true",
                    big_total,
                ),
                Scenario("project repositories", f"/projects/{PROJECT}/repositories?sort=name", len(bench_repos)),
                Scenario("all repos, q=project_id", f"/repositories?q=project_id={project_id}", len(bench_repos)),
            ]
            results = run_async(measure(stack, scenarios, layout, args))
            ok = report(results)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.strict and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
