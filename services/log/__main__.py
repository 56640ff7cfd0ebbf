"""`python -m services.log`: the syslog collector."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import uvloop

from services.common.logging import configure_logging
from services.common.settings import Settings, SettingsError, load_settings, parse_size
from services.common.web import PortUnavailable, bind_socket
from services.log.files import LogFiles
from services.log.forward import Forwarder
from services.log.server import Collector, SyslogServer, reporting


class LogDirectoryUnusable(Exception):
    pass


def check_directory(location: str) -> None:
    path = Path(location)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LogDirectoryUnusable(
            f"cannot create log directory {location}: {exc.strerror}; change 'log.local.location' in berth.yml"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise LogDirectoryUnusable(
            f"log directory {location} is not writable; change 'log.local.location' in berth.yml"
        )


async def serve(settings: Settings, tcp_sock: object, udp_sock: object, stop: asyncio.Event) -> None:
    cfg = settings.log
    files = LogFiles(cfg.local.location, parse_size(cfg.local.rotate_size), cfg.local.rotate_count)
    endpoint = cfg.external_endpoint
    forwarder = Forwarder(endpoint.host, endpoint.port, endpoint.protocol) if endpoint.host else None
    collector = Collector(files, forwarder)
    server = SyslogServer(collector, cfg.collector.max_message_bytes)
    async with AsyncExitStack() as stack:
        await server.start(tcp_sock, udp_sock)  # type: ignore[arg-type]
        if forwarder is not None:
            await stack.enter_async_context(forwarder.running())
        await stack.enter_async_context(reporting(server, udp_sock))  # type: ignore[arg-type]
        collector.note("log_collector_started", port=cfg.collector.port, location=cfg.local.location)
        await stop.wait()
        await server.stop()
        collector.note("log_collector_stopped", **server.report(udp_sock))  # type: ignore[arg-type]
    files.close()


def main() -> None:
    try:
        settings = load_settings()
        configure_logging("log", settings.log, ship=False)
        check_directory(settings.log.local.location)
        cfg = settings.log.collector
        tcp_sock = bind_socket(cfg.bind, cfg.port, "log.collector.port")
        udp_sock = bind_socket(cfg.bind, cfg.port, "log.collector.port", udp=True)
    except (SettingsError, PortUnavailable, LogDirectoryUnusable) as exc:
        print(f"berth log: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, tcp_sock, udp_sock, stop)

    # uvloop, as every HTTP service (services/common/web.py): the collector wakes for every batch of lines.
    uvloop.run(run())


if __name__ == "__main__":
    main()
