"""Shipping each service's log lines to the log collector over syslog, without ever blocking the service.

Lines go into a bounded queue; one thread sends them in batches as RFC 5424 messages, octet-counted over TCP
(RFC 6587) or one per datagram over UDP. If the collector is down or slow, the queue fills and new lines
are dropped and counted (stdout still has them); the thread reconnects with backoff. The stdlib's
SysLogHandler would block the caller on a slow TCP peer and speaks only RFC 3164, hence this small sender.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque

QUEUE_LIMIT = 10_000
# Lines are sent in batches this often: one wake-up and one send per interval instead of per line keeps
# the shipper's cost on a busy service to a few microseconds a line.
FLUSH_INTERVAL_S = 0.05
MAX_BACKOFF_S = 10.0
FACILITY_LOCAL0 = 16


class Rfc5424:
    """Formats lines as RFC 5424 messages; the date part is computed once a second, not once a line."""

    def __init__(self, app: str, hostname: str, pid: int) -> None:
        self._fields = f"{hostname} {app} {pid} - -"
        self._second = -1
        self._date = ""

    def __call__(self, severity: int, text: str, stamp: float) -> bytes:
        second = int(stamp)
        if second != self._second:
            self._second = second
            self._date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        micros = int((stamp - second) * 1_000_000)
        return f"<{FACILITY_LOCAL0 * 8 + severity}>1 {self._date}.{micros:06d}Z {self._fields} {text}".encode()


class LogShipper:
    def __init__(self, app: str, host: str, port: int, protocol: str) -> None:
        self._address = (host, port)
        self._udp = protocol == "udp"
        # A deque's append is atomic under the GIL: the service's threads never take a lock to log.
        self._lines: deque[tuple[int, str, float]] = deque()
        self._stop = threading.Event()
        self._format = Rfc5424(app, socket.gethostname(), os.getpid())
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self.dropped = 0
        self.sent = 0

    def start(self) -> None:
        self._thread.start()

    def send(self, severity: int, text: str) -> None:
        if len(self._lines) >= QUEUE_LIMIT:
            self.dropped += 1
            return
        self._lines.append((severity, text, time.time()))

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (trying for up to `timeout`), then stop."""
        self._stop.set()
        self._thread.join(timeout)

    def _take(self) -> list[bytes]:
        batch = []
        while self._lines:
            severity, text, stamp = self._lines.popleft()
            batch.append(self._format(severity, text, stamp))
        return batch

    def _run(self) -> None:
        backoff = FLUSH_INTERVAL_S
        sock: socket.socket | None = None
        pending: list[bytes] = []
        while True:
            stopping = self._stop.wait(backoff)
            pending.extend(self._take())
            if len(pending) > QUEUE_LIMIT:
                # The collector has been away long enough: keep the newest lines.
                self.dropped += len(pending) - QUEUE_LIMIT
                pending = pending[-QUEUE_LIMIT:]
            if pending:
                try:
                    if sock is None:
                        sock = self._connect()
                    if self._udp:
                        for message in pending:
                            sock.sendto(message, self._address)
                    else:
                        sock.sendall(b"".join(b"%d %s" % (len(m), m) for m in pending))
                    self.sent += len(pending)
                    pending = []
                    backoff = FLUSH_INTERVAL_S
                except OSError:
                    if sock is not None:
                        sock.close()
                        sock = None
                    backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF_S)
            if stopping:
                self.dropped += len(pending)
                break
        if sock is not None:
            sock.close()

    def _connect(self) -> socket.socket:
        if self._udp:
            return socket.socket(socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET, socket.SOCK_DGRAM)
        return socket.create_connection(self._address, timeout=5)
