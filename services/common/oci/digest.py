"""Digests: parse and verify `algorithm:hex` for the algorithms the registry accepts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")


class InvalidDigest(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def parse_digest(value: str) -> Digest:
    algorithm, sep, encoded = value.partition(":")
    if not sep:
        raise InvalidDigest(f"digest {value!r} is not of the form algorithm:hex")
    length = HEX_LENGTHS.get(algorithm)
    if length is None:
        raise InvalidDigest(f"digest algorithm {algorithm!r} is not supported (use sha256 or sha512)")
    if len(encoded) != length or _HEX.fullmatch(encoded) is None:
        raise InvalidDigest(f"digest {value!r} must have {length} lowercase hex characters after '{algorithm}:'")
    return Digest(algorithm, encoded)


def digest_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
