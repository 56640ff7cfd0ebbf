"""Reading one syslog message: RFC 5424, RFC 3164 and the variants real clients send. Pure; no I/O.

`parse` never raises. Whatever cannot be read becomes a `malformed` message that keeps the whole
line in `text`, so the collector loses nothing and a hostile client cannot stop it.
This runs once per message on the collector's hot path, hence precompiled patterns, `str.split`
for the RFC 5424 header, and no datetime built for a timestamp that fails a cheap shape check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

UNKNOWN_PROGRAM = "unknown"
_NIL = "-"
_BOM = "\ufeff"
_MAX_PRI = 191  # facility 23 (local7) * 8 + severity 7

# RFC 5424 6.3: one or more [SD-ID *(SP PARAM-NAME="PARAM-VALUE")]; inside a value \" \\ \] are
# escapes, and an unescaped ] is still unambiguous within the quotes, so it is tolerated.
_STRUCTURED_DATA = re.compile(r'(?:\[[^ \]="]+(?: [^ \]="]+="(?:[^"\\]|\\.)*")*\])+', re.DOTALL)
# RFC 3164 4.1.2: "Mmm dd hh:mm:ss " with the day space-padded ("Nov  8"); some clients zero-pad it.
_RFC3164_TIMESTAMP = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3]\d \d\d:\d\d:\d\d ")
# A TAG counts only when its token ends with a colon, so "<14>disk full on /dev/sda" keeps its text.
_TAG = re.compile(r"([A-Za-z0-9._/-]{1,48})(?:\[([^\]\x00-\x1f\x7f]{1,16})\])?:(?: |\Z)")
_PROGRAM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
_MAX_PROGRAM = 64
_UNSAFE_PROGRAM_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class Message:
    facility: int  # -1 if no valid PRI
    severity: int  # -1 if no valid PRI
    timestamp: datetime | None  # UTC; None when the message carried none (RFC 3164 has no year or zone)
    hostname: str | None
    program: str  # APP-NAME or TAG, through safe_program; "unknown" if none
    pid: str | None
    text: str
    malformed: bool  # PRI or header unreadable: `text` is then the whole line


def parse(raw: bytes) -> Message:
    if raw[:1] != b"<":
        return _malformed(raw, -1)
    close = raw.find(b">", 1, 5)  # at most three PRI digits
    digits = raw[1:close]
    if close < 2 or not digits.isdigit():
        return _malformed(raw, -1)
    pri = int(digits)
    if pri > _MAX_PRI:
        return _malformed(raw, -1)
    # Decoded once, then parsed as str: the header is ASCII, and MSG needs decoding anyway.
    rest = raw[close + 1 :].decode("utf-8", "backslashreplace")
    if rest.startswith("1 "):
        return _parse_5424(pri, rest, raw)
    return _parse_3164(pri, rest)


def _parse_5424(pri: int, rest: str, raw: bytes) -> Message:
    parts = rest.split(" ", 6)
    # Seven fields, none empty: an empty one means a doubled space or a missing STRUCTURED-DATA.
    if len(parts) != 7 or "" in parts:
        return _malformed(raw, pri)
    _version, stamp, host, app, procid, _msgid, tail = parts

    timestamp: datetime | None = None
    if stamp != _NIL:
        # A full regex costs more than the rest of the parse; this shape check plus fromisoformat
        # (which validates every digit and range) and a required zone gets RFC 3339 minus some
        # harmless ISO 8601 leniency (e.g. a comma before the fraction).
        if len(stamp) < 20 or stamp[10] != "T" or stamp[4] != "-" or stamp[7] != "-":
            return _malformed(raw, pri)
        try:
            timestamp = datetime.fromisoformat(stamp)
        except ValueError:  # month 13, second 60, letters where digits go, ...
            return _malformed(raw, pri)
        # "Z" parses to the UTC singleton: an identity test saves the costlier utcoffset() call.
        if timestamp.tzinfo is not UTC:
            if timestamp.tzinfo is None:
                return _malformed(raw, pri)
            timestamp = timestamp.astimezone(UTC)

    first = tail[0]  # never empty: "" in parts was rejected above
    if first == _NIL:
        end = 1
    elif first == "[":
        match = _STRUCTURED_DATA.match(tail)
        if match is None:
            return _malformed(raw, pri)
        end = match.end()
    else:
        return _malformed(raw, pri)
    if end == len(tail):
        text = ""
    elif tail[end] == " ":
        text = tail[end + 1 :]
        if text.startswith(_BOM):
            text = text[1:]
    else:
        return _malformed(raw, pri)

    # Positional: keyword arguments double the cost of building the dataclass on this hot path.
    return Message(
        pri >> 3,
        pri & 7,
        timestamp,
        None if host == _NIL else host,
        UNKNOWN_PROGRAM if app == _NIL else safe_program(app),
        None if procid == _NIL else procid,
        text,
        False,
    )


def _parse_3164(pri: int, rest: str) -> Message:
    # RFC 3164 proper is "TIMESTAMP HOSTNAME TAG: MSG", but real clients drop parts: Python's
    # SysLogHandler sends just "ident msg", docker's unix format and `logger` may omit the hostname.
    hostname: str | None = None
    pos = 0
    if _RFC3164_TIMESTAMP.match(rest) is not None:
        pos = 16  # len("Mmm dd hh:mm:ss ")
    tag = _TAG.match(rest, pos)
    if tag is None and pos:
        # After a timestamp the first token is the HOSTNAME (RFC 3164 4.1.2) whether a tag follows or not.
        space = rest.find(" ", pos)
        if space > pos:
            hostname = rest[pos:space]
            pos = space + 1
            tag = _TAG.match(rest, pos)
        elif space < 0 and pos < len(rest):
            hostname = rest[pos:]
            pos = len(rest)
    if tag is None:
        return Message(pri >> 3, pri & 7, None, hostname, UNKNOWN_PROGRAM, None, rest[pos:], False)
    return Message(pri >> 3, pri & 7, None, hostname, safe_program(tag[1]), tag[2], rest[tag.end() :], False)


def _malformed(raw: bytes, pri: int) -> Message:
    facility, severity = (pri >> 3, pri & 7) if pri >= 0 else (-1, -1)
    return Message(
        facility=facility,
        severity=severity,
        timestamp=None,
        hostname=None,
        program=UNKNOWN_PROGRAM,
        pid=None,
        text=raw.decode("utf-8", "backslashreplace"),
        malformed=True,
    )


def safe_program(name: str) -> str:
    """The program name becomes a file name downstream: keep it to a short, harmless alphabet."""
    # strip() with a character set is one C call that empties exactly the all-safe names.
    if name and not name.strip(_PROGRAM_CHARS) and len(name) <= _MAX_PROGRAM and name[0] != ".":
        return name
    kept = _UNSAFE_PROGRAM_CHARS.sub("", name)[:_MAX_PROGRAM]
    if not kept or kept.startswith("."):  # "", ".", ".." and hidden files
        return UNKNOWN_PROGRAM
    return kept


def format_line(msg: Message, received: datetime) -> str:
    """One message as exactly one line: `<ts> <host> <program>[<pid>]: <text>\\n`.

    The time is the message's own when it carried one, else `received`; a naive datetime is taken
    as UTC. Line breaks inside any field become a literal backslash-n so that readers splitting
    the file on newlines always see whole messages.
    """
    ts = msg.timestamp or received
    if ts.tzinfo is not UTC and ts.tzinfo is not None:  # identity first: utcoffset() is a call
        ts = ts.astimezone(UTC)
    # isoformat is C-fast and its first 26 characters are always YYYY-MM-DDTHH:MM:SS.ffffff.
    stamp = ts.isoformat(timespec="microseconds")[:26]
    pid = "" if msg.pid is None else f"[{msg.pid}]"
    head = f"{stamp}Z {msg.hostname or _NIL} {msg.program}{pid}: "
    text = msg.text.rstrip()
    # An octet-counted frame may carry a line break anywhere, the header fields included; two
    # substring checks per part keep the common case cheap and every message on one line.
    if "\n" in head or "\r" in head:
        head = _one_line(head)
    if "\n" in text or "\r" in text:
        text = _one_line(text)
    return f"{head}{text}\n"


def _one_line(value: str) -> str:
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
