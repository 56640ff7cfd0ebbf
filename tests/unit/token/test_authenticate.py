"""services.token.authenticate: reading the Authorization header."""

from __future__ import annotations

import base64

import pytest

from services.common.errors import BerthError
from services.token.authenticate import MAX_PASSWORD_LENGTH, Credentials, parse_authorization
from services.token.errors import InvalidCredentials, MalformedCredentials, UnsupportedScheme


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_no_header_is_anonymous() -> None:
    assert parse_authorization(None) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic(b"alice:secret"), Credentials("alice", "secret")),
        (basic(b"alice:se:cr:et"), Credentials("alice", "se:cr:et")),  # only the first colon splits
        (basic(b"robot$lib+ci:s"), Credentials("robot$lib+ci", "s")),
        (basic("jürgen:pässword".encode()), Credentials("jürgen", "pässword")),
        (basic(b"alice:"), Credentials("alice", "")),
        ("basic " + base64.b64encode(b"alice:x").decode(), Credentials("alice", "x")),
    ],
)
def test_basic_credentials(header: str, expected: Credentials) -> None:
    assert parse_authorization(header) == expected


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("Bearer abc.def.ghi", UnsupportedScheme),
        ("Digest username=x", UnsupportedScheme),
        ("garbage", UnsupportedScheme),
        ("Basic !!!not-base64!!!", MalformedCredentials),
        ("Basic " + base64.b64encode(b"no-colon").decode(), MalformedCredentials),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), MalformedCredentials),
        (basic(b":password"), InvalidCredentials),
        (basic(b"alice:" + b"x" * (MAX_PASSWORD_LENGTH + 1)), InvalidCredentials),
        (basic(b"al\x00ice:x"), InvalidCredentials),
    ],
)
def test_malformed_headers_are_refused_clearly(header: str, error: type[BerthError]) -> None:
    with pytest.raises(error) as exc:
        parse_authorization(header)
    assert exc.value.status in (400, 401)
    if exc.value.status == 401:
        assert exc.value.headers["WWW-Authenticate"] == 'Basic realm="berth"'
