"""The launcher's steps: check, prepare, supervise. `python -m services.launcher` and `berth run` call `launch`.

Everything that can be wrong with the configuration or the machine is found before the first process
starts (settings, certificate, every port, PostgreSQL and Redis reachability) and reported as one line
naming the key of berth.yml that changes it, exit code 2. Then the children start under the supervisor;
Ctrl-C (or SIGTERM) stops them in reverse order and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from services.common.settings import CONFIG_ENV, Settings, SettingsError, load_settings
from services.launcher.children import child_groups, with_accel_redirect
from services.launcher.embedded import (
    ensure_database,
    find_program,
    missing_packages,
    plan_backends,
    prepare_postgres,
    prepare_redis,
)
from services.launcher.preflight import PreflightError, check_files, check_ports, service_ports
from services.launcher.supervisor import ChildSpec, Supervisor
from services.proxy.prepare import prepare_proxy

EXIT_CONFIG = 2


@dataclass(frozen=True)
class Plan:
    settings: Settings
    groups: list[list[ChildSpec]]
    external_database: bool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.launcher", description="Run the Berth stack.")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH", help="berth.yml (default: $BERTH_CONFIG, ./berth.yml, /etc/berth/berth.yml)"
    )
    parser.add_argument("--verbose", action="store_true", help="also print every service's output, prefixed")
    parser.add_argument(
        "--missing-packages",
        action="store_true",
        help="print the Debian packages this configuration still needs (for `make run`), and exit",
    )


def prepare(settings: Settings) -> Plan:
    """Every check, then what must exist before the children start (configurations, initdb)."""
    check_files(settings)
    backends = plan_backends(settings)
    nginx = find_program("nginx")
    if nginx is None:
        raise PreflightError("nginx is not installed: apt-get install nginx-light (`make run` does it)")
    proxy = prepare_proxy(with_accel_redirect(settings))
    check_ports(
        service_ports(settings, embedded_database=backends.embedded_database, embedded_redis=backends.embedded_redis),
        settings.source,
    )
    postgres = prepare_postgres(settings) if backends.embedded_database else None
    redis_argv = prepare_redis(settings) if backends.embedded_redis else None
    env = dict(os.environ)
    if settings.source != "<defaults>":
        env[CONFIG_ENV] = str(Path(settings.source).resolve())
    groups = child_groups(settings, env, backends, proxy, nginx, postgres, redis_argv)
    return Plan(settings, groups, external_database=not backends.embedded_database)


def banner(settings: Settings) -> list[str]:
    url = settings.public_url()
    password = settings.admin_password.reveal()
    run_dir = Path(settings.data_volume) / "run"
    # An empty admin_password: the first start generated one and printed it once (token or core output).
    login = (
        f"admin / {password}"
        if password
        else f"admin / the password printed at first start: grep 'admin password' {run_dir}/*.out"
    )
    config = "" if settings.source in ("berth.yml", "<defaults>") else f" --config {settings.source}"
    berth = Path(sys.executable).parent / "berth"
    # Docker speaks plain HTTP to loopback registries only, unless told to.
    plain = url.startswith("http://") and urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1")
    insecure = "   (plain HTTP: add it to insecure-registries in /etc/docker/daemon.json)" if plain else ""
    # make run installs no registry client: say how to get one.
    clients = "  (no client here? apt-get install skopeo, or docker.io, or podman)"
    return [
        f"Berth is up: {url}  ({login})",
        f"  docker login {urlsplit(url).netloc}{insecure or clients}",
        f"  logs: {berth if berth.exists() else 'berth'} logs -f{config}",
        "  Ctrl-C stops everything.",
    ]


async def run(plan: Plan, *, verbose: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settings = plan.settings
    db = settings.database
    if plan.external_database and not await ensure_database(settings, connect_timeout=db.connect_timeout):
        print(
            f"berth: cannot connect to PostgreSQL at {db.host}:{db.port} as {db.username!r} to create database "
            f"{db.name!r}: change database.* in {settings.source}",
            file=sys.stderr,
        )
        return 1
    supervisor = Supervisor(plan.groups, Path(settings.data_volume) / "run", verbose=verbose)
    if not await supervisor.start(stop):
        if stop.is_set():
            return 0
        print(f"berth: the stack did not start; each service's output is in {supervisor.run_dir}", file=sys.stderr)
        return 1
    print(file=sys.stdout)
    supervisor.print_status()
    for line in banner(settings):
        print(line, flush=True)
    await stop.wait()
    print("berth: stopping", flush=True)
    await supervisor.stop()
    return 0


def launch(config: str | None, *, verbose: bool = False, packages_only: bool = False) -> int:
    try:
        # Absolute, so every message names the file wherever the launcher was started from.
        settings = load_settings(str(Path(config).resolve()) if config else None)
        if packages_only:
            print(" ".join(missing_packages(settings)))
            return 0
        plan = prepare(settings)
    except (SettingsError, PreflightError) as exc:
        print(f"berth: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:  # before the supervisor handles signals (e.g. during initdb)
        return 130
    return asyncio.run(run(plan, verbose=verbose))
