"""What the launcher runs: every child's command line, environment, address and readiness probe, in the
groups they start in: log → (PostgreSQL, Redis) → token, core, registry, jobservice → proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from services.common.settings import Settings
from services.launcher.embedded import Backends, EmbeddedPostgres, ensure_database
from services.launcher.preflight import redis_address
from services.launcher.supervisor import ChildSpec, Probe
from services.proxy.prepare import ProxyFiles

PROBE_TIMEOUT = 2.0


def connect_host(host: str) -> str:
    """A service bound to every address is reached on loopback."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def http_probe(url: str, *statuses: int) -> Probe:
    async def ready() -> bool:
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
                return response.status in statuses
        except (TimeoutError, aiohttp.ClientError):
            return False

    return ready


def tcp_probe(host: str, port: int) -> Probe:
    async def ready() -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(connect_host(host), port), PROBE_TIMEOUT)
        except (TimeoutError, OSError):
            return False
        writer.close()
        return True

    return ready


def redis_probe(url: str) -> Probe:
    async def ready() -> bool:
        client = aioredis.from_url(url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT)
        try:
            return bool(await client.ping())
        except (aioredis.RedisError, OSError):
            return False
        finally:
            await client.aclose()

    return ready


def database_probe(settings: Settings) -> Probe:
    async def ready() -> bool:
        return await ensure_database(settings)

    return ready


def python_service(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def child_groups(
    settings: Settings,
    env: dict[str, str],
    backends: Backends,
    proxy: ProxyFiles,
    nginx: str,
    postgres: EmbeddedPostgres | None = None,
    redis_argv: Sequence[str] | None = None,
) -> list[list[ChildSpec]]:
    collector = settings.log.collector
    groups: list[list[ChildSpec]] = [
        [
            ChildSpec(
                "log",
                python_service("services.log"),
                f"syslog {collector.bind}:{collector.port} tcp+udp",
                tcp_probe(collector.bind, collector.port),
                env=env,
            )
        ]
    ]
    backing: list[ChildSpec] = []
    if backends.embedded_database:
        assert postgres is not None
        backing.append(
            ChildSpec(
                "postgres",
                postgres.argv,
                f"127.0.0.1:{settings.database.port} (embedded, {postgres.directory})",
                database_probe(settings),
                user=postgres.user,
                stop_signal=signal.SIGINT,  # fast shutdown; SIGTERM would wait for clients to leave
            )
        )
    if backends.embedded_redis:
        assert redis_argv is not None
        _, port = redis_address(settings.redis.url)
        backing.append(
            ChildSpec(
                "redis",
                list(redis_argv),
                f"127.0.0.1:{port} (embedded, {Path(settings.data_volume) / 'redis'})",
                redis_probe(settings.redis.url),
            )
        )
    if backing:
        groups.append(backing)
    token, core, registry, jobservice = settings.token, settings.core, settings.registry, settings.jobservice
    # nginx fronts the registry: blob downloads are answered with X-Accel-Redirect and streamed by nginx.
    registry_env = {**env, "BERTH_REGISTRY__ACCEL_REDIRECT": "true"}
    groups.append(
        [
            *_replicas(settings, "token", token.host, token.port, token.replicas, "/healthz", (200,), env),
            *_replicas(settings, "core", core.host, core.port, core.replicas, "/healthz", (200,), env),
            *_replicas(
                settings, "registry", registry.host, registry.port, registry.replicas, "/v2/", (200, 401), registry_env
            ),
            ChildSpec(
                "jobservice",
                python_service("services.jobservice"),
                f"http://{jobservice.host}:{jobservice.port}",
                # /healthz answers once PostgreSQL and Redis are open; the proxy does not front it.
                http_probe(f"http://{connect_host(jobservice.host)}:{jobservice.port}/healthz", 200),
                env=env,
            ),
        ]
    )
    groups.append(
        [
            ChildSpec(
                "proxy",
                proxy.command(nginx=nginx),
                settings.public_url(),
                http_probe(f"http://127.0.0.1:{settings.http.port}/api/v2.0/health", 200),
            )
        ]
    )
    return groups


def _replicas(
    settings: Settings,
    name: str,
    host: str,
    port: int,
    count: int,
    probe_path: str,
    statuses: tuple[int, ...],
    env: dict[str, str],
) -> list[ChildSpec]:
    """`count` processes of one service: replica i (named `<name>-<i+1>` from the second) on port + i,
    its metrics on `metric.replica_base(i)`. They share everything else (database, Redis,
    storage), so any of them serves any request: nginx spreads them."""
    specs = []
    for i in range(count):
        replica_env = dict(env)
        if i:
            replica_env[f"BERTH_{name.upper()}__PORT"] = str(port + i)
            replica_env["BERTH_METRIC__PORT"] = str(settings.metric.replica_base(i))
        specs.append(
            ChildSpec(
                name if i == 0 else f"{name}-{i + 1}",
                python_service(f"services.{name}"),
                f"http://{host}:{port + i}",
                http_probe(f"http://{connect_host(host)}:{port + i}{probe_path}", *statuses),
                env=replica_env,
            )
        )
    return specs


def with_accel_redirect(settings: Settings) -> Settings:
    """The settings as the registry child sees them (the proxy renders its internal blob location)."""
    return dataclasses.replace(settings, registry=dataclasses.replace(settings.registry, accel_redirect=True))
