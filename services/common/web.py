"""Running a service: check the port first (naming the config key), then serve until a signal."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable

import uvloop
from aiohttp import web

from services.common.logging import configure_logging
from services.common.settings import Settings, SettingsError, load_settings


class PortUnavailable(Exception):
    pass


def bind_socket(host: str, port: int, config_key: str, *, udp: bool = False) -> socket.socket:
    """Bind before anything starts, so a taken port is one clear line, not a traceback mid-start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    if not udp:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            why = "is already in use by another process"
        elif exc.errno == errno.EACCES:
            why = "may not be bound by this user"
        else:
            why = f"cannot be bound ({exc.strerror})"
        proto = "UDP" if udp else "TCP"
        raise PortUnavailable(f"{proto} port {port} on {host} {why}; change '{config_key}' in berth.yml") from exc
    if not udp:
        sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve(
    service: str,
    create_app: Callable[[Settings], web.Application],
    listen: Callable[[Settings], tuple[str, int]],
    port_key: str,
) -> None:
    """Every HTTP service's `main`: settings → logging → app (which validates its own configuration) →
    bind → serve. Anything wrong before serving is one line naming what to change, and exit code 2."""
    try:
        settings = load_settings()
        configure_logging(service, settings.log)
        app = create_app(settings)
        host, port = listen(settings)
        sock = bind_socket(host, port, port_key)
    except (SettingsError, PortUnavailable, ValueError) as exc:
        print(f"berth {service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    run_service(app, sock)


def run_service(app: web.Application, sock: socket.socket) -> None:
    try:
        # uvloop: the same asyncio API, with the loop and its sockets in C (libuv). The hot paths (a
        # token, a manifest GET) spend a good part of their CPU in the event loop and transport writes.
        web.run_app(app, sock=sock, print=None, access_log=None, shutdown_timeout=10, loop=uvloop.new_event_loop())
    except Exception as exc:
        print(f"berth: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
