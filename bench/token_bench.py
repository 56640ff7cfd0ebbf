"""Token service benchmark: tokens/s for a user with HTTP Basic credentials, beside a bare aiohttp handler.

    .venv/bin/python -m bench.token_bench [--quick] [--seconds S] [--strict]

Starts a fresh PostgreSQL database, the log collector, a token service process (shipping its log lines,
as in production) and `bench/bare_token.py`, adds a private project with a developer member, and drives
both servers from one aiohttp client in this process: 32 concurrent clients each asking again and again
for `repository:bench/app:pull,push` with the member's Basic credentials. The two are measured in
alternating slices (as bench/registry_bench.py does), so a small machine's noise falls on both alike.
Passwords stay argon2id at full strength: after the first request the credential cache answers.
Target: >= 1,000 tokens/s. Everything started is stopped and removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt

from bench.common import (
    CpuMeter,
    Result,
    Target,
    cleaned_up,
    compare,
    exit_on_interrupt,
    install_interrupts,
    run_async,
    slice_,
    start_module,
    stop_process,
)
from tests.harness.logcollector import LogCollectorProcess
from tests.harness.plugin import TestDatabase, free_port
from tests.harness.token import TokenServiceProcess, add_member, add_project, add_user

CLIENTS = 32
TARGET_RATE = 1000.0
SERVICE = "berth-registry"
PROJECT, USER, PASSWORD = "bench", "bench-developer", "Bench-Secret-123"
SCOPE = f"repository:{PROJECT}/app:pull,push"
QUERY = f"/service/token?service={SERVICE}&scope={SCOPE}"


@dataclass
class Stack:
    token: TokenServiceProcess
    bare: subprocess.Popen[bytes]
    bare_url: str


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    with cleaned_up() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="berth-token-bench-")))
        db = TestDatabase().create()
        stack.callback(db.drop)

        collector = LogCollectorProcess(tmp / "logs")
        stack.callback(collector.stop)
        collector.start()
        shipping = {"host": "127.0.0.1", "port": collector.port, "protocol": "tcp"}

        token = TokenServiceProcess(tmp / "token", db, log_collector=shipping)
        stack.callback(token.stop)
        token.start()
        add_project(db, PROJECT)
        add_user(db, USER, PASSWORD)
        add_member(db, PROJECT, USER, 2)  # developer: pull and push

        port = free_port()
        bare = start_module(["bench.bare_token", str(port)], tmp / "bare.log", "bare token server", port)
        stack.callback(stop_process, bare)
        yield Stack(token=token, bare=bare, bare_url=f"http://127.0.0.1:{port}")


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CLIENTS, force_close=False, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def check_token(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
    """One untimed request: the token service really answers with a token granting pull and push."""
    async with session.get(url, headers=headers) as r:
        body = await r.json()
        if r.status != 200:
            raise RuntimeError(f"GET {url}: {r.status} {body}")
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    access = [{k: v for k, v in entry.items() if k != "project_id"} for entry in claims["access"]]
    if access != [{"type": "repository", "name": f"{PROJECT}/app", "actions": ["pull", "push"]}]:
        raise RuntimeError(f"unexpected access claim {claims['access']}")


async def workload(stack: Stack, seconds: float, slices: int) -> dict[str, Result]:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    targets = [
        Target("token", [stack.token.url + QUERY], CLIENTS, CpuMeter({"token": stack.token.pid}), headers),
        Target("baseline bare", [stack.bare_url + QUERY], CLIENTS, CpuMeter({"bare": stack.bare.pid}), headers),
    ]
    print(
        f"token: GET {QUERY} as a developer member with HTTP Basic, {CLIENTS} clients, {seconds:g} s per target"
        f" in {slices} alternating slices",
        flush=True,
    )
    async with contextlib.AsyncExitStack() as sessions:
        for t in targets:
            t.session = await sessions.enter_async_context(new_session())
        await check_token(targets[0].session, targets[0].urls[0], headers)  # type: ignore[arg-type]
        print("  verified: the token grants pull,push on the member's repository", flush=True)
        for t in targets:
            await slice_(t, min(1.0, seconds / 5))  # warm-up (connections, caches), discarded
            t.result = Result(t.label)
        await compare(targets, seconds, slices)
    return {t.label: t.result for t in targets}


def report(results: dict[str, Result]) -> bool:
    print()
    print("details (CPU: cores busy on average over the measurement; client is this process;")
    print("         'other' is the rest of the machine: kernel networking, the log collector, anything else)")
    for r in results.values():
        print(
            f"  {r.label:<14} {r.rps:7.0f} req/s  {r.requests:>7} ok {r.errors:>4} err  {r.wall:5.1f} s",
            f"  CPU: {r.cpu_line()}",
        )
        if r.requests:
            per = {k: v / r.requests * 1e6 for k, v in r.cpu.items()}
            print(f"  {'':<14} CPU per request: " + "  ".join(f"{k} {v:.0f} us" for k, v in per.items()))
    token, bare = results["token"], results["baseline bare"]
    ratio = token.rps / bare.rps if bare.rps else 0.0
    print()
    print("summary")
    print(
        f"  token          {token.rps:6.0f} tokens/s  p50 {token.pct(50):5.1f} p99 {token.pct(99):6.1f} ms"
        f"   baseline bare {bare.rps:6.0f} req/s  p50 {bare.pct(50):5.1f} p99 {bare.pct(99):6.1f} ms"
        f"   ratio {ratio:.2f}"
    )
    ok = token.rps >= TARGET_RATE and not token.errors
    print(f"  target >= {TARGET_RATE:.0f} tokens/s: {'OK' if ok else 'MISS'}")
    if token.errors or bare.errors:
        print(f"  WARNING: {token.errors + bare.errors} failed requests (counted out of the rates)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.token_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements (a smoke run, noisier)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per target (default 10, quick 3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    slices = 2 if args.quick else 4

    install_interrupts()
    started = time.monotonic()
    ok = False
    with exit_on_interrupt():
        print("starting PostgreSQL database, log collector, token service, bare server ...", flush=True)
        with running_stack() as stack:
            results = run_async(workload(stack, seconds, slices))
            ok = report(results)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.strict and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
