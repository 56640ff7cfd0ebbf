"""Reading a JSON request body: at most `MAX_BODY_BYTES`, an object, fields checked by type.

Unknown fields are ignored, as Harbor's generated server does, unless a handler asks `no_unknown_fields`;
a known field of the wrong type is a 400.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from services.common.secret import MASKED, Secret
from services.core.errors import BadRequest, PayloadTooLarge
from services.core.listing import clean_text

MAX_BODY_BYTES = 1024 * 1024


async def read_object(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        raw = await request.read()  # bounded by the app's client_max_size (the same limit)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"the request body exceeds {MAX_BODY_BYTES} bytes") from None
    if not raw.strip():
        raise BadRequest("a JSON object is required as the request body")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def no_unknown_fields(data: dict[str, Any], known: frozenset[str], *, what: str = "request body") -> None:
    """A 400 naming the first field outside `known` (a typo would otherwise be silently ignored)."""
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:50]!r} in the {what}; known: {', '.join(sorted(known))}")


def opt_str(data: dict[str, Any], key: str, *, where: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{where}{key} must be a string")
    return clean_text(value, f"{where}{key}")


def opt_secret(data: dict[str, Any], key: str, *, where: str = "") -> Secret | None:
    """A secret the body gives; None when absent or Harbor's mask (a client sends back what it was shown,
    which keeps the stored one)."""
    text = opt_str(data, key, where=where)
    return None if text is None or text == MASKED else Secret(text)


def opt_int(data: dict[str, Any], key: str, *, where: str = "") -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise BadRequest(f"{where}{key} must be a non-negative integer")
    return value


def opt_bool(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def opt_object(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"{key} must be an object")
    return value
