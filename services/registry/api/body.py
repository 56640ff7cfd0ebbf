"""Request-body helpers shared by the upload and manifest handlers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from aiohttp import web

from services.registry.errors import ManifestTooLarge, RangeInvalid

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")


def stream(request: web.Request) -> AsyncIterator[bytes]:
    return request.content.iter_any()


def has_body(request: web.Request) -> bool:
    if request.content_length is not None:
        return request.content_length > 0
    return request.body_exists


def content_range(request: web.Request, headers: dict[str, str]) -> tuple[int, int] | None:
    """(start, length) of a chunk from `Content-Range: <start>-<end>`; 416 if malformed."""
    value = request.headers.get("Content-Range")
    if value is None:
        return None
    m = _CONTENT_RANGE.fullmatch(value.strip())
    if m is None or int(m.group(2)) < int(m.group(1)):
        raise RangeInvalid(f"Content-Range {value!r} is not '<start>-<end>' with start <= end", headers=headers)
    start, end = int(m.group(1)), int(m.group(2))
    length = end - start + 1
    if request.content_length is not None and request.content_length != length:
        raise RangeInvalid(
            f"Content-Range {value!r} spans {length} bytes but Content-Length is {request.content_length}",
            headers=headers,
        )
    return start, length


async def read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise ManifestTooLarge(f"manifest of {request.content_length} bytes exceeds the limit of {limit} bytes")
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > limit:
            raise ManifestTooLarge(f"manifest exceeds the limit of {limit} bytes")
    return bytes(data)
