"""services.common.auth.passwords: argon2id off the loop, and the keyed cache of successful checks."""

from __future__ import annotations

import asyncio

import argon2
import pytest

from services.common.auth.passwords import CredentialCache, PasswordHasher, generate_secret

# Cheap parameters where only behaviour is tested; one test keeps the real defaults.
FAST = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Verifier:
    """Counts calls and answers `result` (after an optional gate, to hold checks in flight)."""

    def __init__(self, result: bool = True, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.result = result
        self.gate = gate

    async def __call__(self) -> bool:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.result


async def test_default_parameters_are_argon2id_and_verify() -> None:
    hasher = PasswordHasher()
    stored = await hasher.hash("Harbor12345")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "Harbor12345" not in stored
    assert await hasher.verify(stored, "Harbor12345")
    assert not await hasher.verify(stored, "harbor12345")


async def test_two_hashes_of_one_password_differ_and_both_verify() -> None:
    hasher = PasswordHasher(hasher=FAST)
    a, b = await hasher.hash("pw"), await hasher.hash("pw")
    assert a != b
    assert await hasher.verify(a, "pw") and await hasher.verify(b, "pw")


@pytest.mark.parametrize("stored", ["", "plain-text", "$2b$12$abcdefghijklmnopqrstuv", "$argon2id$broken"])
async def test_a_stored_value_that_is_not_an_argon2_hash_never_matches(stored: str) -> None:
    assert not await PasswordHasher(hasher=FAST).verify(stored, stored)


async def test_verify_absent_always_fails() -> None:
    hasher = PasswordHasher(hasher=FAST)
    assert not await hasher.verify_absent("anything")
    assert not await hasher.verify_absent("")


def test_generated_secrets_are_long_and_distinct() -> None:
    secrets = {generate_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(len(s) == 32 for s in secrets)


async def test_a_successful_check_is_remembered() -> None:
    cache, verify = CredentialCache(), Verifier()
    assert await cache.check("stamp", "alice", "pw", verify)
    assert await cache.check("stamp", "alice", "pw", verify)
    assert verify.calls == 1
    assert (cache.hits, cache.misses) == (1, 1)


async def test_a_failed_check_is_not_remembered() -> None:
    cache, verify = CredentialCache(), Verifier(result=False)
    assert not await cache.check("stamp", "alice", "wrong", verify)
    assert not await cache.check("stamp", "alice", "wrong", verify)
    assert verify.calls == 2
    assert len(cache) == 0


@pytest.mark.parametrize(
    "other", [("stamp2", "alice", "pw"), ("stamp", "bob", "pw"), ("stamp", "alice", "pw2"), ("stampa", "lice", "pw")]
)
async def test_any_other_stamp_name_or_password_is_checked_again(other: tuple[str, str, str]) -> None:
    """A new stamp (the password changed) misses; so does any other name or password, however split."""
    cache, verify = CredentialCache(), Verifier()
    await cache.check("stamp", "alice", "pw", verify)
    await cache.check(*other, verify)
    assert verify.calls == 2


async def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache, verify = CredentialCache(ttl_seconds=60, clock=clock), Verifier()
    await cache.check("s", "alice", "pw", verify)
    clock.now += 59
    await cache.check("s", "alice", "pw", verify)
    assert verify.calls == 1
    clock.now += 2
    await cache.check("s", "alice", "pw", verify)
    assert verify.calls == 2


async def test_size_is_bounded_oldest_first() -> None:
    cache = CredentialCache(max_entries=3)
    verify = Verifier()
    for name in ("a", "b", "c", "d"):
        await cache.check("s", name, "pw", verify)
    assert len(cache) == 3
    await cache.check("s", "a", "pw", verify)  # evicted: checked again
    assert verify.calls == 5
    await cache.check("s", "d", "pw", verify)  # still there
    assert verify.calls == 5


async def test_the_cache_holds_keyed_digests_not_passwords() -> None:
    cache = CredentialCache()
    await cache.check("s", "alice", "correct horse battery staple", Verifier())
    (key,) = cache._entries
    assert len(key) == 32 and b"correct horse" not in key and b"alice" not in key
    # Another process (another random key) files the same credentials under another digest.
    other = CredentialCache()
    await other.check("s", "alice", "correct horse battery staple", Verifier())
    assert set(other._entries) != set(cache._entries)


async def test_concurrent_checks_of_the_same_credentials_share_one_verification() -> None:
    gate = asyncio.Event()
    cache, verify = CredentialCache(), Verifier(gate=gate)
    checks = [asyncio.create_task(cache.check("s", "alice", "pw", verify)) for _ in range(32)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*checks) == [True] * 32
    assert verify.calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    gate = asyncio.Event()
    cache, verify = CredentialCache(), Verifier(gate=gate)
    first = asyncio.create_task(cache.check("s", "alice", "pw", verify))
    second = asyncio.create_task(cache.check("s", "alice", "pw", verify))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await second is True
    with pytest.raises(asyncio.CancelledError):
        await first
    assert verify.calls == 1
    assert await cache.check("s", "alice", "pw", verify) and verify.calls == 1


async def test_an_error_during_the_check_reaches_every_caller_and_nothing_is_remembered() -> None:
    cache = CredentialCache()

    async def broken() -> bool:
        await asyncio.sleep(0)
        raise RuntimeError("database went away")

    results = await asyncio.gather(
        cache.check("s", "alice", "pw", broken), cache.check("s", "alice", "pw", broken), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert len(cache) == 0
    assert await cache.check("s", "alice", "pw", Verifier())
