"""Storage and scale-out: blob push and pull with 1 and 2 registry replicas on the filesystem and on
SeaweedFS (nginx streaming from S3, and 307 redirects to pre-signed URLs), and garbage collection's
deletions per minute on SeaweedFS, each beside a baseline measured in the same run.

    .venv/bin/python -m bench.storage_bench [--quick] [--strict] [--gc-blobs N] [--keep DIR]

Starts one SeaweedFS (tests/harness/seaweedfs.py) and, per storage, two whole Berth stacks as `make run`
starts them (the launcher, nginx in front, token auth on, each on a database of its own): one with 1
registry process, one with 2 behind nginx's upstream. The two stacks of a storage run at the same time and
are driven from one aiohttp client in this process in alternating slices, so the noise of a small machine
falls on both alike:

- push: 8 MiB random blobs, POST + PATCH 5 MiB chunks (Content-Range) + PUT ?digest=, 4 clients, the same
  blobs to every stack.
- pull: those blobs round-robin, 8 clients through nginx (every body's sha256 checked first). With
  redirect the client follows the 307 to SeaweedFS, as docker does. Baseline for the S3 rows: the same
  clients GETting the same objects straight from SeaweedFS's S3 endpoint by pre-signed URLs. Targets:
  2 replicas >= 1.5x one replica's pull MB/s through nginx; S3 pull with redirect >= 0.9x SeaweedFS alone.
- GC (on the SeaweedFS stack of 1 registry): N unreferenced blobs (rows as the registry writes them, and
  their objects), plus untagged artifacts pushed through the OCI API, deleted by one GC run (time window
  0) through core's /system/gc; baseline: DeleteObjects of 1,000 keys straight to SeaweedFS, as many at
  once as GC has workers, on N/2 other objects (half before the GC run, half after). Target: >= 30,000
  deletions per minute.

Everything started is stopped and removed at the end, also on Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

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
from services.common.db import Database
from services.common.oci import mediatypes as mt
from services.common.settings import DatabaseSettings
from services.common.storage.factory import s3_client
from tests.harness.oci import digest_of
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, TestDatabase
from tests.harness.registry_auth import fetch_token
from tests.harness.seaweedfs import SeaweedFSProcess
from tests.harness.stack import ADMIN_PASSWORD, StackProcess

BLOB_COUNT = 32
BLOB_SIZE = 8 * MiB
CHUNK_SIZE = 5 * MiB
PUSH_CLIENTS = 4
PULL_CLIENTS = 8
SERVICE = "berth-registry"
REPO = "library/storage-bench"
ADMIN = ("admin", ADMIN_PASSWORD)
STORAGES = ("filesystem", "seaweedfs", "seaweedfs+redirect")
REPLICAS = (1, 2)
DIRECT = "seaweedfs alone"
GC_WORKERS = 5  # services.common.jobs.gc.MAX_WORKERS
GC_SEED_CLIENTS = 32  # PutObject calls at once while seeding
UNTAGGED_SHARE = 40  # one untagged artifact (config + layer) pushed through the OCI API per 40 seeded blobs
GC_DEADLINE_S = 600
REPLICA_TARGET, REDIRECT_TARGET, GC_TARGET = 1.5, 0.9, 30_000.0


@dataclass
class Deployment:
    """One Berth stack: a storage, a number of registry processes, its bucket (S3 only)."""

    storage: str
    replicas: int
    stack: StackProcess
    db: TestDatabase
    bucket: str | None

    @property
    def label(self) -> str:
        return f"{self.storage} x{self.replicas}"


@dataclass
class Row:
    storage: str
    replicas: int | None
    push: Result | None
    pull: Result


@dataclass
class GcFigures:
    seeded: int
    untagged: int
    seed_seconds: float
    deleted: int
    artifacts: int
    seconds: float
    log: list[str]
    left: int
    baseline_objects: int
    baseline_seconds: float
    cpu: dict[str, float]
    baseline_cpu: dict[str, float]


@dataclass
class Figures:
    rows: list[Row] = field(default_factory=list)
    gc: GcFigures | None = None


# --- processes ---------------------------------------------------------------------------------------------


def storage_settings(storage: str, seaweedfs: SeaweedFSProcess) -> tuple[dict[str, Any], str | None]:
    if storage == "filesystem":
        return {}, None
    bucket = seaweedfs.make_bucket()
    return {"storage": seaweedfs.storage_config(bucket, redirect=storage.endswith("+redirect"))}, bucket


@contextlib.contextmanager
def deployments(storage: str, seaweedfs: SeaweedFSProcess, tmp: Path) -> Iterator[list[Deployment]]:
    """The storage's stacks, 1 and 2 registry processes, started side by side; stopped and dropped after."""
    with cleaned_up() as stack:
        found = []
        for replicas in REPLICAS:
            db = TestDatabase().create()
            stack.callback(db.drop)
            settings, bucket = storage_settings(storage, seaweedfs)
            # The tests' pool size (8 per process), not production's 20: PostgreSQL here is shared and has
            # 100 connections for everyone, and a blob GET or PUT holds a connection only briefly.
            settings |= {"registry": {"replicas": replicas}}
            proc = StackProcess(tmp / f"{storage}-{replicas}".replace("+", "-"), database=db, settings=settings)
            stack.callback(proc.stop)
            found.append(Deployment(storage, replicas, proc, db, bucket))
        with concurrent.futures.ThreadPoolExecutor(len(found)) as pool:
            for started in [pool.submit(d.stack.start) for d in found]:
                started.result()
        yield found


def meter(d: Deployment, seaweedfs: SeaweedFSProcess) -> CpuMeter:
    status = d.stack.status()
    proxy = service_pids(status, "proxy")
    pids = {"registry": service_pids(status, "registry"), "nginx": [w for m in proxy for w in children(m)] or proxy}
    if d.bucket is not None:
        pids["weed"] = [weed_pid(seaweedfs)]
    return CpuMeter(pids)


def weed_pid(seaweedfs: SeaweedFSProcess) -> int:
    assert seaweedfs._proc is not None
    return seaweedfs._proc.pid


def bearer(d: Deployment) -> dict[str, str]:
    scopes = [f"repository:{REPO}:pull,push,delete"]
    return {"Authorization": "Bearer " + fetch_token(f"{d.stack.url}/service/token", SERVICE, scopes, ADMIN)}


def blob_key(digest: str) -> str:
    algorithm, hexpart = digest.split(":")
    return f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}/data"


# --- push and pull -----------------------------------------------------------------------------------------


async def storage_group(
    storage: str, group: list[Deployment], seaweedfs: SeaweedFSProcess, blobs: list[Blob], args: argparse.Namespace
) -> list[Row]:
    """Push to both stacks of a storage, then pull from them (and from SeaweedFS alone, for S3)."""
    async with contextlib.AsyncExitStack() as sessions:

        async def session(concurrency: int, headers: dict[str, str] | None) -> aiohttp.ClientSession:
            # Twice the clients' connections: a redirected GET holds one to nginx and one to SeaweedFS.
            return await sessions.enter_async_context(new_session(2 * concurrency, headers))

        meters = {d.label: meter(d, seaweedfs) for d in group}
        headers = {d.label: bearer(d) for d in group}
        pushes = [
            PushTarget(
                d.label,
                d.stack.url,
                REPO,
                meters[d.label],
                await session(PUSH_CLIENTS, headers[d.label]),
                CHUNK_SIZE,
                PUSH_CLIENTS,
            )
            for d in group
        ]
        print(f"{storage}: push {len(blobs)} x {BLOB_SIZE // MiB} MiB, {PUSH_CLIENTS} clients", flush=True)
        await push_compare(pushes, blobs, args.slices)

        pulls = [
            Target(d.label, [f"{d.stack.url}/v2/{REPO}/blobs/{b.digest}" for b in blobs], PULL_CLIENTS, meters[d.label])
            for d in group
        ]
        for t, d in zip(pulls, group, strict=True):
            t.session = await session(PULL_CLIENTS, headers[d.label])
        if storage != "filesystem":
            bucket = group[0].bucket
            client = await sessions.enter_async_context(s3_client(seaweedfs.settings(bucket or "")))
            urls = [
                await client.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": blob_key(b.digest)}, ExpiresIn=3600
                )
                for b in blobs
            ]
            direct = Target(DIRECT, urls, PULL_CLIENTS, CpuMeter({"weed": [weed_pid(seaweedfs)]}))
            direct.session = await session(PULL_CLIENTS, None)
            pulls.append(direct)
        print(f"{storage}: pull, {PULL_CLIENTS} clients, {args.pull_seconds:g} s per target", flush=True)
        for t in pulls:
            await verify(t, blob_check(blobs))
        await compare(pulls, args.pull_seconds, args.slices)

    rows = [Row(storage, d.replicas, p.result, t.result) for d, p, t in zip(group, pushes, pulls, strict=False)]
    if storage != "filesystem":
        rows.append(Row(storage, None, None, pulls[-1].result))
    return rows


# --- garbage collection ------------------------------------------------------------------------------------


async def limited(n: int, work: list[Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(n)

    async def one(job: Awaitable[None]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(job) for job in work))


def gc_data(n: int, what: str) -> list[bytes]:
    return [f"storage bench {what} {i} {os.urandom(8).hex()}".encode() for i in range(n)]


async def put_objects(client: Any, bucket: str, datas: list[bytes]) -> None:
    async def put(data: bytes) -> None:
        await client.put_object(Bucket=bucket, Key=blob_key(digest_of(data)), Body=data)

    await limited(GC_SEED_CLIENTS, [put(data) for data in datas])


async def delete_objects(client: Any, bucket: str, keys: list[str]) -> float:
    """The baseline: DeleteObjects of 1,000 keys, GC_WORKERS calls at once; seconds taken."""

    async def batch(chunk: list[str]) -> None:
        answer = await client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
        )
        if answer.get("Errors"):
            raise RuntimeError(f"DeleteObjects: {answer['Errors'][:3]}")

    started = time.perf_counter()
    await limited(GC_WORKERS, [batch(keys[i : i + 1000]) for i in range(0, len(keys), 1000)])
    return time.perf_counter() - started


async def push_untagged(session: aiohttp.ClientSession, base: str, count: int) -> None:
    """`count` artifacts by digest only (a config and a layer each), for GC's delete_untagged."""

    async def upload(data: bytes) -> None:
        async with session.post(f"{base}/v2/{REPO}/blobs/uploads/?digest={digest_of(data)}", data=data) as r:
            if r.status != 201:
                raise RuntimeError(f"blob upload: {r.status} {await r.text()}")

    async def image(i: int) -> None:
        config, layer = json.dumps({"untagged": i}).encode(), os.urandom(256)
        await upload(config)
        await upload(layer)
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
                "layers": [{"mediaType": mt.OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}],
            }
        ).encode()
        url = f"{base}/v2/{REPO}/manifests/{digest_of(body)}"
        async with session.put(url, data=body, headers={"Content-Type": mt.OCI_MANIFEST}) as r:
            if r.status != 201:
                raise RuntimeError(f"manifest PUT: {r.status} {await r.text()}")

    await limited(8, [image(i) for i in range(count)])


async def run_gc(session: aiohttp.ClientSession, base: str) -> tuple[int, float, list[str]]:
    """One manual GC through core, polled to its end: (run id, seconds from the POST, log lines)."""
    api = f"{base}/api/v2.0/system/gc"
    parameters = {"delete_untagged": True, "time_window": 0, "workers": GC_WORKERS}
    started = time.perf_counter()
    async with session.post(f"{api}/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters}) as r:
        if r.status != 201:
            raise RuntimeError(f"GC schedule: {r.status} {await r.text()}")
        run_id = int(r.headers["Location"].rsplit("/", 1)[1])
    while True:
        async with session.get(f"{api}/{run_id}") as r:
            status = (await r.json())["job_status"]
        if status in ("Success", "Error", "Stopped"):
            break
        if time.perf_counter() - started > GC_DEADLINE_S:
            raise RuntimeError(f"GC {run_id} did not finish within {GC_DEADLINE_S} s")
        await asyncio.sleep(0.05)
    took = time.perf_counter() - started
    async with session.get(f"{api}/{run_id}/log") as r:
        log = (await r.text()).splitlines()
    if status != "Success":
        raise RuntimeError(f"GC {run_id}: {status}\n" + "\n".join(log))
    return run_id, took, log


async def gc_bench(d: Deployment, seaweedfs: SeaweedFSProcess, args: argparse.Namespace) -> GcFigures:
    assert d.bucket is not None
    n = args.gc_blobs
    untagged = max(1, n // UNTAGGED_SHARE)
    settings = DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=d.db.name)
    db = Database(settings)
    await db.open()
    weed = CpuMeter({"weed": [weed_pid(seaweedfs)]})
    gc_meter = CpuMeter({"jobservice": service_pids(d.stack.status(), "jobservice"), "weed": [weed_pid(seaweedfs)]})
    try:
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(s3_client(seaweedfs.settings(d.bucket)))
            registry = await stack.enter_async_context(new_session(16, bearer(d)))
            basic = {"Authorization": aiohttp.encode_basic_auth(*ADMIN)}
            api = await stack.enter_async_context(aiohttp.ClientSession(headers=basic))
            baseline_bucket = seaweedfs.make_bucket()

            print(f"GC: seeding {n} unreferenced blobs and {untagged} untagged artifacts", flush=True)
            started = time.perf_counter()
            # The baseline's rate is steady over fewer objects; seeding them is most of the GC part's time.
            doomed, others = gc_data(n, "gc"), gc_data(max(1000, n // 2), "baseline")
            # As the registry leaves a blob no artifact references: its row (no repository link), its object.
            await db.pool.execute(
                "INSERT INTO blobs (digest, size, created_at) SELECT unnest($1::text[]), $2, now() - interval '1 hour'",
                [digest_of(data) for data in doomed],
                len(doomed[0]),
            )
            await put_objects(client, d.bucket, doomed)
            await push_untagged(registry, d.stack.url, untagged)
            await put_objects(client, baseline_bucket, others)
            seed_seconds = time.perf_counter() - started
            await db.pool.execute("VACUUM (ANALYZE)")

            keys = [blob_key(digest_of(data)) for data in others]
            half = len(keys) // 2 // 1000 * 1000 or len(keys)
            print(f"GC: baseline DeleteObjects, then GC ({GC_WORKERS} workers), then the baseline again", flush=True)
            before = weed.snapshot()
            baseline_seconds = await delete_objects(client, baseline_bucket, keys[:half])
            baseline_cpu = CpuMeter.delta(before, weed.snapshot())

            before = gc_meter.snapshot()
            run_id, seconds, log = await run_gc(api, d.stack.url)
            gc_cpu = CpuMeter.delta(before, gc_meter.snapshot())

            before = weed.snapshot()
            if keys[half:]:
                baseline_seconds += await delete_objects(client, baseline_bucket, keys[half:])
            for k, v in CpuMeter.delta(before, weed.snapshot()).items():
                baseline_cpu[k] += v
            result = json.loads(await db.pool.fetchval("SELECT result::text FROM jobs WHERE id = $1", run_id))
            left = 0
            async for page in client.get_paginator("list_objects_v2").paginate(Bucket=d.bucket, Prefix="blobs/"):
                left += len(page.get("Contents", []))
    finally:
        await db.close()
    return GcFigures(
        seeded=n,
        untagged=untagged,
        seed_seconds=seed_seconds,
        deleted=int(result["blobs"]),
        artifacts=int(result.get("untagged_artifacts", 0)),
        seconds=seconds,
        log=log,
        left=left,
        baseline_objects=len(keys),
        baseline_seconds=baseline_seconds,
        cpu=gc_cpu,
        baseline_cpu=baseline_cpu,
    )


# --- the run -----------------------------------------------------------------------------------------------


async def workload_group(
    storage: str, group: list[Deployment], seaweedfs: SeaweedFSProcess, blobs: list[Blob], args: argparse.Namespace
) -> tuple[list[Row], GcFigures | None]:
    rows = await storage_group(storage, group, seaweedfs, blobs, args)
    gc = None
    if storage == "seaweedfs" and args.gc_blobs:
        gc = await gc_bench(group[0], seaweedfs, args)
    return rows, gc


def run(args: argparse.Namespace) -> Figures:
    figures = Figures()
    print(f"generating {BLOB_COUNT} blobs of {BLOB_SIZE // MiB} MiB ...", flush=True)
    blobs = []
    for _ in range(BLOB_COUNT):
        data = os.urandom(BLOB_SIZE)
        blobs.append(Blob(data, "sha256:" + hashlib.sha256(data).hexdigest()))
    with cleaned_up() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="berth-storage-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        print("starting SeaweedFS ...", flush=True)
        seaweedfs = SeaweedFSProcess(tmp / "seaweedfs")
        stack.callback(seaweedfs.stop)
        seaweedfs.start()
        for storage in STORAGES:
            print(f"starting two stacks on {storage} (1 and 2 registry processes) ...", flush=True)
            with deployments(storage, seaweedfs, tmp) as group:
                rows, gc = run_async(workload_group(storage, group, seaweedfs, blobs, args))
                figures.rows += rows
                figures.gc = figures.gc or gc
        if args.keep:
            keep_logs(Path(args.keep), tmp)
    return figures


def keep_logs(dest: Path, tmp: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for log in [*tmp.rglob("*.log"), *tmp.rglob("*.out")]:
        shutil.copy(log, dest / f"{log.parent.parent.name}-{log.parent.name}-{log.name}")


# --- report ------------------------------------------------------------------------------------------------


def report(f: Figures) -> bool:
    print()
    print("details (CPU: cores busy on average; client is the load generator; 'other' the rest of the machine)")
    for row in f.rows:
        name = f"{row.storage} x{row.replicas}" if row.replicas else DIRECT
        for what, r in (("push", row.push), ("pull", row.pull)):
            if r is not None:
                counts = f"{r.requests:>5} ok {r.errors:>3} err {r.wall:5.1f} s"
                print(f"  {what:<5}{name:<24}{r.mb_s:7.0f} MB/s {counts}  CPU: {r.cpu_line()}")
    if f.gc is not None:
        g = f.gc
        print(f"  GC   {'jobservice + weed':<24}{g.seconds:7.1f} s     CPU: " + cpu_line(g.cpu, g.seconds))
        print(
            f"  GC   {'DeleteObjects':<24}{g.baseline_seconds:7.1f} s     CPU: "
            + cpu_line(g.baseline_cpu, g.baseline_seconds)
        )
        for line in g.log:
            print(f"  GC log: {line}")

    print()
    print("summary (whole stacks behind nginx, token auth; MB/s = MiB/s; ratios to baselines of the same run)")
    print(f"  {'storage':<20}{'registries':>10}{'push MB/s':>11}{'pull MB/s':>11}{'p50 ms':>8}{'p99 ms':>8}   ratios")
    verdicts: list[bool] = []
    one = {row.storage: row.pull for row in f.rows if row.replicas == 1}
    direct = {row.storage: row.pull for row in f.rows if row.replicas is None}
    for row in f.rows:
        r = row.pull
        push = f"{row.push.mb_s:11.0f}" if row.push else f"{'-':>11}"
        notes = []
        if row.replicas == 2:
            ratio = r.mb_s / one[row.storage].mb_s if one[row.storage].mb_s else 0.0
            if row.storage.endswith("+redirect"):
                notes.append(f"x1 replica {ratio:.2f} (informative: the bytes come from SeaweedFS)")
            else:
                notes.append(verdict(verdicts, f"x1 replica {ratio:.2f}", ratio, REPLICA_TARGET, r))
        if row.replicas is not None and row.storage in direct:
            ratio = r.mb_s / direct[row.storage].mb_s if direct[row.storage].mb_s else 0.0
            if row.storage.endswith("+redirect"):
                notes.append(verdict(verdicts, f"x{DIRECT} {ratio:.2f}", ratio, REDIRECT_TARGET, r))
            else:
                notes.append(f"x{DIRECT} {ratio:.2f}")
        registries = str(row.replicas) if row.replicas else DIRECT
        print(
            f"  {row.storage:<20}{registries:>10}{push}{r.mb_s:11.0f}{r.pct(50):8.1f}{r.pct(99):8.1f}   "
            + "; ".join(notes)
        )
    if f.gc is not None:
        g = f.gc
        rate = g.deleted / g.seconds * 60 if g.seconds else 0.0
        base = g.baseline_objects / g.baseline_seconds * 60 if g.baseline_seconds else 0.0
        print(
            f"  GC on SeaweedFS: {g.deleted:,} blobs and {g.artifacts:,} untagged artifacts deleted"
            f" in {g.seconds:.1f} s (POST to done), {rate:,.0f} blobs/min; {g.left} objects left under blobs/"
        )
        print(
            f"  DeleteObjects of 1,000 keys, {GC_WORKERS} at once: {g.baseline_objects:,} objects in"
            f" {g.baseline_seconds:.1f} s, {base:,.0f}/min; GC / DeleteObjects {rate / base if base else 0:.2f}"
        )
        passed = rate >= GC_TARGET and g.left == 0
        verdicts.append(passed)
        print(f"  GC deletions per minute {rate:,.0f} (target >= {GC_TARGET:,.0f}) {'OK' if passed else 'MISS'}")
        print(
            f"  (seeding: {g.seeded:,} blob rows and objects, the baseline's objects and the untagged pushes"
            f" took {g.seed_seconds:.0f} s)"
        )
    errors = sum(r.errors for row in f.rows for r in (row.push, row.pull) if r is not None)
    if errors:
        print(f"  WARNING: {errors} failed requests (counted out of the rates)")
    return all(verdicts)


def verdict(verdicts: list[bool], text: str, ratio: float, target: float, r: Result) -> str:
    passed = ratio >= target and not r.errors
    verdicts.append(passed)
    return f"{text} (target >= {target}) {'OK' if passed else 'MISS'}"


def cpu_line(cpu: dict[str, float], wall: float) -> str:
    return "  ".join(f"{k} {v / wall:.2f}" for k, v in cpu.items()) if wall else ""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements, fewer GC blobs (a smoke run)")
    parser.add_argument("--gc-blobs", type=int, help="unreferenced blobs to seed for GC (default 20000, quick 4000)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", metavar="DIR", help="copy the stacks' and SeaweedFS's logs to DIR")
    args = parser.parse_args()
    args.pull_seconds = 2.0 if args.quick else 8.0
    args.slices = 2 if args.quick else 4
    if args.gc_blobs is None:
        args.gc_blobs = 4000 if args.quick else 20_000

    install_interrupts()
    ok = False
    started = time.monotonic()
    with exit_on_interrupt():
        figures = run(args)
        ok = report(figures)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.strict and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
