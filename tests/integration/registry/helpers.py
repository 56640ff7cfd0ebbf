"""Assertions shared by the distribution-API tests."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import httpx

API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION = "registry/2.0"


def assert_error(
    resp: httpx.Response, status: int | Collection[int], code: str | Collection[str] | None
) -> dict[str, Any] | None:
    """`resp` has one of `status` and the OCI envelope `{"errors": [{"code", "message", ...}]}` with an entry
    whose code is one of `code` (None: any). Returns that entry; None for HEAD, which has no body."""
    statuses = {status} if isinstance(status, int) else set(status)
    assert resp.status_code in statuses, f"expected {statuses} {code}, got {resp.status_code}: {resp.text[:500]!r}"
    assert resp.headers.get(API_VERSION_HEADER) == API_VERSION, resp.headers
    if resp.request.method == "HEAD":
        assert resp.content == b""
        return None
    content_type = resp.headers.get("Content-Type", "")
    assert content_type.startswith("application/json"), f"error body is not JSON: {content_type!r}"
    body = resp.json()
    assert isinstance(body, dict), body
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, f"no 'errors' list in {body!r}"
    for entry in errors:
        assert isinstance(entry, dict), body
        assert isinstance(entry.get("code"), str), f"error entry without a code: {entry!r}"
        assert isinstance(entry.get("message"), str), f"error entry without a message: {entry!r}"
    if code is None:
        return errors[0]
    codes = {code} if isinstance(code, str) else set(code)
    matching = [entry for entry in errors if entry["code"] in codes]
    assert matching, f"expected an error code in {codes}, got {[e['code'] for e in errors]}"
    return matching[0]


def assert_api_version(resp: httpx.Response) -> None:
    if not resp.request.url.path.startswith("/v2"):
        return  # the token service's answers, fetched by the client's token flow
    assert resp.headers.get(API_VERSION_HEADER) == API_VERSION, (
        f"{resp.request.method} {resp.request.url.path} -> {resp.status_code} lacks "
        f"{API_VERSION_HEADER}: {API_VERSION} (headers {dict(resp.headers)})"
    )
