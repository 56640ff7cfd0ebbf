"""Requests to the token service and assertions on its answers, shared by the token tests."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from tests.harness.token import TokenServiceProcess

SERVICE = "berth-registry"
ISSUER = "berth-token-issuer"
ADMIN = ("admin", "Harbor12345")


def ask(
    service: TokenServiceProcess,
    *scopes: str,
    auth: tuple[str, str] | None = None,
    params: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    query: list[tuple[str, str | int | float | bool | None]] = (
        [("service", SERVICE), *(("scope", s) for s in scopes)] if params is None else list(params)
    )
    return httpx.get(f"{service.url}/service/token", params=query, auth=auth, headers=headers, timeout=30)


def claims(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token"] == body["access_token"]
    payload: dict[str, Any] = jwt.decode(body["token"], options={"verify_signature": False})
    return payload


def granted(resp: httpx.Response) -> dict[str, list[str]]:
    """`name → actions` of the token's access claim (every requested resource has an entry)."""
    return {a["name"]: a["actions"] for a in claims(resp)["access"]}


def assert_error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, f"expected {status} {code}, got {resp.status_code}: {resp.text[:300]}"
    assert resp.headers["Content-Type"].startswith("application/json")
    errors = resp.json()["errors"]
    assert errors[0]["code"] == code, errors
    message: str = errors[0]["message"]
    assert message
    if status == 401:
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="berth"'
    return message
