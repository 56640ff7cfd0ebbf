"""Proxy-cache pulls against direct ones, in one run: a cold pull through a proxy-cache project against a
pull straight from its upstream, and a warm pull (the image kept) against a pull from a normal project.

    .venv/bin/python -m bench.proxy_cache_bench [--rounds N] [--layer-mib M] [--strict]

Starts Debian's `docker-registry` (CNCF Distribution, no auth) as the upstream and the whole Berth stack as
`make run` starts it (nginx in front, token auth on), makes a registry endpoint of the Distribution and a
proxy-cache project of it through core's API, and a normal project. Each round pushes a fresh image
(LAYERS random layers of --layer-mib MiB, 64 by default: a 256 MiB image; a config of its own) to the
Distribution and the same image to the normal project, then pulls it as docker does (the manifest, then
the blobs, PARALLEL at a time):

- direct: from the Distribution;
- cold: through the proxy-cache project, whose every blob comes from the Distribution now;
- warm: through the proxy-cache project again, once the image is kept (served locally, after the tag's
  one freshness HEAD to the upstream);
- normal: from the normal project.

The order of the four alternates between rounds. Every pulled blob is checked against its digest. Prints
MB/s of each and the ratios. Targets on this machine: cold >= 0.8x direct, warm >= 0.95x normal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx

from bench.common import MiB, cleaned_up, exit_on_interrupt, install_interrupts, new_session, run_async
from services.common.oci import mediatypes as mt
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import push_image
from tests.harness.plugin import TestDatabase
from tests.harness.registry_auth import fetch_token
from tests.harness.stack import ADMIN_PASSWORD, StackProcess
from tests.harness.waiting import async_eventually

ADMIN = ("admin", ADMIN_PASSWORD)
SERVICE = "berth-registry"
PROXY, NORMAL = "hub", "plain"
LAYERS = 4
PARALLEL = 3  # docker's max-concurrent-downloads
ACCEPT = ", ".join(sorted(mt.MANIFESTS))
TARGET_COLD = 0.8
TARGET_WARM = 0.95
KEEP_DEADLINE_S = 300


@dataclass
class Side:
    label: str
    seconds: float = 0.0
    nbytes: int = 0
    times: list[float] = field(default_factory=list)

    @property
    def mb_s(self) -> float:
        return self.nbytes / MiB / self.seconds if self.seconds else 0.0


@dataclass
class Stacks:
    berth: StackProcess
    upstream: DistributionProcess
    db: TestDatabase


@contextlib.contextmanager
def running() -> Iterator[Stacks]:
    with cleaned_up() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="berth-proxy-cache-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db = TestDatabase().create()
        stack.callback(db.drop)
        berth = StackProcess(tmp / "berth", database=db)
        stack.callback(berth.stop)
        berth.start()
        upstream = DistributionProcess(tmp / "upstream")
        stack.callback(upstream.stop)
        upstream.start()
        with httpx.Client(base_url=f"{berth.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
            r = api.post("/registries", json={"name": "upstream", "url": upstream.url, "type": "docker-registry"})
            r.raise_for_status()
            registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
            api.post("/projects", json={"project_name": PROXY, "registry_id": registry_id}).raise_for_status()
            api.post("/projects", json={"project_name": NORMAL}).raise_for_status()
        yield Stacks(berth, upstream, db)


async def pull(session: aiohttp.ClientSession, base: str, repo: str, tag: str, headers: dict[str, str]) -> int:
    """A docker-like pull: the manifest, then its blobs PARALLEL at once, each checked; the bytes pulled."""
    async with session.get(f"{base}/v2/{repo}/manifests/{tag}", headers={**headers, "Accept": ACCEPT}) as r:
        if r.status != 200:
            raise RuntimeError(f"GET {base}/v2/{repo}/manifests/{tag}: {r.status} {await r.text()}")
        doc = json.loads(await r.read())
    descriptors = [doc["config"], *doc["layers"]]
    gate = asyncio.Semaphore(PARALLEL)

    async def blob(digest: str) -> int:
        async with gate, session.get(f"{base}/v2/{repo}/blobs/{digest}", headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"GET {base}/v2/{repo}/blobs/{digest}: {r.status}")
            hasher, size = hashlib.sha256(), 0
            async for chunk in r.content.iter_chunked(MiB):
                hasher.update(chunk)
                size += len(chunk)
            if "sha256:" + hasher.hexdigest() != digest:
                raise RuntimeError(f"{base}/v2/{repo}/blobs/{digest} does not hash to its digest")
            return size

    return sum(await asyncio.gather(*(blob(d["digest"]) for d in descriptors)))


async def kept(conn: asyncpg.Connection, repository: str, tag: str) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = $1 AND t.name = $2",
        repository,
        tag,
    )
    return bool(found)


async def workload(stacks: Stacks, args: argparse.Namespace) -> dict[str, Side]:
    berth, upstream = stacks.berth.url, stacks.upstream.url
    sides = {name: Side(name) for name in ("direct", "cold", "warm", "normal")}
    conn = await asyncpg.connect(stacks.db.dsn())
    try:
        async with new_session(PARALLEL * 2) as session:
            for round_ in range(args.rounds):
                name = f"app{round_}-{uuid.uuid4().hex[:6]}"
                layers = [os.urandom(args.layer_mib * MiB) for _ in range(LAYERS)]
                config = json.dumps({"architecture": "amd64", "os": "linux", "comment": name}).encode()
                scopes = [f"repository:{PROXY}/{name}:pull", f"repository:{NORMAL}/{name}:pull,push"]
                bearer = {"Authorization": "Bearer " + fetch_token(f"{berth}/service/token", SERVICE, scopes, ADMIN)}
                for base, repo, headers in ((upstream, name, {}), (berth, f"{NORMAL}/{name}", bearer)):
                    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
                        push_image(client, repo, "v1", layers=layers, config=config, media_type=mt.DOCKER_MANIFEST)
                pulls = {
                    "direct": (upstream, name, "v1", {}),
                    "cold": (berth, f"{PROXY}/{name}", "v1", bearer),
                    "warm": (berth, f"{PROXY}/{name}", "v1", bearer),
                    "normal": (berth, f"{NORMAL}/{name}", "v1", bearer),
                }
                # cold before warm, with the image kept in between; each pair's order swaps every round.
                first, second = ["direct", "cold"], ["normal", "warm"]
                if round_ % 2:
                    first.reverse()
                    second.reverse()
                for label in first:
                    await timed(sides[label], pull(session, *pulls[label]))
                await async_eventually(
                    functools.partial(kept, conn, f"{PROXY}/{name}", "v1"), f"{PROXY}/{name}:v1 kept", KEEP_DEADLINE_S
                )
                for label in second:
                    await timed(sides[label], pull(session, *pulls[label]))
                line = "  ".join(f"{s.label} {s.times[-1] * 1000:.0f} ms" for s in sides.values())
                print(f"round {round_ + 1}/{args.rounds}: {line}", flush=True)
    finally:
        await conn.close()
    return sides


async def timed(side: Side, work: Coroutine[Any, Any, int]) -> None:
    started = time.monotonic()
    nbytes = await work
    took = time.monotonic() - started
    side.seconds += took
    side.nbytes += nbytes
    side.times.append(took)


def report(sides: dict[str, Side], args: argparse.Namespace) -> bool:
    image_mib = LAYERS * args.layer_mib
    print(
        f"\n{args.rounds} rounds, images of {LAYERS} x {args.layer_mib} MiB ({image_mib} MiB), {PARALLEL} blobs at once"
    )
    for s in sides.values():
        print(f"  {s.label:<7} {s.mb_s:8.1f} MB/s   mean {s.seconds / len(s.times) * 1000:6.0f} ms per pull")
    cold = sides["cold"].mb_s / sides["direct"].mb_s
    warm = sides["warm"].mb_s / sides["normal"].mb_s
    ok_cold, ok_warm = cold >= TARGET_COLD, warm >= TARGET_WARM
    print(f"cold = {cold:.2f}x direct (target >= {TARGET_COLD}) {'OK' if ok_cold else 'MISS'}")
    print(f"warm = {warm:.2f}x normal (target >= {TARGET_WARM}) {'OK' if ok_warm else 'MISS'}")
    return ok_cold and ok_warm


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy_cache_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="fresh images pulled four ways each (default 6)")
    parser.add_argument("--layer-mib", type=int, default=64, help=f"MiB per layer, {LAYERS} layers (default 64)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    install_interrupts()
    ok = False
    started = time.monotonic()
    with exit_on_interrupt():
        print("starting PostgreSQL database, the Berth stack, docker-registry ...", flush=True)
        with running() as stacks:
            sides = run_async(workload(stacks, args))
            ok = report(sides, args)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.strict and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
