"""Password and robot-secret storage: argon2id, and a short-lived cache of successful checks.

Hashing and verifying cost about 0.15 s of CPU and 64 MiB each (argon2-cffi's defaults, RFC 9106's
second recommended set), by design. They run in a worker thread so the event loop keeps serving, and at
most `max_concurrent` at once, so a burst of wrong passwords can neither exhaust memory nor starve the
other threads.

`docker` asks for a new token before almost every operation, with the same Basic credentials each time.
`CredentialCache` remembers that a (name, password) pair verified, for a minute, under an HMAC with a
random per-process key: the cache holds neither the password nor anything an offline attacker could test
guesses against without the key, and storage keeps its full KDF strength.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

DEFAULT_CACHE_TTL_S = 60.0
DEFAULT_CACHE_ENTRIES = 10_000


class PasswordHasher:
    """argon2id with argon2-cffi's default parameters, off the event loop."""

    def __init__(self, *, max_concurrent: int = 2, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches; a stored value that is not an argon2 hash never matches."""
        async with self._slots:
            return await asyncio.to_thread(self.verify_blocking, password_hash, password)

    async def verify_absent(self, password: str) -> bool:
        """Spend what a real check costs, and fail: for unknown accounts, so that response times do not
        tell which account names exist."""
        async with self._slots:
            return await asyncio.to_thread(self._verify_decoy, password)

    def _verify_decoy(self, password: str) -> bool:
        if self._decoy is None:
            # Same parameters as real hashes, so it costs the same; made once, on first need.
            self._decoy = self._hasher.hash(secrets.token_hex(32))
        self.verify_blocking(self._decoy, password)
        return False

    def verify_blocking(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            # VerifyMismatchError is a VerificationError; InvalidHashError: not a hash we can read.
            return False


def generate_secret(nbytes: int = 24) -> str:
    """A random password or robot secret (URL-safe, 32 characters for the default 24 bytes)."""
    return secrets.token_urlsafe(nbytes)


class CredentialCache:
    """Successful credential checks, remembered for `ttl_seconds` under a keyed hash.

    The key material is (stamp, name, secret). Callers pass as `stamp` what changes with the stored
    credential (the password hash and `password_changed_at`): a new password makes every older entry
    unreachable, and it ages out. Only successes are stored; concurrent checks of the same credentials
    share one verification (a client opening 32 connections at once costs one KDF run, not 32).
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = DEFAULT_CACHE_TTL_S,
        max_entries: int = DEFAULT_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = os.urandom(32)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, float] = OrderedDict()  # digest → expiry, oldest first
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}
        # Checks answered from memory and not (a check joining one in flight is a miss), for the metrics.
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _digest(self, stamp: str, name: str, secret: str) -> bytes:
        message = bytearray()
        for part in (stamp, name, secret):
            data = part.encode("utf-8", "surrogatepass")
            # Length-prefixed, so no choice of parts can collide with another.
            message += len(data).to_bytes(8, "big")
            message += data
        # One-shot: the token service computes this for every token, and hmac.new plus updates cost more.
        return hmac.digest(self._key, message, "sha256")

    def _hit(self, digest: bytes) -> bool:
        expiry = self._entries.get(digest)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._entries[digest]
            return False
        return True

    def _remember(self, digest: bytes) -> None:
        self._entries[digest] = self._clock() + self._ttl
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget_all(self) -> None:
        self._entries.clear()

    async def check(self, stamp: str, name: str, secret: str, verify: Callable[[], Awaitable[bool]]) -> bool:
        """True when a recent identical check succeeded; otherwise `verify()`, remembered if it succeeds."""
        digest = self._digest(stamp, name, secret)
        if self._hit(digest):
            self.hits += 1
            return True
        self.misses += 1
        task = self._inflight.get(digest)
        if task is None:
            # A task of its own: a client that hangs up mid-check cancels only its wait, not the others'.
            task = asyncio.ensure_future(self._verify(digest, verify))
            task.add_done_callback(_retrieve)
            self._inflight[digest] = task
        return await asyncio.shield(task)

    async def _verify(self, digest: bytes, verify: Callable[[], Awaitable[bool]]) -> bool:
        try:
            ok = await verify()
            if ok:
                self._remember(digest)
            return ok
        finally:
            del self._inflight[digest]


def _retrieve(task: asyncio.Future[bool]) -> None:
    """Mark a failed check's exception as seen; the callers that still wait re-raise it themselves."""
    if not task.cancelled():
        task.exception()
