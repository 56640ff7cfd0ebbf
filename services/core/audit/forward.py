"""Audit log forwarding (Harbor's `audit_log_forward_endpoint`): every committed entry, as one syslog line
over TCP to the endpoint, and with `skip_audit_log_database` only there.

The line is RFC 5424, newline-framed (RFC 6587 non-transparent framing, what Harbor's Go syslog client
sends and what rsyslog's imtcp, syslog-ng's network() and Berth's own collector read), and never holds a
line break, so the framing is unambiguous:

    <110>1 2026-03-01T10:00:00.123456Z core-host audit 4242 create_project - time="2026-03-01T10:00:00.123456Z"
    operator="admin" operation="create" resource_type="project" resource="web" project="web"
    description="create project web" result="success"

(one line). PRI is facility 13 (log audit) with severity info, notice for a failed operation (a failed
login); APP-NAME `audit` (Harbor's tag); MSGID `<operation>_<resource_type>`, the audit log's event
type; no STRUCTURED-DATA (it needs an IANA enterprise number, and collectors that show only MSG would
lose it). MSG is `key="value"` pairs, always these eight in this order: time (RFC 3339, UTC), operator,
operation, resource_type, resource, project (its name; "" for none), description ("" for the registry's
events, as in the database) and result (`success` or `failure`); entries from the registry's events end
with event_id, which a receiver may use to drop a redelivery. Every value is a JSON string literal (so
`"` and `\\` are escaped, anything outside printable ASCII is \\uXXXX): the line is plain ASCII, and
each value reads back with a JSON parser.

Forwarding never slows a request: `send` appends to a bounded queue and returns; one background task
connects (lazily, when there is something to send), writes and reconnects with backoff. When the queue
is full the oldest entry goes, and a warning says how many went. The endpoint and the skip flag live
here together, and `configure` changes both at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import socket
import time
from collections import deque
from collections.abc import AsyncIterator

import structlog

from services.common.settings import parse_endpoint
from services.common.tasks import background, wait_set
from services.core.auditing import AuditRecord

log = structlog.get_logger()

APP_NAME = "audit"
FACILITY_LOG_AUDIT = 13
SEVERITY_NOTICE = 5
SEVERITY_INFO = 6
# Lines are well under 2 KB: at most some 20 MB, and at a few hundred entries a second a minute or more away.
QUEUE_LIMIT = 10_000
CONNECT_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 10.0
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0
# At shutdown, what is still queued gets this long to go out.
FLUSH_S = 3.0
# Drops are told at once, then at most this often (and when the endpoint takes lines again).
DROP_REPORT_S = 10.0


def _header_field(value: str, limit: int) -> str:
    """A header field is 1 to `limit` printable ASCII characters without space (RFC 5424 6.2), else NIL."""
    kept = "".join(c for c in value if "!" <= c <= "~")[:limit]
    return kept or "-"


def _rfc3339(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_line(entry: AuditRecord, *, hostname: str, procid: str) -> bytes:
    """One entry as one newline-terminated RFC 5424 line (the format is in the module's docstring)."""
    stamp = _rfc3339(entry.op_time)
    fields = [
        ("time", stamp),
        ("operator", entry.operator),
        ("operation", entry.operation),
        ("resource_type", entry.resource_type),
        ("resource", entry.resource),
        ("project", entry.project or ""),
        ("description", entry.description),
        ("result", "success" if entry.success else "failure"),
    ]
    if entry.event_id is not None:
        fields.append(("event_id", str(entry.event_id)))
    message = " ".join(f"{key}={json.dumps(value)}" for key, value in fields)
    pri = FACILITY_LOG_AUDIT * 8 + (SEVERITY_INFO if entry.success else SEVERITY_NOTICE)
    host, proc = _header_field(hostname, 255), _header_field(procid, 128)
    msgid = _header_field(f"{entry.operation}_{entry.resource_type}", 32)
    return f"<{pri}>1 {stamp} {host} {APP_NAME} {proc} {msgid} - {message}\n".encode("ascii")


class AuditForwarder:
    """The audit log's endpoint and skip flag, and the queue and connection that send entries there."""

    def __init__(
        self,
        endpoint: str = "",
        *,
        skip_database: bool = False,
        limit: int = QUEUE_LIMIT,
        hostname: str | None = None,
    ) -> None:
        self._limit = limit
        self._hostname = hostname or socket.gethostname()
        self._procid = str(os.getpid())
        self._queue: deque[bytes] = deque()
        # Something to do for the sender: an entry, a new endpoint, the connection closed by the peer.
        self._wake = asyncio.Event()
        # Cuts a pause between connection attempts short.
        self._reconfigured = asyncio.Event()
        # Set when the queue was emptied into the socket; cleared by every new entry.
        self._drained = asyncio.Event()
        self._in_flight = 0
        self._endpoint = ""
        self._address: tuple[str, int] | None = None
        self._skip = False
        self.sent = 0
        self.dropped = 0
        self._unreported = 0
        self._last_report = -math.inf
        self.configure(endpoint, skip_database)

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def skip_database(self) -> bool:
        return self._skip

    def configure(self, endpoint: str, skip_database: bool) -> None:
        """Sets both at once (a ValueError, and nothing changed, for a bad endpoint or a skip without one).
        Entries already queued go to the new endpoint; with none, they are discarded."""
        address = parse_endpoint(endpoint) if endpoint else None
        if skip_database and address is None:
            raise ValueError(
                "skip_audit_log_database needs an audit_log_forward_endpoint: the entries would be kept nowhere"
            )
        changed = address != self._address
        self._endpoint, self._address, self._skip = endpoint, address, skip_database
        if not changed:
            return
        if address is None and self._queue:
            log.warning("audit_forward_discarded", count=len(self._queue), reason="forwarding turned off")
            self._queue.clear()
            self._drained.set()
        self._reconfigured.set()
        self._wake.set()

    def send(self, entry: AuditRecord) -> None:
        """Queues the entry's line; never blocks, never raises. Called once the entry's change committed."""
        if self._address is None:
            return
        if len(self._queue) >= self._limit:
            self._queue.popleft()
            self.dropped += 1
            self._unreported += 1
            if time.monotonic() - self._last_report >= DROP_REPORT_S:
                self._report_drops()
        self._queue.append(format_line(entry, hostname=self._hostname, procid=self._procid))
        self._drained.clear()
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue) + self._in_flight

    def _report_drops(self) -> None:
        if self._unreported:
            log.warning(
                "audit_forward_dropped",
                dropped=self._unreported,
                dropped_total=self.dropped,
                queue_limit=self._limit,
                endpoint=self._endpoint,
            )
            self._unreported = 0
            self._last_report = time.monotonic()

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: listed before whatever records entries, so it closes after them."""
        async with background(self._run()):
            yield
            await self._flush()

    async def _flush(self) -> None:
        if self.queued:
            await wait_set(self._drained, FLUSH_S)
        self._report_drops()
        if self.queued:
            log.warning("audit_forward_unsent", count=self.queued, endpoint=self._endpoint)

    async def _run(self) -> None:
        retry = FIRST_RETRY_S
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            address, endpoint = self._address, self._endpoint
            if address is None:
                continue
            self._reconfigured.clear()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    reader, writer = await asyncio.open_connection(*address)
            # UnicodeError: a host name IDNA cannot encode (an empty label, one over 63 characters).
            except (OSError, TimeoutError, UnicodeError) as exc:
                log.warning(
                    "audit_forward_unreachable",
                    endpoint=endpoint,
                    error=str(exc) or type(exc).__name__,
                    queued=len(self._queue),
                    retry_in_s=retry,
                )
                self._report_drops()
                await wait_set(self._reconfigured, retry)
                retry = min(retry * 2, MAX_RETRY_S)
                continue
            log.info("audit_forward_connected", endpoint=endpoint)
            wrote = False
            try:
                wrote = await self._pump(reader, writer, address)
            except (OSError, TimeoutError) as exc:
                log.warning(
                    "audit_forward_failed", endpoint=endpoint, error=str(exc) or type(exc).__name__, queued=self.queued
                )
            finally:
                writer.close()
            if wrote:
                retry = FIRST_RETRY_S
            elif self._queue:
                # Closed (or failed) before taking a line: not a server to hammer with reconnections.
                await wait_set(self._reconfigured, retry)
                retry = min(retry * 2, MAX_RETRY_S)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: tuple[str, int]) -> bool:
        """Writes queued lines until the peer closes or the endpoint changes; True if any were written."""
        closed = asyncio.Event()
        wrote = False

        async def watch() -> None:
            # A syslog server sends nothing back: the end of its stream (or a reset) is how a closed
            # connection shows, and seeing it before writing keeps lines from going into a dead socket.
            with contextlib.suppress(OSError):
                while await reader.read(4096):
                    pass
            closed.set()
            self._wake.set()

        async with background(watch()):
            while not closed.is_set() and self._address == address:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch = list(self._queue)
                self._queue.clear()
                self._in_flight = len(batch)
                try:
                    writer.write(b"".join(batch))
                    async with asyncio.timeout(WRITE_TIMEOUT_S):
                        await writer.drain()
                except BaseException:
                    # Not known to have left: back to the front, ahead of newer lines.
                    self._queue.extendleft(reversed(batch))
                    raise
                finally:
                    self._in_flight = 0
                self.sent += len(batch)
                wrote = True
                if not self._queue:
                    self._drained.set()
                self._report_drops()
        return wrote
