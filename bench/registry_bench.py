"""Registry benchmark: push, pull and manifest GET, each beside a baseline, in one run.

    .venv/bin/python -m bench.registry_bench [--quick] [--no-direct] [--strict] [--keep-logs DIR]

Starts a fresh PostgreSQL database, a registry process with X-Accel-Redirect behind nginx, a second
registry process without it (direct sendfile, informative), nginx (proxy + a plain static-file server as
the pull baseline) and a bare aiohttp server (the manifest baseline), then drives them all from one
aiohttp client in this process. Baselines and registry are measured in alternating slices so that the
noise of a small machine falls on both sides alike. Everything started is stopped and removed at the end,
also on Ctrl-C. See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import grp
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

from bench.common import (
    Blob,
    CpuMeter,
    MiB,
    Result,
    Target,
    children,
    chunked_upload,
    cleaned_up,
    compare,
    exit_on_interrupt,
    install_interrupts,
    new_session,
    run_async,
    slice_,
    start_module,
    stop_process,
    verify,
    wait_for_port,
)
from services.common.oci import mediatypes as mt
from tests.harness.logcollector import LogCollectorProcess
from tests.harness.oci import push_image
from tests.harness.plugin import RegistryProcess, TestDatabase, free_port
from tests.harness.registry_auth import fetch_token
from tests.harness.token import TokenServiceProcess, add_project

BLOB_COUNT = 32
BLOB_SIZE = 8 * MiB
CHUNK_SIZE = 5 * MiB
PUSH_CLIENTS = 4
PULL_CLIENTS = 4
MANIFEST_CLIENTS = 32
PULL_TARGET = 0.9
MANIFEST_TARGET = 0.5


NGINX_CONF = """\
{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    # The registry's share of a proxied request: $upstream_response_time (read back after the pull).
    log_format bench '$request_method $uri $status $body_bytes_sent $request_time $upstream_response_time';
    access_log {tmp}/nginx-access.log bench;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;

    upstream registry {{
        server 127.0.0.1:{registry_port};
        keepalive 32;
    }}

    # The registry as deployed: Python answers, nginx streams blob files (X-Accel-Redirect).
    server {{
        listen 127.0.0.1:{proxy_port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_read_timeout 300s;
        proxy_send_timeout 300s;

        location /v2/ {{
            proxy_pass http://registry;
        }}
        location /_blobs/ {{
            internal;
            alias {storage}/;
            sendfile on;
            # X-Accel-Redirect drops the upstream's own headers; carry the ones clients check.
            add_header Docker-Content-Digest $upstream_http_docker_content_digest;
            add_header Docker-Distribution-API-Version $upstream_http_docker_distribution_api_version;
            add_header ETag $upstream_http_etag;
        }}
    }}

    # The pull baseline: the same blob files straight from disk.
    server {{
        listen 127.0.0.1:{files_port};
        location /files/ {{
            alias {storage}/;
            sendfile on;
        }}
    }}
}}
"""


@dataclass
class Stack:
    tmp: Path
    registry: RegistryProcess  # accel_redirect, behind nginx
    direct: RegistryProcess | None  # plain FileResponse, informative
    nginx: subprocess.Popen[bytes]
    proxy_url: str
    files_url: str
    token_url: str
    bare: subprocess.Popen[bytes] | None = None
    bare_url: str = ""

    @property
    def access_log(self) -> Path:
        return self.tmp / "nginx-access.log"


@contextlib.contextmanager
def running_stack(with_direct: bool) -> Iterator[Stack]:
    with cleaned_up() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="berth-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        tmp.chmod(0o755)  # nginx workers read the blob files below it

        db = TestDatabase().create()
        stack.callback(db.drop)

        # As in production: tokens from a token service, and a project to push into.
        token = TokenServiceProcess(tmp / "token", db)
        stack.callback(token.stop)
        token.start()
        add_project(db, "bench")

        # As in production, the registry ships every log line to a running collector.
        collector = LogCollectorProcess(tmp / "logs")
        stack.callback(collector.stop)
        collector.start()
        shipping = {"host": "127.0.0.1", "port": collector.port, "protocol": "tcp"}

        (tmp / "registry").mkdir()
        registry = RegistryProcess(
            tmp / "registry", db, token=token, log_collector=shipping, accel_redirect=True, accel_prefix="/_blobs/"
        )
        registry.storage_root.mkdir(parents=True)
        stack.callback(registry.stop)
        registry.start()

        direct = None
        if with_direct:
            (tmp / "direct").mkdir()
            direct = RegistryProcess(tmp / "direct", db, token=token, log_collector=shipping)
            direct.storage_root.symlink_to(registry.storage_root)  # same blobs, same database
            stack.callback(direct.stop)
            direct.start()

        proxy_port, files_port = free_port(), free_port()
        user = ""
        if os.geteuid() == 0:  # workers would otherwise drop to nobody
            user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"
        conf = tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user=user,
                tmp=tmp,
                registry_port=registry.port,
                proxy_port=proxy_port,
                files_port=files_port,
                storage=registry.storage_root.resolve(),
            )
        )
        nginx_log = tmp / "nginx-stderr.log"
        with nginx_log.open("ab") as log:
            nginx = subprocess.Popen(
                ["/usr/sbin/nginx", "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # stopped by us, not by the terminal's Ctrl-C
            )
        stack.callback(stop_process, nginx)
        wait_for_port(proxy_port, nginx, "nginx", nginx_log)
        wait_for_port(files_port, nginx, "nginx", nginx_log)

        s = Stack(
            tmp=tmp,
            registry=registry,
            direct=direct,
            nginx=nginx,
            proxy_url=f"http://127.0.0.1:{proxy_port}",
            files_url=f"http://127.0.0.1:{files_port}",
            token_url=f"{token.url}/service/token",
        )
        stack.callback(lambda: None if s.bare is None else stop_process(s.bare))
        yield s


def start_bare(stack: Stack, manifest: bytes, media_type: str) -> None:
    path = stack.tmp / "manifest.json"
    path.write_bytes(manifest)
    port = free_port()
    stack.bare = start_module(
        ["bench.bare_manifest", str(port), str(path), media_type], stack.tmp / "bare.log", "bare manifest server", port
    )
    stack.bare_url = f"http://127.0.0.1:{port}"


def nginx_worker_pid(nginx: subprocess.Popen[bytes]) -> int:
    """The nginx worker, which does the work (the master only forks it); falls back to the master."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pids = children(nginx.pid)
        if pids:
            return pids[0]
        time.sleep(0.05)
    return nginx.pid


def registry_pid(proc: RegistryProcess) -> int:
    assert proc._proc is not None
    return proc._proc.pid


# --- client --------------------------------------------------------------------------------------------


async def push(base: str, repo: str, blobs: list[Blob], headers: dict[str, str], meter: CpuMeter) -> Result:
    """Chunked uploads: POST, PATCH 5 MiB chunks with Content-Range, PUT ?digest=; PUSH_CLIENTS at once."""
    result = Result("push")
    queue: asyncio.Queue[Blob] = asyncio.Queue()
    for b in blobs:
        queue.put_nowait(b)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            blob = queue.get_nowait()
            t0 = time.perf_counter()
            await chunked_upload(session, base, repo, blob, CHUNK_SIZE)
            result.latencies.append(time.perf_counter() - t0)
            result.requests += 1
            result.nbytes += len(blob.data)

    async with new_session(PUSH_CLIENTS, headers) as session:
        before = meter.snapshot()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(PUSH_CLIENTS)))
        result.wall = time.perf_counter() - t0
        result.cpu = meter.delta(before, meter.snapshot())
    return result


# --- the workload --------------------------------------------------------------------------------------


@dataclass
class Figures:
    push: Result
    pull: dict[str, Result]
    manifest: dict[str, Result]
    # Per X-Accel blob GET during the pull, as nginx logged it: (registry answer time, whole request time).
    accel_times: list[tuple[float, float]]


def accel_times(log: Path, offset: int) -> list[tuple[float, float]]:
    """($upstream_response_time, $request_time) of the blob GETs nginx answered by X-Accel-Redirect."""
    times = []
    with log.open("rb") as f:
        f.seek(offset)
        for line in f.read().decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 6 and parts[0] == "GET" and parts[1].startswith("/_blobs/") and parts[2] == "200":
                with contextlib.suppress(ValueError):
                    times.append((float(parts[5]), float(parts[4])))
    return times


def blob_check(blobs: list[Blob], *, digest_header: bool) -> Callable[[int, aiohttp.ClientResponse, bytes], None]:
    def check(i: int, r: aiohttp.ClientResponse, body: bytes) -> None:
        blob = blobs[i]
        if r.status != 200:
            raise RuntimeError(f"GET {r.url}: {r.status}")
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        if actual != blob.digest:
            raise RuntimeError(f"GET {r.url}: body is {actual}, expected {blob.digest}")
        if digest_header and r.headers.get("Docker-Content-Digest") != blob.digest:
            raise RuntimeError(f"GET {r.url}: Docker-Content-Digest {r.headers.get('Docker-Content-Digest')!r}")

    return check


def manifest_check(manifest: bytes, media_type: str) -> Callable[[int, aiohttp.ClientResponse, bytes], None]:
    def check(i: int, r: aiohttp.ClientResponse, body: bytes) -> None:
        if r.status != 200 or body != manifest or r.content_type != media_type:
            raise RuntimeError(f"GET {r.url}: {r.status} {r.content_type} {body[:200]!r}")

    return check


async def workload(
    stack: Stack, args: argparse.Namespace, manifest: bytes, manifest_url_path: str, repo: str, headers: dict[str, str]
) -> Figures:
    reg_pid = registry_pid(stack.registry)
    ngx_pid = nginx_worker_pid(stack.nginx)
    say = print

    # 1. push ---------------------------------------------------------------------------------------
    say(f"generating {BLOB_COUNT} blobs of {BLOB_SIZE // MiB} MiB ...", flush=True)
    blobs = []
    for _ in range(BLOB_COUNT):
        data = os.urandom(BLOB_SIZE)
        blobs.append(Blob(data, "sha256:" + hashlib.sha256(data).hexdigest()))
    say(f"push: {BLOB_COUNT} blobs, {CHUNK_SIZE // MiB} MiB chunks, {PUSH_CLIENTS} clients, via nginx", flush=True)
    pushed = await push(stack.proxy_url, repo, blobs, headers, CpuMeter({"registry": reg_pid, "nginx": ngx_pid}))
    say(f"  {pushed.mb_s:.0f} MB/s   per blob p50 {pushed.pct(50):.0f} ms p99 {pushed.pct(99):.0f} ms", flush=True)

    # 2. pull ---------------------------------------------------------------------------------------
    pull_targets = [
        Target(
            "registry+nginx",
            [f"{stack.proxy_url}/v2/{repo}/blobs/{b.digest}" for b in blobs],
            PULL_CLIENTS,
            CpuMeter({"registry": reg_pid, "nginx": ngx_pid}),
        ),
        Target(
            "baseline nginx",
            [f"{stack.files_url}/files/blobs/sha256/{b.digest[7:9]}/{b.digest[7:]}/data" for b in blobs],
            PULL_CLIENTS,
            CpuMeter({"nginx": ngx_pid}),
        ),
    ]
    if stack.direct is not None:
        pull_targets.append(
            Target(
                "registry direct",
                [f"{stack.direct.url}/v2/{repo}/blobs/{b.digest}" for b in blobs],
                PULL_CLIENTS,
                CpuMeter({"registry": registry_pid(stack.direct)}),
            )
        )
    say(
        f"pull: {BLOB_COUNT} blobs round-robin, {PULL_CLIENTS} clients, {args.pull_seconds:g} s per target "
        f"in {args.slices} alternating slices",
        flush=True,
    )
    async with contextlib.AsyncExitStack() as sessions:
        for t in pull_targets:
            t.session = await sessions.enter_async_context(new_session(t.concurrency, headers))
            await verify(t, blob_check(blobs, digest_header=not t.label.startswith("baseline")))
        say("  verified: every blob's sha256 (and Docker-Content-Digest from the registry) matches", flush=True)
        log_offset = stack.access_log.stat().st_size
        await compare(pull_targets, args.pull_seconds, args.slices)
        pulled_times = accel_times(stack.access_log, log_offset)
    del blobs

    # 3. manifest -----------------------------------------------------------------------------------
    accept = {"Accept": mt.OCI_MANIFEST}
    manifest_targets = [
        Target(
            "registry",
            [stack.registry.url + manifest_url_path],
            MANIFEST_CLIENTS,
            CpuMeter({"registry": reg_pid}),
            accept,
        ),
        Target(
            "baseline bare",
            [stack.bare_url + manifest_url_path],
            MANIFEST_CLIENTS,
            CpuMeter({"bare": stack.bare.pid if stack.bare else 0}),
            accept,
        ),
    ]
    say(
        f"manifest: GET by tag, {MANIFEST_CLIENTS} clients, {args.manifest_seconds:g} s per target "
        f"in {args.slices} alternating slices",
        flush=True,
    )
    async with contextlib.AsyncExitStack() as sessions:
        for t in manifest_targets:
            t.session = await sessions.enter_async_context(new_session(t.concurrency, headers))
            t.urls = t.urls * MANIFEST_CLIENTS
            await verify(t, manifest_check(manifest, mt.OCI_MANIFEST))
            await slice_(t, min(1.0, args.manifest_seconds / 5))  # warm-up, discarded
            t.result = Result(t.label)
        await compare(manifest_targets, args.manifest_seconds, args.slices)

    return Figures(
        push=pushed,
        pull={t.label: t.result for t in pull_targets},
        manifest={t.label: t.result for t in manifest_targets},
        accel_times=pulled_times,
    )


# --- report --------------------------------------------------------------------------------------------


def verdict(ratio: float, target: float) -> str:
    return f"ratio {ratio:.2f} (target >= {target}) {'OK' if ratio >= target else 'MISS'}"


def report(f: Figures) -> bool:
    print()
    print(
        "details (CPU: cores busy on average over the measurement, summed over the slices; client is this process;"
        "\n         'other' is the rest of the machine: kernel networking, softirqs, anything else running)"
    )
    rows = [("push", f.push)] + [("pull", r) for r in f.pull.values()] + [("manifest", r) for r in f.manifest.values()]
    for what, r in rows:
        rate = f"{r.mb_s:7.0f} MB/s" if what != "manifest" else f"{r.rps:7.0f} req/s"
        print(
            f"  {what:<9}{r.label:<16}{rate}  {r.requests:>6} ok {r.errors:>3} err  {r.wall:5.1f} s"
            f"   CPU: {r.cpu_line()}"
        )
        if what == "manifest" and r.requests:
            per = {k: v / r.requests * 1e6 for k, v in r.cpu.items()}
            print(f"  {'':<25}CPU per request: " + "  ".join(f"{k} {v:.0f} us" for k, v in per.items()))

    if f.accel_times:
        upstream = Result("", latencies=[u for u, _ in f.accel_times])
        whole = Result("", latencies=[t for _, t in f.accel_times])
        print(
            f"  pull     X-Accel blob GETs as nginx logged them ({len(f.accel_times)}): registry answer"
            f" ($upstream_response_time) p50 {upstream.pct(50):.1f} p99 {upstream.pct(99):.1f} ms"
            f" of request time p50 {whole.pct(50):.1f} p99 {whole.pct(99):.1f} ms"
        )

    reg, base = f.pull["registry+nginx"], f.pull["baseline nginx"]
    pull_ratio = reg.mb_s / base.mb_s if base.mb_s else 0.0
    mreg, mbase = f.manifest["registry"], f.manifest["baseline bare"]
    man_ratio = mreg.rps / mbase.rps if mbase.rps else 0.0

    def side(label: str, r: Result, unit: str) -> str:
        rate = f"{r.mb_s:5.0f} MB/s " if unit == "MB/s" else f"{r.rps:5.0f} req/s"
        return f"{label:<15} {rate} p50 {r.pct(50):5.1f} p99 {r.pct(99):6.1f} ms"

    print()
    print("summary")
    print(
        f"  pull      {side('registry+nginx', reg, 'MB/s')}   {side('baseline nginx', base, 'MB/s')}"
        f"   {verdict(pull_ratio, PULL_TARGET)}"
    )
    direct = f.pull.get("registry direct")
    if direct is not None:
        ratio = direct.mb_s / base.mb_s if base.mb_s else 0.0
        print(f"  pull      {side('registry direct', direct, 'MB/s')}   (FileResponse, no nginx)  ratio {ratio:.2f}")
    print(
        f"  manifest  {side('registry', mreg, 'req/s')}   {side('baseline bare', mbase, 'req/s')}"
        f"   {verdict(man_ratio, MANIFEST_TARGET)}"
    )
    p = f.push
    print(
        f"  push      {p.label.replace('push', 'registry+nginx'):<15} {p.mb_s:5.0f} MB/s  per blob p50 {p.pct(50):5.0f}"
        f" p99 {p.pct(99):6.0f} ms   ({BLOB_COUNT} x {BLOB_SIZE // MiB} MiB in {CHUNK_SIZE // MiB} MiB chunks,"
        f" {PUSH_CLIENTS} clients)"
    )
    errors = sum(r.errors for _, r in rows)
    if errors:
        print(f"  WARNING: {errors} failed requests (counted out of the rates)")
    return pull_ratio >= PULL_TARGET and man_ratio >= MANIFEST_TARGET and not errors


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.registry_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements (a smoke run, noisier)")
    parser.add_argument("--no-direct", action="store_true", help="skip the registry-without-nginx pull line")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the registry, nginx and bare server logs to DIR")
    args = parser.parse_args()
    args.pull_seconds = 2.0 if args.quick else 8.0
    args.manifest_seconds = 3.0 if args.quick else 10.0
    args.slices = 2 if args.quick else 4

    # Ctrl-C and SIGTERM unwind the same way, so the finally blocks stop every process and drop the database.
    # (A terminal's Ctrl-C also reaches the registry processes, so requests may fail first: still an interrupt.)
    install_interrupts()
    ok = False
    started = time.monotonic()
    with exit_on_interrupt():
        print("starting PostgreSQL database, registry processes, nginx ...", flush=True)
        with running_stack(with_direct=not args.no_direct) as stack:
            repo, tag = f"bench/manifest-{uuid.uuid4().hex[:6]}", "latest"
            push_repo = f"bench/{uuid.uuid4().hex[:8]}"
            scopes = [f"repository:{repo}:pull,push", f"repository:{push_repo}:pull,push"]
            token = fetch_token(stack.token_url, "berth-registry", scopes, ("admin", "Harbor12345"))
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=stack.registry.url, timeout=60, headers=headers) as client:
                manifest, _ = push_image(client, repo, tag)
            start_bare(stack, manifest, mt.OCI_MANIFEST)
            manifest_path = f"/v2/{repo}/manifests/{tag}"
            figures = run_async(workload(stack, args, manifest, manifest_path, push_repo, headers))
            ok = report(figures)
            if args.keep_logs:
                dest = Path(args.keep_logs)
                dest.mkdir(parents=True, exist_ok=True)
                for log in [*stack.tmp.glob("*.log"), *stack.tmp.glob("*/*.log")]:
                    shutil.copy(log, dest / f"{log.parent.name}-{log.name}")
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.strict and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
