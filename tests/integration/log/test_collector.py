"""The log collector against real clients: util-linux `logger`, Python's SysLogHandler, raw sockets."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.logcollector import LogCollectorProcess
from tests.harness.plugin import RegistryProcess, TestDatabase

pytestmark = pytest.mark.integration
LOGGER = shutil.which("logger") or "/usr/bin/logger"


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[LogCollectorProcess]:
    proc = LogCollectorProcess(tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def logger(collector: LogCollectorProcess, *args: str) -> None:
    subprocess.run([LOGGER, "--server", "127.0.0.1", "--port", str(collector.port), *args], check=True)


def texts(lines: list[str]) -> list[str]:
    return [line.split(": ", 1)[1] for line in lines]


def stats_line(collector: LogCollectorProcess, event: str) -> dict[str, object]:
    """The collector's own last `event`, from its own file (program `log`)."""
    events = [json.loads(line.split(": ", 1)[1]) for line in collector.lines("log")]
    return next(e for e in reversed(events) if e["event"] == event)


@pytest.mark.parametrize(
    ("args", "host_field"),
    [
        (["--udp"], True),
        (["--tcp"], True),
        (["--tcp", "--octet-count"], True),
        (["--udp", "--rfc3164"], True),
        (["--tcp", "--rfc3164"], True),
    ],
)
def test_util_linux_logger(collector: LogCollectorProcess, args: list[str], host_field: bool) -> None:
    logger(collector, *args, "-t", "myapp", "--id=4242", "hello from logger")

    lines = collector.wait_for_lines("myapp", 1)
    assert len(lines) == 1
    timestamp, host, program, text = lines[0].split(" ", 3)
    assert timestamp.endswith("Z") and "T" in timestamp
    assert program == "myapp[4242]:"
    assert text == "hello from logger"
    assert host != ""


def test_logger_messages_with_newlines_stay_one_line_each(collector: LogCollectorProcess) -> None:
    logger(collector, "--tcp", "--octet-count", "-t", "multi", "first\nsecond")

    lines = collector.wait_for_lines("multi", 1)
    assert texts(lines) == ["first\\nsecond"]


@pytest.mark.parametrize("socktype", [socket.SOCK_DGRAM, socket.SOCK_STREAM])
def test_python_syslog_handler(collector: LogCollectorProcess, socktype: socket.SocketKind) -> None:
    handler = logging.handlers.SysLogHandler(address=("127.0.0.1", collector.port), socktype=socktype)
    handler.ident = "pyapp: "
    log = logging.getLogger(f"berth-test-{socktype}")
    log.addHandler(handler)
    log.propagate = False
    try:
        for i in range(50):
            log.warning("message %d", i)
    finally:
        handler.close()
        log.removeHandler(handler)

    lines = collector.wait_for_lines("pyapp", 50)
    assert texts(lines) == [f"message {i}" for i in range(50)]


def test_garbage_and_oversized_messages_are_survived_and_reported(tmp_path: Path) -> None:
    collector = LogCollectorProcess(tmp_path, collector={"max_message_bytes": 1024})
    collector.start()
    try:
        with socket.create_connection(("127.0.0.1", collector.port)) as s:
            s.sendall(os.urandom(5000).replace(b"\n", b"") + b"\n")  # binary garbage, no PRI
            s.sendall(b"<13>1 2026-11-28T06:00:00Z h big - - - " + b"x" * 10_000 + b"\n")  # oversized
            s.sendall(b"<999>not a priority\n<13>1 - - - - - - \n")  # malformed PRI; empty message
            s.sendall(b"99999999999999 <13>oops count\n")  # absurd octet count
            s.sendall(b"<13>1 2026-11-28T06:00:00Z h after - - - still here\n")
        after = collector.wait_for_lines("after", 1)
        assert texts(after) == ["still here"]
        big = collector.wait_for_lines("big", 1)
        assert len(big[0]) < 1200  # kept, cut to max_message_bytes
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"\xff\xfe\x00garbage", ("127.0.0.1", collector.port))
        udp.sendto(b"<13>1 - h after - - - udp still here", ("127.0.0.1", collector.port))
        udp.close()
        assert texts(collector.wait_for_lines("after", 2))[-1] == "udp still here"
    finally:
        assert collector.stop() == 0
    final = stats_line(collector, "log_collector_stopped")
    assert int(str(final["truncated"])) >= 1
    assert int(str(final["malformed"])) >= 2
    assert len(collector.lines("unknown")) >= 2  # garbage is kept, under "unknown"


def test_rotation_keeps_rotate_count_files_of_rotate_size(tmp_path: Path) -> None:
    collector = LogCollectorProcess(tmp_path, local={"rotate_size": "4K", "rotate_count": 3})
    collector.start()
    try:
        with socket.create_connection(("127.0.0.1", collector.port)) as s:
            for i in range(400):
                s.sendall(f"<13>1 - h rot - - - message number {i:04d} padded to some length\n".encode())
        collector.wait_for_lines("rot", 1)
    finally:
        collector.stop()
    files = sorted(p.name for p in collector.location.glob("rot.log*"))
    assert files == ["rot.log", "rot.log.1", "rot.log.2", "rot.log.3"]
    for path in collector.location.glob("rot.log*"):
        assert path.stat().st_size <= 4096
    kept = texts(collector.lines("rot"))
    # The newest messages are kept, in order, without gaps; the oldest were rotated away.
    numbers = [int(t.split()[2]) for t in kept]
    assert numbers == list(range(numbers[0], 400))
    assert numbers[0] > 0


def test_restart_loses_nothing_already_sent_over_tcp(tmp_path: Path) -> None:
    collector = LogCollectorProcess(tmp_path)
    collector.start()
    total = 20_000
    with socket.create_connection(("127.0.0.1", collector.port)) as s:
        payload = b"".join(f"<14>1 - h durable - - - message {i}\n".encode() for i in range(total))
        s.sendall(payload)
        # Stop while the connection is still open and its bytes may still sit in the socket buffer.
        assert collector.stop(signal.SIGTERM) == 0
    collector.start()
    try:
        logger(collector, "--tcp", "-t", "durable", "after restart")
        lines = collector.wait_for_lines("durable", total + 1)
    finally:
        collector.stop()
    got = texts(lines)
    assert got[:total] == [f"message {i}" for i in range(total)]
    assert got[total:] == ["after restart"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_under_a_burst(tmp_path: Path) -> None:
    """Senders far faster than the disk path: TCP holds them back instead of the collector buffering."""
    collector = LogCollectorProcess(tmp_path, local={"rotate_size": "1G"})
    collector.start()
    idle = rss_kib(collector.pid)
    per_sender, senders = 150_000, 4
    message = b"<14>1 - h burst - - - " + b"y" * 380 + b"\n"
    peak = idle

    def send() -> None:
        with socket.create_connection(("127.0.0.1", collector.port)) as s:
            for _ in range(per_sender // 1000):
                s.sendall(message * 1000)

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_kib(collector.pid))
        time.sleep(0.01)
    for t in threads:
        t.join()
    lines = collector.wait_for_lines("burst", per_sender * senders, timeout=60)
    collector.stop()

    assert len(lines) == per_sender * senders  # 240 MB sent, every message kept
    assert peak - idle < 30 * 1024, f"collector grew by {(peak - idle) // 1024} MiB under the burst"


def test_udp_drops_are_counted_and_reported(tmp_path: Path) -> None:
    collector = LogCollectorProcess(tmp_path)
    collector.start()
    sent = 20_000
    address = ("127.0.0.1", collector.port)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    os.kill(collector.pid, signal.SIGSTOP)  # the collector cannot read: the kernel buffer overflows
    try:
        for i in range(sent):
            udp.sendto(f"<13>1 - h flood - - - datagram {i} {'x' * 150}".encode(), address)
    finally:
        os.kill(collector.pid, signal.SIGCONT)
    # A marker queued behind the flood: once it is written, everything the kernel kept has been read.
    markers = 0
    while True:
        markers += 1
        udp.sendto(f"<13>1 - h flood - - - marker {markers}".encode(), address)
        if collector.wait_for_text("flood", f"marker {markers}", timeout=0.5) is not None or markers > 100:
            break
    udp.close()
    collector.stop()
    final = stats_line(collector, "log_collector_stopped")
    kept = [t for t in texts(collector.lines("flood")) if t.startswith("datagram")]
    kept_markers = [t for t in texts(collector.lines("flood")) if t.startswith("marker")]
    assert int(str(final["udp_dropped"])) > 0
    assert len(kept) + len(kept_markers) + int(str(final["udp_dropped"])) == sent + markers


def test_a_full_disk_loses_only_what_it_must(tmp_path: Path) -> None:
    collector = LogCollectorProcess(tmp_path)
    collector.location.mkdir(parents=True)
    (collector.location / "full.log").symlink_to("/dev/full")  # every write: ENOSPC
    collector.start()
    try:
        logger(collector, "--tcp", "-t", "full", "lost to a full disk")
        logger(collector, "--tcp", "-t", "fine", "written elsewhere")
        assert texts(collector.wait_for_lines("fine", 1)) == ["written elsewhere"]
    finally:
        assert collector.stop() == 0
    final = stats_line(collector, "log_collector_stopped")
    assert int(str(final["lines_lost"])) >= 1
    assert "No space left on device" in collector.stdout_path.read_text()


def test_messages_are_forwarded_to_an_external_endpoint(tmp_path: Path) -> None:
    external = LogCollectorProcess(tmp_path / "external")
    external.start()
    collector = LogCollectorProcess(
        tmp_path / "local", external_endpoint={"host": "127.0.0.1", "port": external.port, "protocol": "tcp"}
    )
    collector.start()
    try:
        logger(collector, "--tcp", "-t", "fwd", "to both places")
        assert texts(collector.wait_for_lines("fwd", 1)) == ["to both places"]
        assert texts(external.wait_for_lines("fwd", 1)) == ["to both places"]
    finally:
        collector.stop()
        external.stop()


def test_services_ship_their_json_lines_to_the_collector(
    collector: LogCollectorProcess, pg_database: TestDatabase, tmp_path: Path
) -> None:
    registry = RegistryProcess(
        tmp_path / "registry",
        pg_database,
        log_collector={"host": "127.0.0.1", "port": collector.port, "protocol": "tcp"},
    )
    registry.start()
    try:
        # No token service here: the registry refuses, and logs that it did.
        r = httpx.get(registry.url + "/v2/", headers={"X-Request-Id": "shipped-1"})
        assert r.status_code == 401
        line = collector.wait_for_text("registry", "shipped-1")
    finally:
        registry.stop()
    assert line is not None, collector.lines("registry")
    event = json.loads(line.split(": ", 1)[1])
    assert event["request_id"] == "shipped-1"
    assert event["service"] == "registry"
    assert event["status"] == 401
