"""services.common.oci: the distribution spec's name, tag and digest grammar."""

from __future__ import annotations

import hashlib

import pytest

from services.common.oci import mediatypes as mt
from services.common.oci.digest import Digest, InvalidDigest, digest_bytes, parse_digest
from services.common.oci.names import MAX_NAME_LENGTH, is_valid_name, is_valid_tag, looks_like_digest

HEX64 = "0123456789abcdef" * 4
HEX128 = HEX64 * 2

# --- repository names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "0",
        "library/app",
        "library/team/app",
        "a.b_c__d-e--f/x",
        "a---b",
        "my.registry/v1.2/app",
        "a" * 255,
        "/".join(["ab"] * 85),  # 254 chars of nested components
    ],
)
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "Library/app",
        "a//b",
        "-a",
        "a-",
        "a/",
        "/a",
        "a__",
        "_a",
        ".a",
        "a...b",
        "a..b",
        "a___b",
        "a b",
        "a:b",
        "a@b",
        "a\n",
        "a" * 256,
        "a/" * 127 + "ab",  # 256 chars
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)


def test_name_length_limit() -> None:
    assert MAX_NAME_LENGTH == 255
    assert is_valid_name("a" * MAX_NAME_LENGTH)
    assert not is_valid_name("a" * (MAX_NAME_LENGTH + 1))


# --- tags ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["latest", "_x", "v1.0-rc_1", "V1", "0", "1.2.3", "a" * 128, "x" + "." * 127])
def test_valid_tags(tag: str) -> None:
    assert is_valid_tag(tag)


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a" * 129, "a/b", "a:b", "a@b", "a b", "ä", "latest\n"])
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)


def test_looks_like_digest() -> None:
    assert looks_like_digest(f"sha256:{HEX64}")
    assert not looks_like_digest("latest")


# --- digests ------------------------------------------------------------------------------------------


def test_parse_sha256() -> None:
    digest = parse_digest(f"sha256:{HEX64}")
    assert digest == Digest("sha256", HEX64)
    assert str(digest) == f"sha256:{HEX64}"


def test_parse_sha512() -> None:
    digest = parse_digest(f"sha512:{HEX128}")
    assert digest.algorithm == "sha512"
    assert digest.hex == HEX128
    assert str(digest) == f"sha512:{HEX128}"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"sha256:{HEX64.upper()}", id="uppercase"),
        pytest.param(f"sha256:{HEX64[:-1]}A", id="one-uppercase"),
        pytest.param(f"sha256:{HEX64[:-1]}", id="short"),
        pytest.param(f"sha256:{HEX64}0", id="long"),
        pytest.param("sha256:", id="empty-hex"),
        pytest.param(f"sha512:{HEX64}", id="sha512-with-64"),
        pytest.param(f"sha256:{HEX128}", id="sha256-with-128"),
        pytest.param(f"sha256:{HEX64[:-1]}g", id="non-hex"),
        pytest.param(f"sha256:{HEX64[:-1]}\n", id="newline"),
        pytest.param(f"md5:{'0' * 32}", id="md5"),
        pytest.param(f"SHA256:{HEX64}", id="uppercase-algorithm"),
        pytest.param(f":{HEX64}", id="empty-algorithm"),
        pytest.param(f"sha256{HEX64}", id="missing-colon"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_digests(value: str) -> None:
    with pytest.raises(InvalidDigest):
        parse_digest(value)


def test_invalid_digest_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_digest("md5:abc")


def test_digest_messages_say_what_is_wrong() -> None:
    with pytest.raises(InvalidDigest, match="not supported"):
        parse_digest(f"md5:{'0' * 32}")
    with pytest.raises(InvalidDigest, match="algorithm:hex"):
        parse_digest("nocolon")
    with pytest.raises(InvalidDigest, match="64 lowercase hex"):
        parse_digest("sha256:abc")


def test_digest_bytes_sha256() -> None:
    digest = digest_bytes(b"")
    assert digest == Digest("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert digest_bytes(b"hello") == Digest("sha256", hashlib.sha256(b"hello").hexdigest())


def test_digest_bytes_sha512() -> None:
    digest = digest_bytes(b"hello", "sha512")
    assert digest == Digest("sha512", hashlib.sha512(b"hello").hexdigest())
    assert parse_digest(str(digest)) == digest


def test_digest_round_trip_and_hasher() -> None:
    data = b"some blob bytes"
    digest = digest_bytes(data)
    assert parse_digest(str(digest)) == digest
    hasher = digest.hasher()
    hasher.update(data)
    assert hasher.hexdigest() == digest.hex


def test_empty_json_digest_constant() -> None:
    assert str(digest_bytes(mt.EMPTY_JSON)) == mt.EMPTY_JSON_DIGEST
