"""PostgreSQL and Redis of the launcher's own, under `data_volume`, when berth.yml names none that answers.

The rule: a database or Redis that answers on its configured address is used as it is. One that does not
answer on a local address (127.0.0.1, localhost, ::1) is started by the launcher, on that port, bound to
127.0.0.1 only; one that does not answer on another host is an error, since we cannot start it there.

PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user (created by Debian's
package), or as a `berth` system user made for it; its directory is chown'ed to that user. Local TCP
connections are trusted (it listens on 127.0.0.1 only) and no Unix socket is made, so nothing outside
`data_volume` is touched.

Redis keeps an append-only file in <data_volume>/redis (fsync every second): sessions, queued jobs and the
event stream's consumer positions survive a restart of the stack, losing at most the last second, and no
RDB snapshot forks the process. It runs as the launcher's user: Redis does not refuse root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from services.common.settings import Settings
from services.launcher.preflight import PreflightError, redis_address

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Something accepts TCP connections there (what "reachable" means before anything starts)."""
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Backends:
    embedded_database: bool
    embedded_redis: bool


def plan_backends(settings: Settings) -> Backends:
    """Which of PostgreSQL and Redis the launcher must start; an unreachable remote one is an error."""
    db = settings.database
    db_answers = answers(db.host, db.port)
    if not db_answers and db.host not in LOCAL_HOSTS:
        raise PreflightError(
            f"PostgreSQL at {db.host}:{db.port} does not answer: start it, or change database.host in "
            f"{settings.source} (a local address, e.g. 127.0.0.1, gets an embedded one)"
        )
    if settings.redis.sentinels:
        # Sentinels mean a Redis run elsewhere, never an embedded one; one of them answering will do.
        if not any(answers(host, port) for host, port in settings.redis.sentinel_addresses()):
            raise PreflightError(
                f"no Redis Sentinel of {settings.redis.sentinels} answers: start them, or change"
                f" redis.sentinels in {settings.source}"
            )
        return Backends(embedded_database=not db_answers, embedded_redis=False)
    redis_host, redis_port = redis_address(settings.redis.url)
    redis_answers = answers(redis_host, redis_port)
    if not redis_answers and redis_host not in LOCAL_HOSTS:
        raise PreflightError(
            f"Redis at {redis_host}:{redis_port} does not answer: start it, or change redis.url in "
            f"{settings.source} (a local address, e.g. 127.0.0.1, gets an embedded one)"
        )
    return Backends(embedded_database=not db_answers, embedded_redis=not redis_answers)


def find_program(name: str) -> str | None:
    """On PATH, else in Debian's versioned PostgreSQL directory (newest first)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]), reverse=True
    )
    return candidates[0] if candidates else None


def missing_packages(settings: Settings) -> list[str]:
    """Debian packages `make run` installs before starting the launcher."""
    packages = []
    if find_program("nginx") is None:
        packages.append("nginx-light")
    backends = plan_backends(settings)
    if backends.embedded_database and (find_program("initdb") is None or find_program("postgres") is None):
        packages.append("postgresql")
    if backends.embedded_redis and find_program("redis-server") is None:
        packages.append("redis-server")
    return packages


# --------------------------------------------------------------------------------------------- PostgreSQL


def postgres_user() -> str | None:
    """The user PostgreSQL runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "berth"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "berth"],
        check=True,
        capture_output=True,
    )
    return "berth"


@dataclass(frozen=True)
class EmbeddedPostgres:
    directory: Path
    user: str | None
    argv: list[str]


def prepare_postgres(settings: Settings) -> EmbeddedPostgres:
    """initdb <data_volume>/postgresql at first start; returns how to run the server in the foreground."""
    initdb, postgres = find_program("initdb"), find_program("postgres")
    if initdb is None or postgres is None:
        raise PreflightError(
            f"PostgreSQL does not answer on {settings.database.host}:{settings.database.port} and is not "
            f"installed to start one: apt-get install postgresql, or change database.host in {settings.source}"
        )
    directory = Path(settings.data_volume) / "postgresql"
    user = postgres_user()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        directory.chmod(0o700)
    except OSError as exc:
        raise PreflightError(
            f"cannot create {directory}: {exc.strerror}; change data_volume in {settings.source}"
        ) from exc
    if user is not None and subprocess.run(["test", "-w", str(directory)], user=user, check=False).returncode != 0:
        raise PreflightError(
            f"user {user} (PostgreSQL refuses root) cannot reach {directory}: let others search its parent "
            f"directories (chmod o+x), or change data_volume in {settings.source}"
        )
    if not (directory / "PG_VERSION").exists():
        print(f"berth: creating the embedded PostgreSQL in {directory}", flush=True)
        result = subprocess.run(
            [
                initdb,
                "-D",
                str(directory),
                "-U",
                settings.database.username,
                "--auth-local=trust",
                "--auth-host=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            user=user,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise PreflightError(f"initdb {directory} failed: {last}")
    argv = [
        postgres,
        "-D",
        str(directory),
        "-p",
        str(settings.database.port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
    ]
    return EmbeddedPostgres(directory, user, argv)


async def ensure_database(settings: Settings, connect_timeout: float = 3.0) -> bool:
    """True once PostgreSQL accepts connections and database.name exists (created when missing)."""
    db = settings.database
    try:
        conn = await asyncpg.connect(
            host=db.host,
            port=db.port,
            user=db.username,
            password=db.password.reveal() or None,
            database="postgres",
            timeout=connect_timeout,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db.name)
        if not exists:
            name = db.name.replace('"', '""')
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # created by someone else meanwhile: what we wanted
    finally:
        await conn.close()
    return True


# --------------------------------------------------------------------------------------------- Redis


def prepare_redis(settings: Settings) -> list[str]:
    server = find_program("redis-server")
    host, port = redis_address(settings.redis.url)
    if server is None:
        raise PreflightError(
            f"Redis does not answer on {host}:{port} and is not installed to start one: "
            f"apt-get install redis-server, or change redis.url in {settings.source}"
        )
    directory = Path(settings.data_volume) / "redis"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise PreflightError(
            f"cannot create {directory}: {exc.strerror}; change data_volume in {settings.source}"
        ) from exc
    argv = [
        server,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    password = urlsplit(settings.redis.url).password
    if password:
        argv += ["--requirepass", password]
    return argv
