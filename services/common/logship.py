"""Shipping each service's log lines to the log collector over syslog, without ever blocking the service.

Lines go into a bounded queue; one thread sends them as RFC 5424 messages, octet-counted over TCP
(RFC 6587) or one per datagram over UDP. If the collector is down or slow, the queue fills and new lines
are dropped and counted (stdout still has them); the thread reconnects with backoff. The stdlib's
SysLogHandler would block the caller on a slow TCP peer and speaks only RFC 3164, hence this small sender.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
import time
from datetime import UTC, datetime

QUEUE_LIMIT = 10_000
BATCH = 512
MAX_BACKOFF_S = 10.0
FACILITY_LOCAL0 = 16
SEVERITY = {"debug": 7, "info": 6, "warning": 4, "warn": 4, "error": 3, "critical": 2, "exception": 3}


def rfc5424(app: str, severity: int, text: str, *, hostname: str, pid: int) -> bytes:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pri = FACILITY_LOCAL0 * 8 + severity
    return f"<{pri}>1 {stamp} {hostname} {app} {pid} - - {text}".encode()


class LogShipper:
    def __init__(self, app: str, host: str, port: int, protocol: str) -> None:
        self._app = app
        self._address = (host, port)
        self._udp = protocol == "udp"
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_LIMIT)
        self._hostname = socket.gethostname()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self.dropped = 0
        self.sent = 0

    def start(self) -> None:
        self._thread.start()

    def send(self, severity: int, text: str) -> None:
        try:
            self._queue.put_nowait(rfc5424(self._app, severity, text, hostname=self._hostname, pid=self._pid))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (for up to `timeout`), then stop."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        sock: socket.socket | None = None
        pending: list[bytes] = []
        stopping = False
        while not (stopping and not pending):
            if not pending:
                item = self._queue.get()
                if item is None:
                    break
                pending.append(item)
                while len(pending) < BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    pending.append(item)
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
                backoff = 0.5
            except OSError:
                if sock is not None:
                    sock.close()
                    sock = None
                if stopping:
                    self.dropped += len(pending)
                    break
                # The batch waits for the collector; new lines fill the queue behind it, then are dropped.
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        if sock is not None:
            sock.close()

    def _connect(self) -> socket.socket:
        if self._udp:
            return socket.socket(socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET, socket.SOCK_DGRAM)
        return socket.create_connection(self._address, timeout=5)
