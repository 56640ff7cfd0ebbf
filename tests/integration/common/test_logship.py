"""The log shipper: lines reach a syslog peer in order, and a missing peer never blocks the service."""

from __future__ import annotations

import socket
import threading

from services.common.logship import QUEUE_LIMIT, LogShipper
from services.log.framing import Framer
from services.log.parse import parse


def test_lines_arrive_in_order_as_rfc5424() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        framer = Framer(65536)
        with conn:
            while chunk := conn.recv(65536):
                received.extend(framer.feed(chunk))

    reader = threading.Thread(target=accept)
    reader.start()
    shipper = LogShipper("registry", "127.0.0.1", port, "tcp")
    shipper.start()
    for i in range(500):
        shipper.send(6, f'{{"event": "line {i}"}}')
    shipper.close(timeout=10)
    reader.join(10)
    server.close()

    messages = [parse(raw) for raw in received]
    assert [m.text for m in messages] == [f'{{"event": "line {i}"}}' for i in range(500)]
    assert {m.program for m in messages} == {"registry"}
    assert {(m.facility, m.severity) for m in messages} == {(16, 6)}
    assert all(m.timestamp is not None and not m.malformed for m in messages)
    assert shipper.sent == 500


def test_an_absent_collector_drops_and_counts_instead_of_blocking() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    shipper = LogShipper("registry", "127.0.0.1", port, "tcp")
    shipper.start()
    for i in range(QUEUE_LIMIT * 3):
        shipper.send(6, f"line {i}")
    shipper.close(timeout=0.5)

    assert shipper.sent == 0
    assert shipper.dropped >= QUEUE_LIMIT
