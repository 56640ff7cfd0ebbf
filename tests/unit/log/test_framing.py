"""services.log.framing: RFC 6587 framing under any chunking, truncation, and a bounded buffer."""

from __future__ import annotations

import random

import pytest

from services.log.framing import Framer

CHUNK = 64 * 1024
# Everything a non-transparent message may contain: no LF, no NUL, no CR (a trailing CR is framing).
TEXT_BYTES = bytes(b for b in range(256) if b not in (0x00, 0x0A, 0x0D))


def octet(msg: bytes) -> bytes:
    return b"%d %s" % (len(msg), msg)


def run(framer: Framer, stream: bytes, cuts: list[int]) -> list[bytes]:
    """Feed `stream` split at the (sorted) `cuts`, then finish."""
    out: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out += framer.feed(stream[prev:cut])
        prev = cut
    return out + framer.finish()


def frame_all(stream: bytes, max_message: int = 1024) -> list[bytes]:
    return run(Framer(max_message), stream, [])


def random_stream(rng: random.Random, count: int, max_message: int) -> tuple[bytes, list[bytes], int]:
    """A stream of randomly framed messages, some oversized; returns it, what must come out, and how
    many of those are truncated."""
    parts: list[bytes] = []
    expected: list[bytes] = []
    truncated = 0
    for _ in range(count):
        length = rng.choice([0, 1, 5, max_message - 1, max_message, max_message + 1, rng.randrange(3 * max_message)])
        style = rng.choice(["octet", "lf", "crlf", "nul"])
        if style == "octet":
            msg = rng.randbytes(length)  # anything at all, digits, LF and NUL included
            parts.append(octet(msg))
        else:
            # Syslog messages start with "<"; a leading digit would select octet counting.
            msg = b"<" + bytes(rng.choice(TEXT_BYTES) for _ in range(length))
            parts.append(msg + {"lf": b"\n", "crlf": b"\r\n", "nul": b"\0"}[style])
        if len(msg) > max_message:
            truncated += 1
            expected.append(msg[:max_message])
        elif msg:
            expected.append(msg)
    return b"".join(parts), expected, truncated


# --- non-transparent framing -------------------------------------------------------------------


def test_lf_terminated_messages() -> None:
    assert frame_all(b"<13>one\n<13>two\n<13>three\n") == [b"<13>one", b"<13>two", b"<13>three"]


def test_nul_terminated_messages_as_python_sysloghandler_sends_them() -> None:
    assert frame_all(b'<14>registry: {"a":1}\x00<14>registry: {"b":2}\x00') == [
        b'<14>registry: {"a":1}',
        b'<14>registry: {"b":2}',
    ]


def test_crlf_strips_the_cr_but_keeps_a_cr_inside_the_message() -> None:
    assert frame_all(b"<13>a\r\n<13>b\rc\r\n") == [b"<13>a", b"<13>b\rc"]


def test_cr_before_nul_is_content() -> None:
    assert frame_all(b"<13>a\r\x00") == [b"<13>a\r"]


def test_lf_and_nul_terminators_mix_and_the_first_one_wins() -> None:
    assert frame_all(b"<13>a\x00<13>b\n<13>c\x00\n") == [b"<13>a", b"<13>b", b"<13>c"]


def test_empty_messages_are_skipped() -> None:
    assert frame_all(b"\n\n\r\n\x00<13>a\n\n0 \r\n") == [b"<13>a"]


# --- octet counting ----------------------------------------------------------------------------


def test_octet_counted_messages_keep_lf_nul_and_digits_inside() -> None:
    msgs = [b"<13>1 line\nnext", b"<13>\x00nul", b"12345 67890", b"\r\n"]
    assert frame_all(b"".join(octet(m) for m in msgs)) == msgs


def test_each_message_chooses_its_own_framing() -> None:
    stream = octet(b"<13>counted") + b"<13>lf\n" + octet(b"<13>again") + b"<13>nul\x00" + b"<13>crlf\r\n"
    assert frame_all(stream) == [b"<13>counted", b"<13>lf", b"<13>again", b"<13>nul", b"<13>crlf"]


def test_stray_newline_between_octet_counted_messages_is_ignored() -> None:
    assert frame_all(octet(b"<13>a") + b"\n" + octet(b"<13>b") + b"\r\n") == [b"<13>a", b"<13>b"]


def test_nine_digit_count_is_valid_and_waits_for_its_bytes() -> None:
    framer = Framer(1024)
    assert framer.feed(b"000000005 ") == []
    assert framer.feed(b"<13>a") == [b"<13>a"]
    assert framer.buffered == 0


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"12abc\n<13>ok\n", [b"12abc", b"<13>ok"]),  # digits not followed by a space
        (b"1234567890 ten digits\n<13>ok\n", [b"1234567890 ten digits", b"<13>ok"]),
        (b"12345678901234567890\x00<13>ok\n", [b"12345678901234567890", b"<13>ok"]),
        (b"5x 12345\n" + octet(b"<13>ok"), [b"5x 12345", b"<13>ok"]),
    ],
)
def test_malformed_count_is_read_as_a_non_transparent_message(stream: bytes, expected: list[bytes]) -> None:
    assert frame_all(stream) == expected
    for cut in range(len(stream) + 1):
        assert run(Framer(1024), stream, [cut]) == expected


def test_a_non_digit_settles_a_malformed_count_without_waiting_for_ten_bytes() -> None:
    framer = Framer(1024)
    assert framer.feed(b"12") == []
    assert framer.feed(b"a\n") == [b"12a"]


def test_short_digit_run_waits_for_more_bytes() -> None:
    framer = Framer(1024)
    assert framer.feed(b"123") == []
    assert framer.buffered == 3


# --- chunk boundaries ---------------------------------------------------------------------------

MIXED = (
    octet(b"<165>1 2003-10-11T22:14:15.003Z host app - - - multi\nline")
    + b"<13>Nov 28 06:53:31 myhost myprog: hello\r\n"
    + b'<14>registry: {"a":1}\x00'
    + octet(b"")
    + b"\n"
    + octet(b"<13>\x0012 3")
    + b"<13>last\n"
)
MIXED_EXPECTED = [
    b"<165>1 2003-10-11T22:14:15.003Z host app - - - multi\nline",
    b"<13>Nov 28 06:53:31 myhost myprog: hello",
    b'<14>registry: {"a":1}',
    b"<13>\x0012 3",
    b"<13>last",
]


def test_mixed_stream_in_one_chunk() -> None:
    assert frame_all(MIXED) == MIXED_EXPECTED


def test_mixed_stream_split_at_every_boundary() -> None:
    for cut in range(len(MIXED) + 1):
        assert run(Framer(1024), MIXED, [cut]) == MIXED_EXPECTED, cut


def test_mixed_stream_split_at_every_pair_of_boundaries() -> None:
    n = len(MIXED)
    for first in range(0, n + 1, 3):
        for second in range(first, n + 1, 2):
            assert run(Framer(1024), MIXED, [first, second]) == MIXED_EXPECTED, (first, second)


def test_mixed_stream_one_byte_at_a_time() -> None:
    assert run(Framer(1024), MIXED, list(range(1, len(MIXED)))) == MIXED_EXPECTED


@pytest.mark.parametrize("seed", range(40))
def test_random_streams_under_random_chunking(seed: int) -> None:
    rng = random.Random(seed)
    max_message = rng.choice([1, 8, 32, 100])
    stream, expected, truncated = random_stream(rng, 60, max_message)
    for _ in range(5):
        cuts = sorted(rng.sample(range(len(stream) + 1), rng.randrange(min(len(stream), 200) + 1)))
        framer = Framer(max_message)
        assert run(framer, stream, cuts) == expected
        assert framer.truncated == truncated
        assert framer.buffered == 0


def test_random_streams_one_byte_at_a_time() -> None:
    rng = random.Random(1234)
    stream, expected, truncated = random_stream(rng, 40, 16)
    framer = Framer(16)
    assert run(framer, stream, list(range(1, len(stream)))) == expected
    assert framer.truncated == truncated


# --- truncation and bounded memory --------------------------------------------------------------


@pytest.mark.parametrize("terminator", [b"\n", b"\r\n", b"\x00"])
def test_message_of_exactly_max_is_kept_whole(terminator: bytes) -> None:
    msg = b"<" + b"x" * 9
    stream = msg + terminator + octet(msg)
    for cut in range(len(stream) + 1):
        framer = Framer(10)
        assert run(framer, stream, [cut]) == [msg, msg]
        assert framer.truncated == 0


def test_oversized_lf_message_is_cut_and_the_next_one_survives() -> None:
    framer = Framer(10)
    assert framer.feed(b"<13>" + b"a" * 100 + b"\n<13>next\n") == [b"<13>aaaaaa", b"<13>next"]
    assert framer.truncated == 1


def test_oversized_octet_message_is_cut_and_the_next_one_survives() -> None:
    framer = Framer(10)
    assert framer.feed(octet(b"<13>" + b"a\n" * 50) + b"<13>next\n") == [b"<13>a\na\na\n", b"<13>next"]
    assert framer.truncated == 1


def test_unterminated_10mb_line_keeps_the_buffer_bounded() -> None:
    max_message = 8192
    framer = Framer(max_message)
    out: list[bytes] = []
    block = b"<13>" + b"z" * (CHUNK - 4)
    for i in range(160):  # 10 MiB
        out += framer.feed(block if i == 0 else block[4:] + b"zzzz")
        assert framer.buffered <= max_message + 1
    assert out == [b"<13>" + b"z" * (max_message - 4)]
    assert framer.feed(b"zz\n<13>next\n") == [b"<13>next"]
    assert framer.truncated == 1
    assert framer.finish() == []


def test_10mb_octet_counted_message_is_skipped_without_buffering() -> None:
    max_message = 8192
    size = 10 * 1024 * 1024
    framer = Framer(max_message)
    out = framer.feed(b"%d " % size)
    sent = 0
    while sent < size:
        piece = min(CHUNK, size - sent)
        out += framer.feed(b"\n" * piece)  # LFs inside a count are payload, not terminators
        sent += piece
        assert framer.buffered <= max_message + 10
    out += framer.feed(octet(b"<13>next"))
    assert out == [b"\n" * max_message, b"<13>next"]
    assert framer.truncated == 1


def test_skip_spanning_feeds_ends_exactly_at_the_next_message() -> None:
    framer = Framer(4)
    assert framer.feed(b"10 <1") == []  # too long, but the kept part has not all arrived
    assert framer.feed(b"3>ab") == [b"<13>"]  # 4 of the 10 bytes still to skip
    assert framer.buffered == 0
    assert framer.feed(b"cde") == []
    assert framer.feed(b"f<13>g\n") == [b"<13>"]
    assert framer.truncated == 2


def test_endless_digits_never_wedge_the_connection() -> None:
    framer = Framer(1000)
    out: list[bytes] = []
    for _ in range(16):
        out += framer.feed(b"7" * CHUNK)
        assert framer.buffered <= 1001
    out += framer.feed(b"\n<13>ok\n")
    assert out == [b"7" * 1000, b"<13>ok"]


def test_floods_of_terminators_buffer_nothing() -> None:
    framer = Framer(100)
    for filler in (b"\n", b"\x00", b"\r\n"):
        assert framer.feed(filler * CHUNK) == []
        assert framer.buffered <= 1
    assert framer.finish() == []


def test_max_message_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_message"):
        Framer(0)


# --- finish -----------------------------------------------------------------------------------


def test_finish_emits_an_unterminated_last_line() -> None:
    framer = Framer(1024)
    assert framer.feed(b"<13>a\n<13>tail") == [b"<13>a"]
    assert framer.finish() == [b"<13>tail"]
    assert framer.finish() == []


def test_finish_drops_the_cr_of_a_crlf_cut_short() -> None:
    framer = Framer(1024)
    framer.feed(b"<13>tail\r")
    assert framer.finish() == [b"<13>tail"]


def test_finish_emits_what_arrived_of_a_short_octet_frame_without_its_count() -> None:
    framer = Framer(1024)
    assert framer.feed(b"100 <13>partial") == []
    assert framer.finish() == [b"<13>partial"]


def test_finish_emits_a_bare_digit_run_as_is() -> None:
    framer = Framer(1024)
    framer.feed(b"123")
    assert framer.finish() == [b"123"]


def test_finish_with_nothing_pending() -> None:
    framer = Framer(1024)
    assert framer.finish() == []
    framer.feed(b"<13>a\n")
    assert framer.finish() == []
    framer.feed(b"5 ")
    assert framer.finish() == []


def test_finish_after_a_truncated_message_emits_nothing_more() -> None:
    framer = Framer(4)
    assert framer.feed(b"<13>abcdef") == [b"<13>"]
    assert framer.finish() == []
    framer = Framer(4)
    assert framer.feed(b"100 <13>abcdef") == [b"<13>"]
    assert framer.finish() == []


def test_finish_cuts_a_pending_line_just_over_max() -> None:
    framer = Framer(4)
    assert framer.feed(b"<13>a") == []  # max + 1 bytes: could still have been "<13>" CRLF
    assert framer.finish() == [b"<13>"]
    assert framer.truncated == 1


def test_framer_is_reusable_after_finish() -> None:
    framer = Framer(4)
    framer.feed(b"100 <13>abcdef")
    framer.finish()
    assert framer.feed(b"<1>\n") == [b"<1>"]
