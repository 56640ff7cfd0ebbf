from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest

from services.common.auth.scopes import Access, InvalidScope, merge, parse_scope
from services.common.auth.tokens import (
    InvalidToken,
    TokenSigner,
    TokenVerifier,
    generate_key_and_certificate,
    load_or_create_keypair,
)

KEY, CERT = generate_key_and_certificate("berth-test")
OTHER_KEY, OTHER_CERT = generate_key_and_certificate("someone-else")
ISSUER, AUDIENCE = "berth-token-issuer", "berth-registry"


def sign(key: bytes = KEY, *, now: int | None = None, ttl: int = 1800, **overrides: str) -> str:
    signer = TokenSigner(key)
    token, _ = signer.sign(
        issuer=overrides.get("issuer", ISSUER),
        subject="alice",
        audience=overrides.get("audience", AUDIENCE),
        access=[Access("repository", "library/app", ("pull", "push"))],
        ttl_seconds=ttl,
        now=int(time.time()) if now is None else now,
    )
    return token


def verifier(cert: bytes = CERT) -> TokenVerifier:
    return TokenVerifier(cert, issuer=ISSUER, audience=AUDIENCE, leeway_seconds=30)


def test_round_trip_claims_and_header() -> None:
    token = sign()
    claims = verifier().verify(token)
    assert claims.subject == "alice"
    assert claims.expires_at - claims.issued_at == 1800
    assert claims.allows("repository", "library/app", "push")
    assert not claims.allows("repository", "library/app", "delete")
    assert not claims.allows("repository", "library/other", "pull")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == TokenSigner(KEY).kid == verifier().kid
    assert len(header["kid"].split(":")) == 12


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (sign(now=int(time.time()) - 4000), "expired"),
        (sign(now=int(time.time()) + 600), "not valid yet"),
        (sign(OTHER_KEY), "another key"),
        (sign(audience="someone-else"), "not for service"),
        (sign(issuer="evil"), "another issuer"),
        ("garbage", "malformed"),
        ("", "malformed"),
    ],
)
def test_untrusted_tokens_are_refused_with_a_reason(token: str, message: str) -> None:
    with pytest.raises(InvalidToken, match=message):
        verifier().verify(token)


def test_a_tampered_payload_does_not_verify() -> None:
    header, payload, signature = sign().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["access"][0]["actions"].append("delete")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(InvalidToken, match="signature"):
        verifier().verify(f"{header}.{forged}.{signature}")


def test_none_algorithm_is_refused() -> None:
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 2**31, "nbf": 0, "iat": 0, "jti": "1", "access": []},
        key=None,
        algorithm="none",
    )
    with pytest.raises(InvalidToken):
        verifier().verify(forged)


def test_keypair_is_generated_once_and_reused(tmp_path: Path) -> None:
    key_path, cert_path = tmp_path / "secret" / "key.pem", tmp_path / "secret" / "cert.pem"
    first = load_or_create_keypair(str(key_path), str(cert_path), "berth")
    second = load_or_create_keypair(str(key_path), str(cert_path), "berth")
    assert first == second
    assert key_path.stat().st_mode & 0o777 == 0o600
    cert_path.unlink()
    with pytest.raises(InvalidToken, match="missing"):
        load_or_create_keypair(str(key_path), str(cert_path), "berth")


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("repository:library/app:pull,push", Access("repository", "library/app", ("pull", "push"))),
        ("repository:a/b/c:pull", Access("repository", "a/b/c", ("pull",))),
        ("registry:catalog:*", Access("registry", "catalog", ("*",))),
        ("repository:host:5000/app:pull", Access("repository", "host:5000/app", ("pull",))),
        ("repository:app:pull,pull,,push", Access("repository", "app", ("pull", "push"))),
    ],
)
def test_parse_scope(scope: str, expected: Access) -> None:
    assert parse_scope(scope) == expected


@pytest.mark.parametrize(
    "scope", ["", "repository", "repository:app", "repository::pull", ":x:pull", "repository:app:"]
)
def test_malformed_scopes(scope: str) -> None:
    with pytest.raises(InvalidScope):
        parse_scope(scope)


def test_merge_unites_actions_per_resource() -> None:
    merged = merge(
        [parse_scope("repository:a:pull"), parse_scope("repository:a:push,pull"), parse_scope("repository:b:pull")]
    )
    assert merged == [Access("repository", "a", ("pull", "push")), Access("repository", "b", ("pull",))]
