"""SigningKey.issue: identical claims within one second share one signed token, and nothing else does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import jwt

from services.common.auth.scopes import Access
from services.common.settings import TokenSettings
from services.token.keys import SigningKey

PULL = Access("repository", "library/app", ("pull",), 1)
PUSH = Access("repository", "library/app", ("pull", "push"), 1)


def loaded_key(tmp_path: Path) -> SigningKey:
    key = SigningKey(TokenSettings(private_key=str(tmp_path / "key.pem"), certificate=str(tmp_path / "root.crt")))

    async def load() -> None:
        async for _ in key.lifespan(None):
            return

    asyncio.run(load())
    return key


def issue(key: SigningKey, *, subject: str = "alice", access: list[Access] | None = None, now: int = 1000) -> str:
    return key.issue(
        issuer="berth-token-issuer",
        subject=subject,
        audience="berth-registry",
        access=[PULL] if access is None else access,
        ttl_seconds=1800,
        now=now,
    )


def jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def test_identical_claims_in_one_second_get_the_same_token(tmp_path: Path) -> None:
    key = loaded_key(tmp_path)
    assert issue(key) == issue(key)


def test_another_grant_subject_or_second_gets_a_token_of_its_own(tmp_path: Path) -> None:
    key = loaded_key(tmp_path)
    first = issue(key)
    others = [issue(key, access=[PUSH]), issue(key, access=[]), issue(key, subject="bob"), issue(key, now=1001)]
    assert len({jti(t) for t in [first, *others]}) == 5
    # Back in an earlier second after the clock moved on: signed anew, never a stale entry.
    assert jti(issue(key, now=1000)) != jti(first)
    claims = jwt.decode(others[0], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["access"][0]["actions"] == ["pull", "push"]
