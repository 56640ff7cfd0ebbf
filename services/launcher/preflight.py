"""Checks made before anything starts: every port the stack will bind, each named by its `berth.yml` key.

A port is tried by binding it, on the address its service will listen on, and releasing it at once. When
it is taken, the holder is looked up the way `ss -p` does it: the socket's inode from /proc/net/{tcp,udp}[6],
then the process whose /proc/<pid>/fd links to `socket:[inode]` (visible for our own user, or any as root).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from services.common.settings import Settings, SettingsError

TCP_LISTEN = "0A"


def redis_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


class PreflightError(Exception):
    """One line for the operator: what is wrong and the key of `berth.yml` that changes it."""


@dataclass(frozen=True)
class Port:
    key: str  # the berth.yml key that sets it, e.g. "core.port"
    host: str  # the address the service will bind ("0.0.0.0" for the proxy)
    port: int
    udp: bool = False

    @property
    def label(self) -> str:
        return f"UDP port {self.port}" if self.udp else f"port {self.port}"


def service_ports(settings: Settings, *, embedded_database: bool, embedded_redis: bool) -> list[Port]:
    """Every port `make run` binds, proxy first: the order the operator reads berth.yml in."""
    ports = [Port("http.port", "0.0.0.0", settings.http.port)]
    if settings.https.enabled:
        ports.append(Port("https.port", "0.0.0.0", settings.https.port))
    collector = settings.log.collector
    ports += [
        Port("log.collector.port", collector.bind, collector.port),
        Port("log.collector.port", collector.bind, collector.port, udp=True),
        *_replica_ports("token", settings.token.host, settings.token.port, settings.token.replicas),
        *_replica_ports("core", settings.core.host, settings.core.port, settings.core.replicas),
        *_replica_ports("registry", settings.registry.host, settings.registry.port, settings.registry.replicas),
        Port("jobservice.port", settings.jobservice.host, settings.jobservice.port),
    ]
    if settings.metric.enabled:
        # nginx's stub_status, on this machine's loopback only (render.Upstreams.status_host).
        ports.append(Port("metric.port (-1, proxy stub_status)", "127.0.0.1", settings.metric.port_of("proxy")))
        replicated = {
            "registry": (settings.registry.host, settings.registry.replicas),
            "token": (settings.token.host, settings.token.replicas),
            "core": (settings.core.host, settings.core.replicas),
            "jobservice": (settings.jobservice.host, 1),
        }
        for service, (host, replicas) in replicated.items():
            for i in range(replicas):
                port = settings.metric.port_of(service, i)
                ports.append(Port(f"metric.port (+{port - settings.metric.port}, {service})", host, port))
    if embedded_database:
        ports.append(Port("database.port", "127.0.0.1", settings.database.port))
    if embedded_redis:
        _, redis_port = redis_address(settings.redis.url)
        ports.append(Port("redis.url", "127.0.0.1", redis_port))
    return ports


def check_files(settings: Settings) -> None:
    """Files berth.yml names that must exist before the first process starts."""
    if settings.https.enabled:
        for key, value in (
            ("https.certificate", settings.https.certificate),
            ("https.private_key", settings.https.private_key),
        ):
            if not value:
                raise SettingsError(
                    f"{settings.source}: key '{key}' is empty but HTTPS is on; set both certificate and private_key"
                )
            if not Path(value).is_file():
                raise SettingsError(f"{settings.source}: key '{key}': file {value} does not exist")
            if not os.access(value, os.R_OK):
                raise SettingsError(f"{settings.source}: key '{key}': file {value} is not readable")


def _replica_ports(service: str, host: str, port: int, replicas: int) -> list[Port]:
    key = f"{service}.port" if replicas == 1 else f"{service}.port (+{service}.replicas)"
    return [Port(key, host, port + i) for i in range(replicas)]


def check_ports(ports: Iterable[Port], source: str) -> None:
    """Raise PreflightError for the first port that two keys share, or that cannot be bound."""
    ports = list(ports)
    seen: dict[tuple[int, bool], str] = {}
    for p in ports:
        other = seen.setdefault((p.port, p.udp), p.key)
        if other != p.key:
            raise PreflightError(f"{p.label} is set by both {other} and {p.key}: change one of them in {source}")
    for p in ports:
        problem = try_bind(p)
        if problem is not None:
            raise PreflightError(f"{p.label} {problem}: change {p.key} in {source}")


def try_bind(p: Port) -> str | None:
    """None when `p` can be bound now; otherwise why not, as the middle of a sentence."""
    family = socket.AF_INET6 if ":" in p.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM if p.udp else socket.SOCK_STREAM) as sock:
        if not p.udp:
            # As the services do (bind_socket): a port left in TIME_WAIT by a stopped run is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((p.host, p.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                holder = find_holder(p.port, udp=p.udp)
                return f"is in use by {holder}" if holder else "is in use by another process"
            if exc.errno == errno.EACCES:
                return "is forbidden for this user (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"cannot be bound: {p.host} is not an address of this machine"
            return f"cannot be bound on {p.host} ({exc.strerror})"
    return None


def socket_inodes(port: int, *, udp: bool, proc: Path = Path("/proc")) -> set[str]:
    """Inodes of the sockets bound to `port` (listening ones for TCP), from /proc/net."""
    names = ("udp", "udp6") if udp else ("tcp", "tcp6")
    wanted = f"{port:04X}"
    inodes: set[str] = set()
    for name in names:
        try:
            lines = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local_port = fields[1].rsplit(":", 1)[-1]
            if local_port != wanted or (not udp and fields[3] != TCP_LISTEN):
                continue
            if fields[9] != "0":
                inodes.add(fields[9])
    return inodes


def find_holder(port: int, *, udp: bool, proc: Path = Path("/proc")) -> str | None:
    """'name (pid N)' of a process holding the port, when /proc lets us see it."""
    inodes = socket_inodes(port, udp=udp, proc=proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    pids = sorted((int(p.name) for p in proc.iterdir() if p.name.isdigit()), key=lambda pid: pid)
    for pid in pids:
        fd_dir = proc / str(pid) / "fd"
        try:
            fds = list(fd_dir.iterdir())
        except OSError:  # gone, or another user's process
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    return f"{process_name(pid, proc)} (pid {pid})"
            except OSError:
                continue
    return None


def process_name(pid: int, proc: Path = Path("/proc")) -> str:
    try:
        return (proc / str(pid) / "comm").read_text().strip() or "?"
    except OSError:
        return "?"
