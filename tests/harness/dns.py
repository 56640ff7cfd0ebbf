"""A small authoritative DNS server for tests: UDP, A records only, answered from a dict a test may change while
it runs (stdlib only).

    dns = DnsServer({"registry.test": ["127.0.0.2"]})
    dns.start()                                   # 127.0.0.1:<free port>, in a thread of its own
    dns.address                                   # "127.0.0.1:<port>": nginx's `resolver` takes it as is
    dns.set("registry.test", ["127.0.0.3"])       # the next query gets the new answer
    dns.queries("registry.test")                  # how many queries for the name it has answered
    dns.stop()

A name it does not hold gets NXDOMAIN; a query for another type of a name it holds (AAAA, …) gets an answer
with no records, as a real server without such records gives.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterable, Mapping

TYPE_A = 1
CLASS_IN = 1
RCODE_NXDOMAIN = 3
# Short: a resolver that honours the TTL asks again soon (nginx's `valid=` overrides it anyway).
TTL_S = 1


class DnsServer:
    def __init__(self, records: Mapping[str, Iterable[str]] | None = None, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._records: dict[str, list[str]] = {}
        self._queries: Counter[str] = Counter()
        for name, addresses in (records or {}).items():
            self.set(name, addresses)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def set(self, name: str, addresses: Iterable[str]) -> None:
        """The A records of `name` from now on (an empty list: the name exists with no address)."""
        checked = list(addresses)
        for a in checked:
            socket.inet_aton(a)  # a malformed address fails here, in the test, not in the server's thread
        with self._lock:
            self._records[_canonical(name)] = checked

    def queries(self, name: str) -> int:
        with self._lock:
            return self._queries[_canonical(name)]

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if not selector.select(timeout=0.1):
                    continue
                try:
                    query, peer = self._sock.recvfrom(4096)
                except OSError:
                    continue
                reply = self.answer(query)
                if reply is not None:
                    self._sock.sendto(reply, peer)

    def answer(self, query: bytes) -> bytes | None:
        """The reply to one query message; None for something that is not a standard query (dropped)."""
        if len(query) < 12:
            return None
        ident, flags, qdcount = struct.unpack("!HHH", query[:6])
        if flags & 0x8000 or (flags >> 11) & 0xF != 0 or qdcount != 1:
            return None
        try:
            name, end = _read_name(query, 12)
            qtype, qclass = struct.unpack("!HH", query[end : end + 4])
        except (IndexError, struct.error, UnicodeDecodeError):
            return None
        question = query[12 : end + 4]
        with self._lock:
            self._queries[name] += 1
            addresses = self._records.get(name)
        # QR, AA, the client's RD, RA; NXDOMAIN for a name not held.
        reply_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080
        if addresses is None:
            return struct.pack("!HHHHHH", ident, reply_flags | RCODE_NXDOMAIN, 1, 0, 0, 0) + question
        answers = b""
        count = 0
        if qtype == TYPE_A and qclass == CLASS_IN:
            for a in addresses:
                # The name as a pointer to the question's (offset 12), then type, class, TTL, length, address.
                answers += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL_S, 4) + socket.inet_aton(a)
                count += 1
        return struct.pack("!HHHHHH", ident, reply_flags, 1, count, 0, 0) + question + answers


def _canonical(name: str) -> str:
    return name.rstrip(".").lower()


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The question's name (no compression in a question) and the offset just past it."""
    labels: list[str] = []
    while True:
        length = message[offset]
        offset += 1
        if length == 0:
            return _canonical(".".join(labels)), offset
        if length & 0xC0:
            raise IndexError("a compressed name in a question")
        labels.append(message[offset : offset + length].decode("ascii"))
        offset += length
