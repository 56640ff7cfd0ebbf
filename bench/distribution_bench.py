"""Berth against CNCF Distribution: blob push, blob pull, manifest GET by tag and tokens, in one run.

    .venv/bin/python -m bench.distribution_bench [--quick] [--replicas N] [--strict] [--keep DIR]

Starts Debian's `docker-registry` (CNCF Distribution 2.8: filesystem storage, no auth, its default info
log) and the whole Berth stack as `make run` starts it (the launcher: nginx in front, token auth on, the
log collector receiving every service's lines, a database of its own), then drives both from one aiohttp
client in this process, in alternating slices so that the noise of a small machine falls on both alike:

- push: 8 MiB random blobs, POST + PATCH 5 MiB chunks (Content-Range) + PUT ?digest=, 4 clients, the same
  blobs to both. Target: Berth >= 1.0x Distribution's MB/s.
- pull: those blobs round-robin, 4 clients. Target: >= 1.0x.
- manifest: GET /v2/<repo>/manifests/<tag> (OCI Accept header), 16 connections. Target: >= 1.5x req/s.
- tokens: GET /service/token with a developer member's HTTP Basic credentials, 32 clients, through nginx
  (Distribution has no token service). Target: >= 5,000 tokens/s.

Berth's requests carry a bearer token, as a client's do; Distribution's carry the same header, which it
ignores. Everything started is stopped and removed at the end, also on Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

from bench.common import (
    Blob,
    CpuMeter,
    MiB,
    PushTarget,
    Result,
    Target,
    blob_check,
    children,
    cleaned_up,
    compare,
    exit_on_interrupt,
    install_interrupts,
    new_session,
    push_compare,
    run_async,
    service_pids,
    verify,
)
from services.common.oci import mediatypes as mt
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of, push_image
from tests.harness.plugin import TestDatabase
from tests.harness.registry_auth import fetch_token
from tests.harness.stack import StackProcess
from tests.harness.token import add_member, add_project, add_user

BLOB_COUNT = 32
BLOB_SIZE = 8 * MiB
CHUNK_SIZE = 5 * MiB
PUSH_CLIENTS = 4
PULL_CLIENTS = 4
MANIFEST_CLIENTS = 16
TOKEN_CLIENTS = 32
SERVICE = "berth-registry"
PROJECT, USER, PASSWORD = "bench", "bench-developer", "Bench-Secret-123"
PUSH_TARGET, PULL_TARGET, MANIFEST_TARGET, TOKEN_TARGET = 1.0, 1.0, 1.5, 5000.0


@dataclass
class Stacks:
    berth: StackProcess
    distribution: DistributionProcess
    tmp: Path


@contextlib.contextmanager
def running(replicas: int) -> Iterator[Stacks]:
    with cleaned_up() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="berth-distribution-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db = TestDatabase().create()
        stack.callback(db.drop)
        many = {"replicas": replicas}
        berth = StackProcess(tmp / "berth", database=db, settings={"registry": many, "token": many, "core": many})
        stack.callback(berth.stop)
        berth.start()
        add_project(db, PROJECT)
        add_user(db, USER, PASSWORD)
        add_member(db, PROJECT, USER, 2)  # developer: pull and push

        distribution = DistributionProcess(tmp / "distribution")
        stack.callback(distribution.stop)
        distribution.start()
        yield Stacks(berth, distribution, tmp)


# --- processes and their CPU ---------------------------------------------------------------------------


def meters(stacks: Stacks) -> tuple[CpuMeter, CpuMeter, CpuMeter]:
    """(Berth's registry side, Berth's token side, Distribution): the processes each side's work runs in."""
    status = stacks.berth.status()
    proxy = service_pids(status, "proxy")
    nginx = [worker for master in proxy for worker in children(master)] or proxy
    assert stacks.distribution._proc is not None
    return (
        CpuMeter({"registry": service_pids(status, "registry"), "nginx": nginx}),
        CpuMeter({"token": service_pids(status, "token"), "nginx": nginx}),
        CpuMeter({"distribution": [stacks.distribution._proc.pid]}),
    )


# --- push ----------------------------------------------------------------------------------------------


# --- wrk: a client in C, for the small requests ----------------------------------------------------------

WRK = "/usr/bin/wrk"
# Prints what a slice measured in one line the bench parses (wrk's own summary rounds and changes units).
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BERTH-WRK %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class WrkTarget:
    """GETs of one URL from wrk (one thread, `connections` kept alive): an aiohttp client would spend
    more CPU on each small request than the servers under test do, on the same two cores."""

    label: str
    url: str
    connections: int
    meter: CpuMeter
    headers: dict[str, str]
    script: Path
    result: Result = field(init=False)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.result = Result(self.label)


async def wrk_slice(t: WrkTarget, seconds: float, *, keep: bool = True) -> None:
    args = [WRK, "-t1", f"-c{t.connections}", f"-d{max(1, round(seconds))}s", "-s", str(t.script)]
    for name, value in t.headers.items():
        args += ["-H", f"{name}: {value}"]
    before, children = t.meter.snapshot(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = await asyncio.create_subprocess_exec(*args, t.url, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    after, children_after = t.meter.snapshot(), resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in out.decode().splitlines() if x.startswith("BERTH-WRK ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk {t.url}: exit {proc.returncode}: {out.decode()[-500:]}")
    if not keep:
        return
    requests, duration_us, status_errors, socket_errors, p50_us, p99_us = (int(v) for v in line.split()[1:])
    cpu = t.meter.delta(before, after)
    # The client is wrk, not this process.
    cpu["client"] = (children_after.ru_utime + children_after.ru_stime) - (children.ru_utime + children.ru_stime)
    t.result.add(
        Result(
            t.label,
            requests=requests - status_errors,
            errors=status_errors + socket_errors,
            wall=duration_us / 1e6,
            cpu=cpu,
        )
    )
    t.p50_ms.append(p50_us / 1000)
    t.p99_ms.append(p99_us / 1000)


async def wrk_compare(targets: list[WrkTarget], seconds: float, slices: int) -> None:
    for t in targets:
        await wrk_slice(t, 1, keep=False)  # warm-up: connections, caches
    for i in range(slices):
        for t in targets if i % 2 == 0 else list(reversed(targets)):
            await wrk_slice(t, seconds / slices)


# --- the workload --------------------------------------------------------------------------------------


@dataclass
class Figures:
    push: dict[str, Result]
    pull: dict[str, Result]
    manifest: dict[str, WrkTarget]
    token: WrkTarget


def verify_get(url: str, headers: dict[str, str], good: Callable[[httpx.Response], bool]) -> None:
    """One untimed GET whose answer must be right before wrk repeats it (wrk counts only statuses)."""
    r = httpx.get(url, headers=headers, timeout=60)
    if not good(r):
        raise RuntimeError(f"GET {url}: {r.status_code} {r.content[:200]!r}")


async def workload(stacks: Stacks, args: argparse.Namespace) -> Figures:
    berth_url, dist_url = stacks.berth.url, stacks.distribution.url
    registry_meter, token_meter, dist_meter = meters(stacks)
    repo = f"{PROJECT}/blobs"
    scopes = [f"repository:{repo}:pull,push", f"repository:{PROJECT}/manifest:pull,push"]
    bearer = {"Authorization": "Bearer " + fetch_token(f"{berth_url}/service/token", SERVICE, scopes, (USER, PASSWORD))}

    # manifests first (small; each side gets the same image) ---------------------------------------------
    manifest = b""
    for base in (berth_url, dist_url):
        with httpx.Client(base_url=base, timeout=60, headers=bearer) as client:
            manifest, _ = push_image(client, f"{PROJECT}/manifest", "latest", layers=[b"bench layer"])

    print(f"generating {BLOB_COUNT} blobs of {BLOB_SIZE // MiB} MiB ...", flush=True)
    blobs = []
    for _ in range(BLOB_COUNT):
        data = os.urandom(BLOB_SIZE)
        blobs.append(Blob(data, digest_of(data)))

    async with contextlib.AsyncExitStack() as sessions:

        async def session(concurrency: int) -> aiohttp.ClientSession:
            return await sessions.enter_async_context(new_session(concurrency, bearer))

        # 1. push ---------------------------------------------------------------------------------------
        pushes = [
            PushTarget("berth", berth_url, repo, registry_meter, await session(PUSH_CLIENTS), CHUNK_SIZE, PUSH_CLIENTS),
            PushTarget(
                "distribution", dist_url, repo, dist_meter, await session(PUSH_CLIENTS), CHUNK_SIZE, PUSH_CLIENTS
            ),
        ]
        print(
            f"push: {BLOB_COUNT} x {BLOB_SIZE // MiB} MiB in {CHUNK_SIZE // MiB} MiB chunks, {PUSH_CLIENTS} clients,"
            f" {args.slices} alternating slices",
            flush=True,
        )
        await push_compare(pushes, blobs, args.slices)

        # 2. pull ---------------------------------------------------------------------------------------
        pulls = [
            Target("berth", [f"{berth_url}/v2/{repo}/blobs/{b.digest}" for b in blobs], PULL_CLIENTS, registry_meter),
            Target("distribution", [f"{dist_url}/v2/{repo}/blobs/{b.digest}" for b in blobs], PULL_CLIENTS, dist_meter),
        ]
        print(f"pull: {PULL_CLIENTS} clients, {args.pull_seconds:g} s per side in {args.slices} slices", flush=True)
        for t in pulls:
            t.session = await session(PULL_CLIENTS)
            await verify(t, blob_check(blobs))
        await compare(pulls, args.pull_seconds, args.slices)
        del blobs

    # 3. manifest and 4. tokens: wrk ---------------------------------------------------------------------
    script = stacks.tmp / "report.lua"
    script.write_text(WRK_REPORT)
    accept = {"Accept": mt.OCI_MANIFEST}
    path = f"/v2/{PROJECT}/manifest/manifests/latest"
    for base in (berth_url, dist_url):
        verify_get(base + path, {**bearer, **accept}, lambda r: r.status_code == 200 and r.content == manifest)
    manifests = [
        WrkTarget("berth", berth_url + path, MANIFEST_CLIENTS, registry_meter, {**bearer, **accept}, script),
        WrkTarget("distribution", dist_url + path, MANIFEST_CLIENTS, dist_meter, {**bearer, **accept}, script),
    ]
    print(f"manifest: wrk, {MANIFEST_CLIENTS} connections, {args.seconds:g} s per side", flush=True)
    await wrk_compare(manifests, args.seconds, args.slices)

    basic = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    query = f"/service/token?service={SERVICE}&scope=repository:{PROJECT}/app:pull,push"
    verify_get(berth_url + query, basic, lambda r: r.status_code == 200 and "token" in r.json())
    tokens = WrkTarget("berth", berth_url + query, TOKEN_CLIENTS, token_meter, basic, script)
    print(f"tokens: wrk, HTTP Basic, {TOKEN_CLIENTS} connections through nginx, {args.seconds:g} s", flush=True)
    await wrk_compare([tokens], args.seconds, args.slices)

    return Figures(
        push={t.label: t.result for t in pushes},
        pull={t.label: t.result for t in pulls},
        manifest={t.label: t for t in manifests},
        token=tokens,
    )


# --- report --------------------------------------------------------------------------------------------


def percentiles(side: Result | WrkTarget) -> tuple[float, float]:
    """(p50, p99) in ms: of every request for the aiohttp clients; for wrk, over its slices (the median
    slice's p50 and the worst slice's p99)."""
    if isinstance(side, WrkTarget):
        return statistics.median(side.p50_ms) if side.p50_ms else float("nan"), max(side.p99_ms, default=float("nan"))
    return side.pct(50), side.pct(99)


def report(f: Figures, replicas: int) -> bool:
    print()
    print("details (CPU: cores busy on average; client is the load generator; 'other' the rest of the machine)")
    rows: list[tuple[str, Result]] = [
        *(("push", r) for r in f.push.values()),
        *(("pull", r) for r in f.pull.values()),
        *(("manifest", t.result) for t in f.manifest.values()),
        ("tokens", f.token.result),
    ]
    for what, r in rows:
        bulk = what in ("push", "pull")
        rate = f"{r.mb_s:7.0f} MB/s " if bulk else f"{r.rps:7.0f} req/s"
        counts = f"{r.requests:>6} ok {r.errors:>3} err {r.wall:5.1f} s"
        print(f"  {what:<9}{r.label:<13}{rate} {counts}  CPU: {r.cpu_line()}")
        if r.requests:
            unit, scale = ("ms", 1e3) if bulk else ("us", 1e6)
            per = "  ".join(f"{k} {v / r.requests * scale:.1f} {unit}" for k, v in r.cpu.items())
            print(f"  {'':<22}CPU per request: {per}")

    print()
    print(
        f"summary (Berth: the launcher's stack, {replicas} registry/token/core process(es), nginx in front, tokens on)"
    )
    verdicts = []

    def line(what: str, berth: Result | WrkTarget, dist: Result | WrkTarget, target: float) -> None:
        b, d = (x if isinstance(x, Result) else x.result for x in (berth, dist))
        bulk = what in ("push", "pull")
        value, base = (b.mb_s, d.mb_s) if bulk else (b.rps, d.rps)
        ratio = value / base if base else 0.0
        passed = ratio >= target and not b.errors
        verdicts.append(passed)
        unit = "MB/s " if bulk else "req/s"
        (bp50, bp99), (dp50, dp99) = percentiles(berth), percentiles(dist)
        print(
            f"  {what:<9} berth {value:6.0f} {unit} p50 {bp50:6.1f} p99 {bp99:7.1f} ms"
            f"   distribution {base:6.0f} {unit} p50 {dp50:6.1f} p99 {dp99:7.1f} ms"
            f"   ratio {ratio:.2f} (target >= {target}) {'OK' if passed else 'MISS'}"
        )

    line("push", f.push["berth"], f.push["distribution"], PUSH_TARGET)
    line("pull", f.pull["berth"], f.pull["distribution"], PULL_TARGET)
    line("manifest", f.manifest["berth"], f.manifest["distribution"], MANIFEST_TARGET)
    t = f.token.result
    passed = t.rps >= TOKEN_TARGET and not t.errors
    verdicts.append(passed)
    p50, p99 = percentiles(f.token)
    print(
        f"  tokens    berth {t.rps:6.0f} tokens/s p50 {p50:6.1f} p99 {p99:7.1f} ms"
        f"   (target >= {TOKEN_TARGET:.0f}/s) {'OK' if passed else 'MISS'}"
    )
    errors = sum(r.errors for _, r in rows)
    if errors:
        print(f"  WARNING: {errors} failed requests (counted out of the rates)")
    return all(verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.distribution_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements (a smoke run, noisier)")
    parser.add_argument("--replicas", type=int, default=1, help="registry, token and core processes (default 1)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", metavar="DIR", help="copy Berth's and Distribution's logs to DIR")
    args = parser.parse_args()
    args.pull_seconds = 2.0 if args.quick else 8.0
    args.seconds = 3.0 if args.quick else 10.0
    args.slices = 2 if args.quick else 4

    install_interrupts()
    ok = False
    started = time.monotonic()
    with exit_on_interrupt():
        print("starting PostgreSQL database, the Berth stack, docker-registry ...", flush=True)
        with running(args.replicas) as stacks:
            figures = run_async(workload(stacks, args))
            ok = report(figures, args.replicas)
            if args.keep:
                dest = Path(args.keep)
                dest.mkdir(parents=True, exist_ok=True)
                for log in [*stacks.tmp.rglob("*.log"), *stacks.tmp.rglob("*.out")]:
                    shutil.copy(log, dest / f"{log.parent.name}-{log.name}")
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.strict and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
