"""Garbage collection while pushes go on: how fast GC deletes, and what it does to push latency.

Seeds N unreferenced blobs the way users make them (pushed through the registry's OCI API as layers of
images that are then deleted), a share of whose layers live images still reference; measures a push load
(clients pushing small images: two blobs and a manifest each, HEAD first as docker does) with no GC; then
runs GC (time window 0, 5 workers unless --workers says) through the jobservice while the same push load
runs, and prints deletions per minute and push p50/p99 during GC next to the idle figures of the same run.
Afterwards every blob a live or newly pushed image references must still be there, byte for byte.

    .venv/bin/python -m bench.gc_bench                 # 100,000 unreferenced blobs (about 10 minutes)
    .venv/bin/python -m bench.gc_bench --blobs 20000   # a quicker look

Targets on the 2-core development machine: >= 60,000 deletions per minute, push p99 during GC <= 1.5x idle,
no referenced blob lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.common import Result, cleaned_up, run_async
from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.models import GARBAGE_COLLECTION, Job, LogLine
from services.common.jobs.queue import JobQueue
from services.common.jobs.submit import JobSubmitter
from services.common.oci import mediatypes as mt
from services.common.redis import RedisClient
from services.common.settings import DatabaseSettings, RedisSettings
from tests.harness.jobservice import JobserviceProcess
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, REDIS_URL, RegistryProcess, TestDatabase
from tests.harness.registry_auth import fetch_token
from tests.harness.token import TokenServiceProcess, add_project

PROJECT = "gcbench"
LAYERS_PER_IMAGE = 100
LIVE_SHARE = 10  # one image in LIVE_SHARE stays; the deleted ones share SHARED_LAYERS layers with live ones
SHARED_LAYERS = 5
SEED_CLIENTS = 16
PUSH_CLIENTS = 4
# The push load without GC runs about as long as GC does on 100,000 blobs, so that both windows are as
# likely to hold the database's own hiccups (a checkpoint, autovacuum), and their p99s are of samples of a
# similar size (400 pushes made a p99 of their 4 slowest).
IDLE_SECONDS = 60.0
TARGET_DELETIONS_PER_MIN = 60_000
TARGET_P99_RATIO = 1.5
GC_DEADLINE_S = 1800


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(n: int) -> bytes:
    return hashlib.sha256(f"gc bench blob {n}".encode()).digest() * 4


def manifest(config: bytes, layers: list[bytes]) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": mt.OCI_LAYER, "digest": digest_of(x), "size": len(x)} for x in layers],
    }
    return json.dumps(doc).encode()


@dataclass
class Stack:
    db: TestDatabase
    token: TokenServiceProcess
    registry: RegistryProcess
    jobservice: JobserviceProcess


@contextlib.contextmanager
def running_stack(nice: int) -> Iterator[Stack]:
    with cleaned_up() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="berth-gc-bench-")))
        db = TestDatabase().create()
        stack.callback(db.drop)
        token = TokenServiceProcess(tmp / "token", db)
        stack.callback(token.stop)
        token.start()
        registry = RegistryProcess(tmp / "registry", db, token=token)
        stack.callback(registry.stop)
        registry.start()
        jobservice = JobserviceProcess(
            tmp / "jobservice", db, redis_prefix=registry.redis_prefix, storage_root=registry.storage_root, nice=nice
        )
        stack.callback(jobservice.stop)
        jobservice.start()
        add_project(db, PROJECT)
        yield Stack(db, token, registry, jobservice)


class Client:
    def __init__(self, session: aiohttp.ClientSession, registry: str, token: str) -> None:
        self.session, self.registry = session, registry
        self.headers = {"Authorization": f"Bearer {token}"}

    async def upload(self, repo: str, data: bytes) -> None:
        url = f"{self.registry}/v2/{repo}/blobs/uploads/?digest={digest_of(data)}"
        async with self.session.post(url, data=data, headers=self.headers) as r:
            if r.status != 201:
                raise RuntimeError(f"blob upload: {r.status} {await r.text()}")

    async def put_manifest(self, repo: str, reference: str, body: bytes) -> int:
        headers = {**self.headers, "Content-Type": mt.OCI_MANIFEST}
        async with self.session.put(
            f"{self.registry}/v2/{repo}/manifests/{reference}", data=body, headers=headers
        ) as r:
            await r.read()
            return r.status

    async def push_like_docker(self, repo: str, tag: str, blobs: list[bytes]) -> float:
        """HEAD each blob, upload the missing, PUT the manifest; again on BLOB_UNKNOWN. Seconds taken."""
        started = time.perf_counter()
        body = manifest(blobs[0], blobs[1:])
        for _ in range(10):
            for data in blobs:
                async with self.session.head(
                    f"{self.registry}/v2/{repo}/blobs/{digest_of(data)}", headers=self.headers
                ) as r:
                    present = r.status == 200
                if not present:
                    await self.upload(repo, data)
            if await self.put_manifest(repo, tag, body) == 201:
                return time.perf_counter() - started
        raise RuntimeError(f"{repo}:{tag} never accepted")

    async def delete_manifest(self, repo: str, digest: str) -> None:
        async with self.session.delete(f"{self.registry}/v2/{repo}/manifests/{digest}", headers=self.headers) as r:
            if r.status != 202:
                raise RuntimeError(f"manifest delete: {r.status} {await r.text()}")


async def gather_limited(n: int, jobs: list) -> None:  # type: ignore[type-arg]
    gate = asyncio.Semaphore(n)

    async def one(job) -> None:  # type: ignore[no-untyped-def]
        async with gate:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


async def seed(client: Client, unreferenced: int) -> tuple[list[list[bytes]], float]:
    """Live images (kept) and deleted ones; returns the live images' blobs and seconds taken."""
    repo = f"{PROJECT}/seed"
    per_deleted = LAYERS_PER_IMAGE - SHARED_LAYERS
    deleted_images = -(-unreferenced // per_deleted)
    live_images = max(1, deleted_images // LIVE_SHARE)
    n = 0
    live: list[list[bytes]] = []
    for i in range(live_images):
        live.append([json.dumps({"live": i}).encode(), *(blob(n + k) for k in range(LAYERS_PER_IMAGE))])
        n += LAYERS_PER_IMAGE
    doomed: list[list[bytes]] = []
    for i in range(deleted_images):
        shared = [live[(i + k) % live_images][1 + k] for k in range(SHARED_LAYERS)]
        own = [blob(n + k) for k in range(per_deleted)]
        n += per_deleted
        doomed.append([json.dumps({"doomed": i}).encode(), *shared, *own])
    started = time.perf_counter()
    everything = {digest_of(b): b for image in live + doomed for b in image}
    print(f"seeding: {len(everything)} blobs, {live_images} live images, {deleted_images} to delete", flush=True)
    await gather_limited(SEED_CLIENTS, [client.upload(repo, b) for b in everything.values()])
    bodies = [manifest(img[0], img[1:]) for img in live + doomed]
    statuses = []

    async def put(i: int, body: bytes) -> None:
        statuses.append(await client.put_manifest(repo, f"i{i}", body))

    await gather_limited(SEED_CLIENTS, [put(i, b) for i, b in enumerate(bodies)])
    assert set(statuses) == {201}, set(statuses)
    await gather_limited(SEED_CLIENTS, [client.delete_manifest(repo, digest_of(b)) for b in bodies[live_images:]])
    return live, time.perf_counter() - started


async def push_load(client: Client, stop: asyncio.Event, label: str) -> tuple[Result, list[list[bytes]], list[float]]:
    """PUSH_CLIENTS pushing until `stop` is set."""
    result = Result(label)
    pushed: list[list[bytes]] = []
    started = time.perf_counter()
    ended: list[float] = []  # the wall-clock end of each push, beside its latency

    async def pusher(p: int) -> None:
        i = 0
        while not stop.is_set():
            blobs = [json.dumps({"label": label, "p": p, "i": i}).encode(), os.urandom(2048)]
            result.latencies.append(await client.push_like_docker(f"{PROJECT}/load", f"{label}-{p}-{i}", blobs))
            ended.append(time.time())
            result.requests += 1
            pushed.append(blobs)
            i += 1

    await asyncio.gather(*(pusher(p) for p in range(PUSH_CLIENTS)))
    result.wall = time.perf_counter() - started
    return result, pushed, ended


async def main_async(args: argparse.Namespace, stack: Stack) -> int:
    token = fetch_token(
        f"{stack.token.url}/service/token",
        "berth-registry",
        [f"repository:{PROJECT}/seed:pull,push,delete", f"repository:{PROJECT}/load:pull,push"],
        ("admin", "Harbor12345"),
    )
    connector = aiohttp.TCPConnector(limit=64)
    db = Database(DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=stack.db.name))
    redis = RedisClient(RedisSettings(url=REDIS_URL, key_prefix=stack.registry.redis_prefix))
    await db.open()
    await redis.open()
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:
            client = Client(session, stack.registry.url, token)
            live, took = await seed(client, args.blobs)
            print(f"seeded in {took:.0f} s", flush=True)
            # The seeding's deletes vacuumed now, not by autovacuum during the idle window: both windows
            # start from a settled database, and what GC's own changes cost (autovacuum after its deletes
            # included) is GC's.
            await db.pool.execute("VACUUM (ANALYZE)")
            quiet = asyncio.Event()
            asyncio.get_running_loop().call_later(args.idle_seconds, quiet.set)
            idle, pushed, _ = await push_load(client, quiet, "idle")
            candidates = await db.pool.fetchval(
                "SELECT count(*) FROM blobs b"
                " WHERE NOT EXISTS (SELECT 1 FROM artifact_blobs ab WHERE ab.digest = b.digest)"
            )
            stop = asyncio.Event()
            load = asyncio.create_task(push_load(client, stop, "gc"))
            await asyncio.sleep(1)  # the load is running
            job_id = await JobSubmitter(db, JobQueue(redis)).submit(
                GARBAGE_COLLECTION, {"time_window": 0, "workers": args.workers}
            )
            gc_started = time.perf_counter()
            while (job := await store.get(db.pool, job_id)) is not None and not job.finished:
                if time.perf_counter() - gc_started > GC_DEADLINE_S:
                    raise RuntimeError(f"GC did not finish within {GC_DEADLINE_S} s")
                await asyncio.sleep(0.05)
            gc_took = time.perf_counter() - gc_started
            stop.set()
            during, pushed_during, ended = await load
            assert job is not None and job.status == "success", job
            deleted = int(job.result["blobs"])
            log_lines = await store.read_log(db.pool, job_id)
            job_log = [line.message for line in log_lines]
            phases = phase_p99(job, log_lines, during.latencies, ended)
            lost = await check(stack, db, live + pushed + pushed_during, client)
    finally:
        await redis.close()
        await db.close()
    per_min = deleted / gc_took * 60
    ratio = during.pct(99) / idle.pct(99)
    print()
    print(f"unreferenced blobs before GC: {candidates}; GC deleted {deleted} in {gc_took:.1f} s (job's own time)")
    for message in job_log:  # the phases' own times
        print(f"  job log: {message}")
    print(f"{'':<28}{'pushes':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for r in (idle, during):
        name = "push, " + ("no GC" if r is idle else "during GC")
        print(f"{name:<28}{r.requests:>8}{r.pct(50):>10.0f}{r.pct(99):>10.0f}")
    for name, r in phases:
        print(f"{'  during ' + name:<28}{r.requests:>8}{r.pct(50):>10.0f}{r.pct(99):>10.0f}")
    ok = per_min >= TARGET_DELETIONS_PER_MIN and ratio <= TARGET_P99_RATIO and lost == 0
    print(f"deletions per minute: {per_min:,.0f} (target >= {TARGET_DELETIONS_PER_MIN:,})")
    print(f"push p99 during GC / idle: {ratio:.2f} (target <= {TARGET_P99_RATIO})")
    print(f"referenced blobs lost: {lost} (target 0)")
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok or not args.strict else 1


def phase_p99(job: Job, lines: list[LogLine], latencies: list[float], ended: list[float]) -> list[tuple[str, Result]]:
    """The pushes during GC split by the phase they ended in (the job's start, its 'marked' log line, its
    'deleted' line), to see which phase costs pushes what."""
    marked = next((x.at for x in lines if x.message.startswith("marked")), None)
    swept = next((x.at for x in lines if x.message.startswith("deleted") and "blobs" in x.message), None)
    if job.started_at is None or marked is None or swept is None:
        return []
    bounds = [
        ("mark", job.started_at.timestamp(), marked.timestamp()),
        ("sweep", marked.timestamp(), swept.timestamp()),
    ]
    phases = []
    for name, start, end in bounds:
        r = Result(name)
        r.latencies = [lat for lat, at in zip(latencies, ended, strict=True) if start <= at < end]
        r.requests = len(r.latencies)
        if r.latencies:
            phases.append((name, r))
    return phases


async def check(stack: Stack, db: Database, images: list[list[bytes]], client: Client) -> int:
    """Referenced blobs whose file or row is gone, or whose bytes differ (a sample pulled back)."""
    wanted = {digest_of(b): b for image in images for b in image}
    rows = await db.pool.fetch(
        "SELECT digest FROM blobs WHERE digest = ANY($1::text[]) AND status = 'live'", list(wanted)
    )
    present = {r["digest"] for r in rows}
    lost = 0
    for digest, data in wanted.items():
        algorithm, hexpart = digest.split(":")
        path = stack.registry.storage_root / "blobs" / algorithm / hexpart[:2] / hexpart / "data"
        if digest not in present or not path.exists() or path.read_bytes() != data:
            lost += 1
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blobs", type=int, default=100_000, help="unreferenced blobs to seed (default 100000)")
    parser.add_argument("--workers", type=int, default=5, help="GC's concurrent deleters, 1-5 (default 5)")
    parser.add_argument("--nice", type=int, default=10, help="the jobservice's niceness, 0-19 (default 10)")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=IDLE_SECONDS,
        help=f"the push load without GC (default {IDLE_SECONDS:.0f})",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    # The stack starts outside the event loop (the harness runs its own loops to seed the database).
    with running_stack(args.nice) as stack:
        status = run_async(main_async(args, stack))
    sys.exit(status)


if __name__ == "__main__":
    main()
