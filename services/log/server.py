"""The syslog collector: UDP and TCP endpoints feeding one file per program.

Each chunk read from a socket is framed, parsed and written before the next is read, so memory stays at
one chunk per connection however hard clients push: a slow disk slows the reads, and TCP's flow control
holds the senders back (back-pressure) instead of a queue growing. UDP cannot be held back; what the
kernel drops is read from /proc/net/udp and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import structlog

from services.common.tasks import background
from services.log.files import LogFiles
from services.log.forward import Forwarder
from services.log.framing import Framer
from services.log.parse import Message, format_line, parse

log = structlog.get_logger()
SELF_PROGRAM = "log"
STATS_INTERVAL_S = 10.0
# On shutdown, read what connected clients already sent until they have been quiet this long.
DRAIN_QUIET_S = 0.3
DRAIN_MAX_S = 5.0
UDP_COALESCE_S = 0.01
UDP_BATCH = 256
MAX_DATAGRAM = 65535


@dataclass
class Counters:
    received: int = 0
    malformed: int = 0
    truncated: int = 0
    tcp_connections: int = 0
    udp_datagrams: int = 0


class Collector:
    """Turns raw messages into lines in the program files (and hands them to the forwarder)."""

    def __init__(self, files: LogFiles, forwarder: Forwarder | None) -> None:
        self.files = files
        self.forwarder = forwarder
        self.counters = Counters()

    def handle(self, raw_messages: list[bytes]) -> None:
        if not raw_messages:
            return
        received = datetime.now(UTC)
        by_program: dict[str, list[bytes]] = {}
        malformed = 0
        for raw in raw_messages:
            msg: Message = parse(raw)
            malformed += msg.malformed
            line = format_line(msg, received).encode("utf-8", "backslashreplace")
            by_program.setdefault(msg.program, []).append(line)
        self.counters.received += len(raw_messages)
        self.counters.malformed += malformed
        for program, lines in by_program.items():
            self.files.write(program, lines)
        if self.forwarder is not None:
            self.forwarder.submit(raw_messages)

    def note(self, event: str, **fields: object) -> None:
        """The collector's own events: to stdout like every service, and into its own file."""
        log.info(event, **fields)
        prefix = f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} - {SELF_PROGRAM}[{os.getpid()}]: "
        body = json.dumps({"event": event, "service": SELF_PROGRAM, **fields}, default=str)
        self.files.write(SELF_PROGRAM, [f"{prefix}{body}\n".encode()])


class TcpProtocol(asyncio.Protocol):
    def __init__(self, collector: Collector, max_message: int, live: set[TcpProtocol]) -> None:
        self.collector = collector
        self._framer = Framer(max_message)
        self._live = live
        self.last_data = time.monotonic()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._live.add(self)
        self.collector.counters.tcp_connections += 1

    def data_received(self, data: bytes) -> None:
        self.last_data = time.monotonic()
        before = self._framer.truncated
        self.collector.handle(self._framer.feed(data))
        self.collector.counters.truncated += self._framer.truncated - before

    def eof_received(self) -> bool | None:
        self.collector.handle(self._framer.finish())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        # A connection cut mid-message still keeps the part that arrived.
        self.collector.handle(self._framer.finish())
        self._live.discard(self)


class UdpReader:
    """Reads the UDP socket in batches. A datagram that finds the reader idle wakes it, and the reader then
    waits UDP_COALESCE_S before it drains everything queued: nginx sends one datagram per request, and
    waking, reading and writing a file once per datagram cost the collector more CPU than the request it
    logs cost the token service. The wait only delays lines by milliseconds; the socket's receive buffer
    holds far more than arrives in it (what overflows is counted from /proc as before)."""

    def __init__(self, collector: Collector, max_message: int, sock: socket.socket) -> None:
        self.collector = collector
        self._max = max_message
        self._sock = sock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_later: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._sock.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._ready)

    def _ready(self) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self._sock.fileno())
        self._drain_later = self._loop.call_later(UDP_COALESCE_S, self._drain_and_listen)

    def _drain_and_listen(self) -> None:
        assert self._loop is not None
        self._drain_later = None
        self.drain()
        self._loop.add_reader(self._sock.fileno(), self._ready)

    def drain(self) -> None:
        """Handles every datagram queued now, in batches of at most UDP_BATCH (one file write each)."""
        while self._read_batch() == UDP_BATCH:
            pass

    def _read_batch(self) -> int:
        counters = self.collector.counters
        batch, reads = [], 0
        while reads < UDP_BATCH:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except OSError:
                break  # nothing queued (EAGAIN), or an ICMP error reported on the socket
            reads += 1
            data = data.rstrip(b"\r\n\0")
            if len(data) > self._max:
                data = data[: self._max]
                counters.truncated += 1
            if data:
                batch.append(data)
        counters.udp_datagrams += reads
        self.collector.handle(batch)
        return reads

    def close(self) -> None:
        """Stops reading, after handling what is queued."""
        if self._loop is None:
            return
        if self._drain_later is not None:
            self._drain_later.cancel()
            self._drain_later = None
        else:
            self._loop.remove_reader(self._sock.fileno())
        self.drain()
        self._loop = None


def udp_drops(sock: socket.socket) -> int:
    """Datagrams the kernel dropped for this socket (receive buffer full), from /proc/net/udp{,6}."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if len(cols) >= 13 and cols[9] == inode:
                        return int(cols[12])
        except OSError:
            continue
    return 0


class SyslogServer:
    def __init__(self, collector: Collector, max_message: int) -> None:
        self.collector = collector
        self._max = max_message
        self._live: set[TcpProtocol] = set()
        self._tcp: asyncio.Server | None = None
        self._udp: UdpReader | None = None
        self.udp_dropped = 0

    async def start(self, tcp_sock: socket.socket, udp_sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._tcp = await loop.create_server(lambda: TcpProtocol(self.collector, self._max, self._live), sock=tcp_sock)
        self._udp = UdpReader(self.collector, self._max, udp_sock)
        self._udp.start()

    async def stop(self) -> None:
        """Stop accepting, read what connected clients already sent, then close."""
        if self._tcp is not None:
            self._tcp.close()
        deadline = time.monotonic() + DRAIN_MAX_S
        while self._live and time.monotonic() < deadline:
            if all(time.monotonic() - p.last_data > DRAIN_QUIET_S for p in self._live):
                break
            await asyncio.sleep(0.05)
        for protocol in list(self._live):
            if protocol.transport is not None:
                protocol.transport.close()
        await asyncio.sleep(0)
        if self._udp is not None:
            self._udp.close()

    def report(self, udp_sock: socket.socket) -> dict[str, object]:
        self.udp_dropped = udp_drops(udp_sock)
        stats: dict[str, object] = {**asdict(self.collector.counters), "udp_dropped": self.udp_dropped}
        stats.update(asdict(self.collector.files.stats))
        if self.collector.forwarder is not None:
            stats["forwarded"] = self.collector.forwarder.forwarded
            stats["forward_dropped"] = self.collector.forwarder.dropped
        return stats


@contextlib.asynccontextmanager
async def reporting(server: SyslogServer, udp_sock: socket.socket) -> AsyncIterator[None]:
    """Every STATS_INTERVAL_S, when anything changed, one `log_stats` line with what was lost and why."""

    async def loop() -> None:
        last: dict[str, object] = {}
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            stats = server.report(udp_sock)
            # Our own stats line is written too: counting it as a change would report forever.
            changed = {k: v for k, v in stats.items() if k != "lines_written"}
            if changed != last:
                server.collector.note("log_stats", **stats)
                last = changed

    async with background(loop()):
        yield
