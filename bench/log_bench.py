"""Sustained syslog messages per second over TCP into the log collector, with nothing lost.

    python -m bench.log_bench [--messages N] [--connections C] [--framing lf|octet]

Sends N messages of 200 bytes (RFC 5424) over C TCP connections as fast as the collector takes them,
then waits until every one is in the program's files. The rate is messages / (time from the first byte
sent to the last line written); the count written must equal the count sent. Target: >= 50,000 msg/s.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

from tests.harness.logcollector import LogCollectorProcess

MESSAGE_BYTES = 200
TARGET = 50_000
BATCH = 2_000


def make_message(i: int, framing: str) -> bytes:
    head = f"<14>1 2026-11-28T06:00:00.000000Z benchhost bench {i % 100000} - - seq={i:09d} "
    body = (head + "x" * MESSAGE_BYTES)[:MESSAGE_BYTES].encode()
    return b"%d %s" % (len(body), body) if framing == "octet" else body + b"\n"


def send(port: int, start: int, count: int, framing: str, errors: list[str]) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            for first in range(start, start + count, BATCH):
                last = min(first + BATCH, start + count)
                s.sendall(b"".join(make_message(i, framing) for i in range(first, last)))
    except OSError as exc:
        errors.append(str(exc))


def count_lines(location: Path) -> int:
    total = 0
    for path in location.glob("bench.log*"):
        with path.open("rb") as f:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda f=f: f.read(1 << 20), b""))
    return total


def run(messages: int, connections: int, framing: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="berth-log-bench-") as tmp:
        collector = LogCollectorProcess(Path(tmp), local={"rotate_size": "1G"})
        collector.start()
        try:
            per = messages // connections
            errors: list[str] = []
            threads = [
                threading.Thread(target=send, args=(collector.port, c * per, per, framing, errors))
                for c in range(connections)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent_done = time.perf_counter() - started
            expected = per * connections
            deadline = time.monotonic() + 120
            written = 0
            while time.monotonic() < deadline:
                written = count_lines(collector.location)
                if written >= expected:
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            collector.stop()
        return {
            "framing": framing,
            "connections": connections,
            "sent": expected,
            "written": written,
            "send_s": round(sent_done, 2),
            "total_s": round(elapsed, 2),
            "msgs_per_s": round(written / elapsed),
            "mb_per_s": round(written * MESSAGE_BYTES / elapsed / 1e6, 1),
            "errors": errors,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--framing", choices=["lf", "octet", "both"], default="both")
    args = parser.parse_args()
    framings = ["lf", "octet"] if args.framing == "both" else [args.framing]
    results = [run(args.messages, args.connections, f) for f in framings]
    for r in results:
        print(json.dumps(r))
    print("\nsummary")
    for r in results:
        ok = r["written"] == r["sent"] and int(str(r["msgs_per_s"])) >= TARGET
        print(
            f"  tcp {r['framing']:5}  {r['connections']} connections  {r['msgs_per_s']:>8} msg/s"
            f"  ({r['mb_per_s']} MB/s of 200-byte messages)  written {r['written']} of {r['sent']}"
            f"  target >= {TARGET} msg/s, none lost: {'OK' if ok else 'MISS'}"
        )


if __name__ == "__main__":
    main()
