"""services.log.parse: RFC 5424, RFC 3164 and real clients' variants; never raising; one line out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.log.parse import Message, format_line, parse, safe_program

BOM = b"\xef\xbb\xbf"
RECEIVED = datetime(2024, 11, 28, 7, 0, 0, 123456, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- RFC 5424 -----------------------------------------------------------------------------------


def test_rfc5424_example_1_no_structured_data() -> None:
    msg = parse(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " + BOM + b"'su root' failed")
    assert msg == Message(
        facility=4,
        severity=2,
        timestamp=utc(2003, 10, 11, 22, 14, 15, 3000),
        hostname="mymachine.example.com",
        program="su",
        pid=None,
        text="'su root' failed",
        malformed=False,
    )


def test_rfc5424_example_2_offset_converted_to_utc() -> None:
    msg = parse(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.")
    assert msg.facility == 20
    assert msg.severity == 5
    assert msg.timestamp == utc(2003, 8, 24, 12, 14, 15, 3)
    assert msg.timestamp is not None and msg.timestamp.tzinfo is UTC
    assert (msg.hostname, msg.program, msg.pid) == ("192.0.2.1", "myproc", "8710")
    assert msg.text == "%% It's time to make the do-nuts."
    assert not msg.malformed


def test_rfc5424_example_3_structured_data_is_skipped() -> None:
    msg = parse(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
        + BOM
        + b"An application event log entry..."
    )
    assert (msg.program, msg.pid, msg.malformed) == ("evntslog", None, False)
    assert msg.text == "An application event log entry..."


def test_rfc5424_example_4_structured_data_only() -> None:
    msg = parse(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]'
    )
    assert (msg.text, msg.malformed) == ("", False)


def test_rfc5424_structured_data_with_escapes_and_brackets_in_values() -> None:
    msg = parse(b'<14>1 - - app - - [a@1 x="q\\"uote" y="back\\\\" z="br\\]ack" w="]" e=""][b] the text')
    assert (msg.text, msg.malformed) == ("the text", False)


def test_rfc5424_structured_data_value_with_a_newline() -> None:
    assert parse(b'<14>1 - - app - - [a@1 x="l1\nl2"] msg').text == "msg"


@pytest.mark.parametrize(
    "sd",
    [
        b"[a@1",  # never closed
        b'[a@1 x="open]',  # value never closed
        b'[a@1 x="v\\"]',  # the closing quote is escaped
        b"[a@1 x=v]",  # value not quoted
        b"[]",  # no SD-ID
        b"[a@1] [b@1]x",  # fine, then garbage glued to the MSG
        b"[a@1]text",  # MSG must follow a space
        b"-text",
        b"text",
    ],
)
def test_rfc5424_bad_structured_data_is_malformed(sd: bytes) -> None:
    raw = b"<14>1 - - app - - " + sd
    msg = parse(raw)
    if sd == b"[a@1] [b@1]x":  # the first element is valid; "[b@1]x" is then the MSG
        assert (msg.malformed, msg.text) == (False, "[b@1]x")
        return
    assert msg.malformed
    assert msg.text == raw.decode()
    assert (msg.facility, msg.severity) == (1, 6)  # the PRI itself was fine
    assert (msg.program, msg.hostname, msg.timestamp) == ("unknown", None, None)


def test_rfc5424_all_nilvalues() -> None:
    assert parse(b"<14>1 - - - - - -") == Message(1, 6, None, None, "unknown", None, "", False)
    assert parse(b"<14>1 - - - - - - hi there") == Message(1, 6, None, None, "unknown", None, "hi there", False)


def test_rfc5424_empty_msg_after_the_space() -> None:
    assert parse(b"<14>1 - - app - - - ").text == ""


def test_rfc5424_bom_is_removed_only_at_the_start() -> None:
    assert parse(b"<14>1 - - app - - - " + BOM + b"a" + BOM).text == "a\ufeff"


def test_rfc5424_msg_keeps_its_spaces_and_invalid_utf8_is_escaped() -> None:
    assert parse(b"<14>1 - - app - - -  two  spaces \xff\xfe").text == " two  spaces \\xff\\xfe"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2003-10-11T22:14:15Z", utc(2003, 10, 11, 22, 14, 15)),
        ("2003-10-11T22:14:15.1Z", utc(2003, 10, 11, 22, 14, 15, 100000)),
        ("2003-10-11T22:14:15.123456789Z", utc(2003, 10, 11, 22, 14, 15, 123456)),
        ("2003-10-11T22:14:15.5+05:30", utc(2003, 10, 11, 16, 44, 15, 500000)),
        ("2003-10-11T22:14:15-00:00", utc(2003, 10, 11, 22, 14, 15)),
        ("2003-12-31T23:30:00-01:00", utc(2004, 1, 1, 0, 30, 0)),
    ],
)
def test_rfc5424_timestamps_become_utc(stamp: str, expected: datetime) -> None:
    msg = parse(f"<14>1 {stamp} h app - - - x".encode())
    assert msg.timestamp == expected
    assert msg.timestamp is not None and msg.timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "stamp",
    [
        "2003-10-11T22:14:15",  # no zone
        "2003-10-11T22:14:15.003",  # no zone
        "2003-10-11 22:14:15Z",  # no T
        "2003-13-11T22:14:15Z",  # month 13
        "2003-10-11T22:14:60Z",  # leap second, forbidden by RFC 5424
        "2003-10-11T22:14Z",
        "2003-1O-11T22:14:15Z",
        "yesterday",
        "Oct 11 22:14:15",
    ],
)
def test_rfc5424_bad_timestamp_is_malformed(stamp: str) -> None:
    msg = parse(f"<14>1 {stamp} h app - - - x".encode())
    assert msg.malformed
    assert msg.timestamp is None


@pytest.mark.parametrize(
    "raw",
    [
        b"<14>1 garbage",
        b"<14>1 - - - - -",  # no STRUCTURED-DATA
        b"<14>1 -  - - - - -",  # doubled space
        b"<14>1 ",
    ],
)
def test_rfc5424_unreadable_header_keeps_the_whole_line(raw: bytes) -> None:
    msg = parse(raw)
    assert msg.malformed
    assert msg.text == raw.decode()
    assert (msg.facility, msg.severity, msg.program) == (1, 6, "unknown")


def test_rfc5424_app_name_is_sanitised() -> None:
    assert parse(b"<14>1 - - ../etc/passwd - - -").program == "unknown"
    assert parse(b"<14>1 - - my/app - - -").program == "myapp"


# --- RFC 3164 and what real clients send ---------------------------------------------------------


def test_logger_rfc3164_with_hostname() -> None:
    msg = parse(b"<13>Nov 28 06:53:31 myhost myprog: hello")
    assert msg == Message(1, 5, None, "myhost", "myprog", None, "hello", False)


def test_python_sysloghandler_ident_only() -> None:
    assert parse(b'<14>registry: {"a":1}') == Message(1, 6, None, None, "registry", None, '{"a":1}', False)


def test_space_padded_day_and_pid() -> None:
    msg = parse(b"<30>Nov  8 06:53:31 myhost dockerd[1234]: started")
    assert (msg.hostname, msg.program, msg.pid, msg.text) == ("myhost", "dockerd", "1234", "started")
    assert (msg.facility, msg.severity, msg.timestamp) == (3, 6, None)


def test_zero_padded_day() -> None:
    assert parse(b"<30>Nov 08 06:53:31 myhost prog: x").program == "prog"


def test_docker_unix_format_without_hostname() -> None:
    msg = parse(b"<30>Nov 28 06:53:31 3f2a9c1b7d4e[4567]: container says hi")
    assert (msg.hostname, msg.program, msg.pid, msg.text) == (None, "3f2a9c1b7d4e", "4567", "container says hi")


def test_timestamp_with_hostname_and_no_tag() -> None:
    msg = parse(b"<13>Nov 28 06:53:31 myhost hello world")
    assert (msg.hostname, msg.program, msg.text, msg.malformed) == ("myhost", "unknown", "hello world", False)


def test_timestamp_and_hostname_only() -> None:
    msg = parse(b"<13>Nov 28 06:53:31 myhost")
    assert (msg.hostname, msg.program, msg.text) == ("myhost", "unknown", "")


def test_no_timestamp_and_no_tag_keeps_the_whole_text() -> None:
    msg = parse(b"<14>disk full on /dev/sda: retrying")
    assert (msg.hostname, msg.program, msg.pid, msg.text) == (None, "unknown", None, "disk full on /dev/sda: retrying")


def test_without_timestamp_the_second_token_is_never_a_tag() -> None:
    assert parse(b"<14>Something failed: reason").program == "unknown"


def test_an_unknown_month_is_not_a_timestamp() -> None:
    msg = parse(b"<13>Foo 28 06:53:31 myhost prog: x")
    assert (msg.hostname, msg.program, msg.text) == (None, "unknown", "Foo 28 06:53:31 myhost prog: x")


@pytest.mark.parametrize(
    ("raw", "program", "pid", "text"),
    [
        (b"<14>tag:", "tag", None, ""),
        (b"<14>tag: ", "tag", None, ""),
        (b"<14>tag:  two", "tag", None, " two"),  # only one space belongs to the separator
        (b"<14>tag: a: b", "tag", None, "a: b"),
        (b"<14>tag:nospace", "unknown", None, "tag:nospace"),
        (b"<14>tag[]: x", "unknown", None, "tag[]: x"),
        (b"<14>tag[12345678901234567]: x", "unknown", None, "tag[12345678901234567]: x"),
        (b"<14>tag[abc-1]: x", "tag", "abc-1", "x"),
        (b"<14>systemd/unit.service: x", "systemdunit.service", None, "x"),
        (b"<14>../etc/passwd: x", "unknown", None, "x"),
        (b"<14>" + b"a" * 48 + b": x", "a" * 48, None, "x"),
        (b"<14>" + b"a" * 49 + b": x", "unknown", None, "a" * 49 + ": x"),
    ],
)
def test_tag_rules(raw: bytes, program: str, pid: str | None, text: str) -> None:
    msg = parse(raw)
    assert (msg.program, msg.pid, msg.text, msg.malformed) == (program, pid, text, False)


def test_pri_with_nothing_after_it() -> None:
    assert parse(b"<14>") == Message(1, 6, None, None, "unknown", None, "", False)


def test_version_other_than_1_is_read_as_rfc3164_text() -> None:
    msg = parse(b"<14>2 - - - - - -")
    assert (msg.malformed, msg.program, msg.text) == (False, "unknown", "2 - - - - - -")


# --- PRI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "facility", "severity"),
    [(b"<0>x", 0, 0), (b"<7>x", 0, 7), (b"<8>x", 1, 0), (b"<191>x", 23, 7), (b"<014>x", 1, 6)],
)
def test_pri_bounds(raw: bytes, facility: int, severity: int) -> None:
    msg = parse(raw)
    assert (msg.facility, msg.severity, msg.malformed) == (facility, severity, False)


@pytest.mark.parametrize(
    "raw",
    [
        *(b"<192>x", b"<999>x", b"<-1>x", b"<abc>x", b"<14 x", b"<14", b"<>x", b"<1234>x", b"<0014>x", b"14>x"),
        *(b" <14>x", b"", b"<", b"no pri at all", b"<\xd9\xa3>x", b"<1\xb2>x"),
    ],
)
def test_invalid_pri_is_malformed_with_the_whole_line_as_text(raw: bytes) -> None:
    msg = parse(raw)
    assert msg == Message(-1, -1, None, None, "unknown", None, raw.decode("utf-8", "backslashreplace"), True)


def test_binary_garbage_never_raises() -> None:
    rng = random.Random(5424)
    seeds = [
        b"",
        b"<14>",
        b"<14>1 ",
        b"<14>1 2003-10-11T22:14:15.003Z h app 1 id ",
        b"<13>Nov 28 06:53:31 ",
        b'<14>1 - - a - - [x@1 y="',
    ]
    for i in range(4000):
        prefix = seeds[i % len(seeds)]
        if i % 3:
            raw = prefix + rng.randbytes(rng.randrange(80))
        else:  # printable noise gets deeper into the parsers than random bytes
            raw = prefix + bytes(rng.choice(b' <>[]"\\=-:.0123456789TZ+abc\n\r\x00') for _ in range(rng.randrange(80)))
        msg = parse(raw)
        if msg.malformed:
            assert msg.text == raw.decode("utf-8", "backslashreplace")
        else:
            assert 0 <= msg.facility <= 23 and 0 <= msg.severity <= 7
        assert msg.timestamp is None or msg.timestamp.tzinfo is UTC
        assert msg.program == safe_program(msg.program)
        line = format_line(msg, RECEIVED)
        assert line.endswith("\n") and line.count("\n") == 1 and "\r" not in line


def test_mutated_valid_messages_never_raise() -> None:
    rng = random.Random(3164)
    valid = [
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application"] ' + BOM + b"An application event",
        b"<13>Nov 28 06:53:31 myhost myprog[12]: hello",
    ]
    for i in range(3000):
        raw = bytearray(valid[i % 2])
        for _ in range(rng.randrange(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        line = format_line(parse(bytes(raw)), RECEIVED)
        assert line.count("\n") == 1


# --- safe_program ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("registry", "registry"),
        ("berth-core_1.2", "berth-core_1.2"),
        ("-", "-"),
        ("../etc/passwd", "unknown"),
        ("/etc/passwd", "etcpasswd"),
        ("a/../../b", "a....b"),
        ("", "unknown"),
        (".", "unknown"),
        ("..", "unknown"),
        (".hidden", "unknown"),
        ("a b\tc\n", "abc"),
        ("héllo", "hllo"),
        ("名前", "unknown"),
        ("x" * 100, "x" * 64),
        ("é" + "y" * 70, "y" * 64),
    ],
)
def test_safe_program(name: str, expected: str) -> None:
    assert safe_program(name) == expected


# --- format_line -------------------------------------------------------------------------------


def test_format_line_full() -> None:
    msg = Message(0, 5, utc(2024, 11, 28, 6, 53, 31), "myhost", "myprog", "123", "hello", False)
    assert format_line(msg, RECEIVED) == "2024-11-28T06:53:31.000000Z myhost myprog[123]: hello\n"


def test_format_line_without_timestamp_host_or_pid_uses_the_receive_time() -> None:
    msg = Message(1, 6, None, None, "registry", None, '{"a":1}', False)
    assert format_line(msg, RECEIVED) == '2024-11-28T07:00:00.123456Z - registry: {"a":1}\n'


def test_format_line_converts_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    msg = Message(1, 6, datetime(2024, 1, 1, 1, 0, 0, 5, tzinfo=plus2), "h", "p", None, "x", False)
    assert format_line(msg, RECEIVED) == "2023-12-31T23:00:00.000005Z h p: x\n"
    msg.timestamp = None
    received = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert format_line(msg, received) == "2024-06-01T17:00:00.000000Z h p: x\n"


def test_format_line_takes_a_naive_receive_time_as_utc() -> None:
    msg = Message(1, 6, None, None, "p", None, "x", False)
    assert format_line(msg, datetime(2024, 6, 1, 12, 0, 0)) == "2024-06-01T12:00:00.000000Z - p: x\n"


def test_format_line_escapes_line_breaks_and_strips_trailing_whitespace() -> None:
    msg = Message(1, 6, None, None, "p", None, "a\r\nb\nc\rd\n\ne  \r\n\n \t", False)
    assert format_line(msg, RECEIVED) == "2024-11-28T07:00:00.123456Z - p: a\\nb\\nc\\nd\\n\\ne\n"


def test_format_line_keeps_backslashes_and_leading_spaces() -> None:
    msg = Message(1, 6, None, None, "p", None, "  C:\\path\\n already", False)
    assert format_line(msg, RECEIVED) == "2024-11-28T07:00:00.123456Z - p:   C:\\path\\n already\n"


def test_format_line_empty_text() -> None:
    assert format_line(Message(1, 6, None, None, "p", None, "", False), RECEIVED).endswith(" p: \n")


def test_format_line_keeps_header_fields_on_one_line() -> None:
    msg = Message(1, 6, None, "evil\nhost", "p", "1\r2", "x", False)
    assert format_line(msg, RECEIVED) == "2024-11-28T07:00:00.123456Z evil\\nhost p[1\\n2]: x\n"


def test_octet_counted_header_with_line_breaks_still_makes_one_line() -> None:
    line = format_line(parse(b"<14>1 - ho\nst app p\r\nid - - multi\nline\n"), RECEIVED)
    assert line == "2024-11-28T07:00:00.123456Z ho\\nst app[p\\nid]: multi\\nline\n"


def test_parse_then_format_rfc5424() -> None:
    raw = b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."
    assert format_line(parse(raw), RECEIVED) == (
        "2003-08-24T12:14:15.000003Z 192.0.2.1 myproc[8710]: %% It's time to make the do-nuts.\n"
    )


def test_parse_then_format_malformed_keeps_everything() -> None:
    assert format_line(parse(b"plain text\n"), RECEIVED) == "2024-11-28T07:00:00.123456Z - unknown: plain text\n"
