"""Splitting one TCP syslog connection's byte stream into messages (RFC 6587). Pure; no I/O.

Each message chooses its own framing by its first byte, because nothing in the stream announces
one for the whole connection: an ASCII digit means octet counting ("LEN SP MSG", RFC 6587 3.4.1),
anything else means non-transparent framing, ended by LF, by NUL (what Python's SysLogHandler
sends) or by CRLF. A count that turns out malformed is read as a non-transparent message instead,
so garbage costs one message and never wedges the connection.

Memory stays bounded whatever a client sends: between feeds at most about `max_message` bytes are
kept, because an oversized message is cut as soon as it is known to be too long and the rest of it
is dropped as it streams past, never stored.
"""

from __future__ import annotations

# RFC 6587 does not bound MSG-LEN; nine digits (just under 1 GB) is far beyond any sane message and
# lets a run of digits be rejected after ten bytes instead of being buffered forever.
_MAX_COUNT_DIGITS = 9
_DIGIT_0 = 0x30
_DIGIT_9 = 0x39
_CR = 0x0D


class Framer:
    """Splits one TCP connection's byte stream into syslog messages (RFC 6587)."""

    __slots__ = ("_buf", "_discard_line", "_max", "_skip", "truncated")

    def __init__(self, max_message: int) -> None:
        if max_message < 1:
            raise ValueError(f"max_message must be at least 1, not {max_message}")
        self._max = max_message
        self._buf = b""  # the start of a message whose end has not arrived yet
        self._skip = 0  # bytes of an oversized octet-counted message still to drop
        self._discard_line = False  # dropping the tail of an oversized LF/NUL-framed message
        self.truncated = 0  # messages cut to max_message so far

    @property
    def buffered(self) -> int:
        """Bytes held between feeds; exposed so tests can pin the memory bound."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return []
            data = data[self._skip :]
            self._skip = 0
        if self._discard_line:
            end = _first_terminator(data)
            if end < 0:
                return []
            data = data[end + 1 :]
            self._discard_line = False
        buf = self._buf + data if self._buf else bytes(data)

        # One pass over the buffer with bytes.find: a handful of Python operations per message,
        # never per byte. `lf` and `nul` cache the next terminator positions so a chunk with no NUL
        # (the usual case) is searched for one once, not once per message.
        out: list[bytes] = []
        append = out.append
        limit = self._max
        n = len(buf)
        pos = 0
        lf = buf.find(b"\n")
        nul = buf.find(b"\0")
        while pos < n:
            if _DIGIT_0 <= buf[pos] <= _DIGIT_9:
                sp = buf.find(b" ", pos, pos + _MAX_COUNT_DIGITS + 1)
                if sp >= 0 and buf[pos:sp].isdigit():
                    size = int(buf[pos:sp])
                    start = sp + 1
                    end = start + size
                    if end <= n:
                        if size > limit:
                            self.truncated += 1
                            append(buf[start : start + limit])
                        elif size:
                            append(buf[start:end])
                        pos = end
                        continue
                    if size > limit and n - start >= limit:
                        # Known to be oversized and the kept part is here: emit it now and drop the
                        # rest as it arrives rather than buffering up to a gigabyte.
                        self.truncated += 1
                        append(buf[start : start + limit])
                        self._skip = end - n
                        pos = n
                    break
                if sp < 0 and n - pos <= _MAX_COUNT_DIGITS and buf[pos:n].isdigit():
                    break  # may still become a valid count: wait for more bytes
                # A malformed count: read this message as non-transparent instead.
            if 0 <= lf < pos:
                lf = buf.find(b"\n", pos)
            if 0 <= nul < pos:
                nul = buf.find(b"\0", pos)
            end = lf if nul < 0 or 0 <= lf < nul else nul
            if end < 0:
                # The +1 leaves room for a CR whose LF is still in flight, so a message of exactly
                # max_message bytes sent with CRLF is not miscounted as truncated.
                if n - pos > limit + 1:
                    self.truncated += 1
                    append(buf[pos : pos + limit])
                    self._discard_line = True
                    pos = n
                break
            stop = end - 1 if end == lf and end > pos and buf[end - 1] == _CR else end
            if stop - pos > limit:
                self.truncated += 1
                append(buf[pos : pos + limit])
            elif stop > pos:
                append(buf[pos:stop])
            pos = end + 1
        self._buf = buf[pos:]
        return out

    def finish(self) -> list[bytes]:
        """At EOF: what is left becomes the last message, so a peer that closes without a final
        terminator (or short of its promised count) loses nothing that arrived."""
        buf = self._buf
        self._buf = b""
        self._skip = 0
        self._discard_line = False
        if not buf:
            return []
        if _DIGIT_0 <= buf[0] <= _DIGIT_9:
            sp = buf.find(b" ", 0, _MAX_COUNT_DIGITS + 1)
            if sp > 0 and buf[:sp].isdigit():
                buf = buf[sp + 1 :]  # the count is framing, not message
        elif buf[-1] == _CR:
            buf = buf[:-1]  # a CRLF whose LF never came
        if len(buf) > self._max:
            self.truncated += 1
            buf = buf[: self._max]
        return [buf] if buf else []


def _first_terminator(data: bytes) -> int:
    lf = data.find(b"\n")
    nul = data.find(b"\0", 0, lf if lf >= 0 else len(data))
    return nul if nul >= 0 else lf
