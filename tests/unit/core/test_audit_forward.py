"""The audit forwarder's line (RFC 5424, read back by Berth's own collector parser), its configuration
rules and its bounded queue. No sockets: the sender task is never started here."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
import structlog

from services.core.audit.forward import AuditForwarder, format_line
from services.core.auditing import AuditRecord
from services.log.framing import Framer
from services.log.parse import parse

WHEN = dt.datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*")(?: |$)')


def entry(**changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "op_time": WHEN,
        "operator": "admin",
        "operation": "create",
        "resource_type": "project",
        "resource": "web",
        "project": "web",
        "description": "create project web",
    }
    return AuditRecord(**{**fields, **changes})  # type: ignore[arg-type]


def pairs(message: str) -> list[tuple[str, str]]:
    found = [(m[1], json.loads(m[2])) for m in PAIR.finditer(message)]
    assert " ".join(f"{k}={json.dumps(v)}" for k, v in found) == message, "nothing but key=value pairs"
    return found


def test_a_line_is_rfc5424_with_every_field_as_key_value() -> None:
    raw = format_line(entry(), hostname="core-1", procid="42")
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert raw.startswith(b"<110>1 2026-03-01T10:00:00.123456Z core-1 audit 42 create_project - ")
    (framed,) = Framer(65536).feed(raw)
    msg = parse(framed)
    assert not msg.malformed
    assert (msg.facility, msg.severity, msg.program, msg.hostname, msg.pid) == (13, 6, "audit", "core-1", "42")
    assert msg.timestamp == WHEN
    assert pairs(msg.text) == [
        ("time", "2026-03-01T10:00:00.123456Z"),
        ("operator", "admin"),
        ("operation", "create"),
        ("resource_type", "project"),
        ("resource", "web"),
        ("project", "web"),
        ("description", "create project web"),
        ("result", "success"),
    ]


def test_a_failure_is_a_notice_and_an_event_carries_its_id() -> None:
    event_id = uuid.uuid4()
    raw = format_line(
        entry(operation="login", resource_type="user", resource="bob", project=None, success=False, event_id=event_id),
        hostname="h",
        procid="1",
    )
    msg = parse(raw.rstrip(b"\n"))
    assert msg.severity == 5
    assert dict(pairs(msg.text)) == {
        "time": "2026-03-01T10:00:00.123456Z",
        "operator": "admin",
        "operation": "login",
        "resource_type": "user",
        "resource": "bob",
        "project": "",
        "description": "create project web",
        "result": "failure",
        "event_id": str(event_id),
    }


def test_quotes_line_breaks_and_non_ascii_stay_inside_one_ascii_line() -> None:
    tricky = 'a "quoted" \\ name\nwith a break and é ] [x="y"]'
    raw = format_line(entry(resource=tricky, operator="ré\r\n"), hostname="h", procid="1")
    assert raw.isascii() and raw.count(b"\n") == 1
    (framed,) = Framer(65536).feed(raw)
    found = dict(pairs(parse(framed).text))
    assert found["resource"] == tricky
    assert found["operator"] == "ré\r\n"


def test_a_naive_time_is_utc_and_header_fields_stay_printable() -> None:
    raw = format_line(
        entry(op_time=WHEN.replace(tzinfo=None), resource_type="user group"), hostname="my host", procid="7"
    )
    assert raw.startswith(b"<110>1 2026-03-01T10:00:00.123456Z myhost audit 7 create_usergroup - ")


def test_skip_needs_an_endpoint_and_a_bad_endpoint_changes_nothing() -> None:
    with pytest.raises(ValueError, match="needs an audit_log_forward_endpoint"):
        AuditForwarder(skip_database=True)
    forwarder = AuditForwarder("log.example.com:514", skip_database=True)
    assert (forwarder.enabled, forwarder.skip_database, forwarder.endpoint) == (True, True, "log.example.com:514")
    with pytest.raises(ValueError, match="has no port"):
        forwarder.configure("log.example.com", False)
    with pytest.raises(ValueError, match="needs an audit_log_forward_endpoint"):
        forwarder.configure("", True)
    assert (forwarder.enabled, forwarder.skip_database, forwarder.endpoint) == (True, True, "log.example.com:514")
    forwarder.configure("", False)
    assert (forwarder.enabled, forwarder.skip_database) == (False, False)


def test_nothing_is_queued_while_forwarding_is_off() -> None:
    forwarder = AuditForwarder()
    forwarder.send(entry())
    assert forwarder.queued == 0


def test_a_full_queue_drops_the_oldest_and_says_how_many() -> None:
    forwarder = AuditForwarder("127.0.0.1:9", limit=3, hostname="h")
    with structlog.testing.capture_logs() as logs:
        for i in range(7):
            forwarder.send(entry(resource=f"r{i}"))
    assert forwarder.queued == 3
    assert forwarder.dropped == 4
    assert [json.loads(PAIR.findall(line.decode())[4][1]) for line in forwarder._queue] == ["r4", "r5", "r6"]
    warnings = [e for e in logs if e["event"] == "audit_forward_dropped"]
    # Told at once, then at most every few seconds: the first drop now, the rest when next reported.
    assert warnings == [
        {
            "event": "audit_forward_dropped",
            "log_level": "warning",
            "dropped": 1,
            "dropped_total": 1,
            "queue_limit": 3,
            "endpoint": "127.0.0.1:9",
        }
    ]
    with structlog.testing.capture_logs() as logs:
        forwarder._report_drops()
    assert [(e["dropped"], e["dropped_total"]) for e in logs] == [(3, 4)]


def test_turning_forwarding_off_discards_what_waits_and_says_so() -> None:
    forwarder = AuditForwarder("127.0.0.1:9")
    forwarder.send(entry())
    forwarder.send(entry())
    forwarder.configure("127.0.0.1:10", False)
    assert forwarder.queued == 2, "a new endpoint gets what waited for the old one"
    with structlog.testing.capture_logs() as logs:
        forwarder.configure("", False)
    assert forwarder.queued == 0
    assert [(e["event"], e["count"]) for e in logs] == [("audit_forward_discarded", 2)]
