from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from services.common.auth.scopes import Access, InvalidScope, from_claim, merge, parse_scope, project_of
from services.common.auth.tokens import (
    Claims,
    InvalidToken,
    Refusal,
    TokenSigner,
    TokenVerifier,
    generate_key_and_certificate,
    load_or_create_keypair,
)

KEY, CERT = generate_key_and_certificate("berth-test")
OTHER_KEY, OTHER_CERT = generate_key_and_certificate("someone-else")
ISSUER, AUDIENCE = "berth-token-issuer", "berth-registry"


def sign(
    key: bytes = KEY,
    *,
    now: int | None = None,
    ttl: int = 1800,
    access: list[Access] | None = None,
    **overrides: str,
) -> str:
    signer = TokenSigner(key)
    token, _ = signer.sign(
        issuer=overrides.get("issuer", ISSUER),
        subject="alice",
        audience=overrides.get("audience", AUDIENCE),
        access=[Access("repository", "library/app", ("pull", "push"), 1)] if access is None else access,
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
    assert claims.allows("repository", "library/app", "push", project_id=1)
    assert not claims.allows("repository", "library/app", "delete", project_id=1)
    assert not claims.allows("repository", "library/other", "pull", project_id=1)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == TokenSigner(KEY).kid == verifier().kid
    assert len(header["kid"].split(":")) == 12


# Tokens are made when the test runs, not when it is collected: unit tests run last in `make test`, long
# after collection, and a token made "600 s ahead" at collection was valid by then.
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sign(now=int(time.time()) - 4000), "expired"),
        (lambda: sign(now=int(time.time()) + 600), "not valid yet"),
        (lambda: sign(OTHER_KEY), "another key"),
        (lambda: sign(audience="someone-else"), "not for service"),
        (lambda: sign(issuer="evil"), "another issuer"),
        (lambda: "garbage", "malformed"),
        (lambda: "", "malformed"),
    ],
)
def test_untrusted_tokens_are_refused_with_a_reason(make: Callable[[], str], message: str) -> None:
    token = make()
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


# --- the project id each repository entry is bound to --------------------------------------------------


def test_project_ids_round_trip_as_an_extra_member_of_each_access_entry() -> None:
    access = [
        Access("repository", "p/app", ("pull", "push"), 7),
        Access("repository", "q/app", (), None),
        Access("registry", "catalog", ("*",)),
    ]
    token = sign(access=access)

    raw = jwt.decode(token, options={"verify_signature": False})
    # The spec's three members as clients expect them; the id beside them, only where one was granted.
    assert raw["access"] == [
        {"type": "repository", "name": "p/app", "actions": ["pull", "push"], "project_id": 7},
        {"type": "repository", "name": "q/app", "actions": []},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert verifier().verify(token).access == tuple(access)


@pytest.mark.parametrize("bad", [True, "7", 0, -3, 1.5, [7]])
def test_a_project_id_that_is_no_positive_integer_makes_the_token_malformed(bad: object) -> None:
    entry = {"type": "repository", "name": "p/app", "actions": ["pull"], "project_id": bad}
    with pytest.raises(InvalidScope, match="project_id"):
        from_claim(entry)
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 2**31, "nbf": 0, "iat": 0, "jti": "1", "access": [entry]},
        key=serialization.load_pem_private_key(KEY, password=None),  # type: ignore[arg-type]
        algorithm="ES256",
        headers={"kid": TokenSigner(KEY).kid},
    )
    with pytest.raises(InvalidToken, match="malformed"):
        verifier().verify(forged)


def claims_with(*access: Access) -> Claims:
    return Claims("i", "alice", "a", 0, 0, 2**31, "j", tuple(access))


@pytest.mark.parametrize(
    ("granted", "action", "current", "expected"),
    [
        (Access("repository", "p/app", ("pull", "push"), 7), "push", 7, None),
        (Access("repository", "p/app", ("*",), 7), "delete", 7, None),
        # Deleted and re-created under the same name: another project.
        (Access("repository", "p/app", ("pull", "push"), 7), "pull", 9, Refusal.PROJECT_REPLACED),
        (Access("repository", "p/app", ("pull", "push"), 7), "push", None, Refusal.PROJECT_GONE),
        # Issued before entries carried the id: refused whatever the project's id is now.
        (Access("repository", "p/app", ("pull", "push")), "pull", 7, Refusal.NO_PROJECT_ID),
        (Access("repository", "p/app", ("pull",), 7), "push", 7, Refusal.NOT_GRANTED),
        (Access("repository", "p/other", ("pull",), 7), "pull", 7, Refusal.NOT_GRANTED),
        # The catalog belongs to no project.
        (Access("registry", "catalog", ("*",)), "*", None, None),
    ],
)
def test_an_entry_covers_only_the_project_id_it_was_granted_in(
    granted: Access, action: str, current: int | None, expected: Refusal | None
) -> None:
    kind, name = ("registry", "catalog") if granted.type == "registry" else ("repository", "p/app")
    claims = claims_with(granted)
    assert claims.refusal(kind, name, action, current) == expected
    assert claims.allows(kind, name, action, project_id=current) is (expected is None)


def test_merge_keeps_the_project_id() -> None:
    merged = merge([Access("repository", "p/a", ("pull",)), Access("repository", "p/a", ("push",), 7)])
    assert merged == [Access("repository", "p/a", ("pull", "push"), 7)]


@pytest.mark.parametrize(("name", "project"), [("p/app", "p"), ("p/a/b", "p"), ("app", None), ("/app", None)])
def test_project_of(name: str, project: str | None) -> None:
    assert project_of(name) == project
