"""Berth's own OpenAPI document (`berth-api.yaml`, Swagger 2.0 like Harbor's) and `GET /api/v2.0/swagger.json`.

The document is checked in: `python -m services.core.spec_generator` rebuilds it from Harbor's spec and
core's router (see that module); the running code only reads the file here, once, at app creation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web

from services.core.api.common import API

SPEC_PATH = Path(__file__).parent / "berth-api.yaml"
SWAGGER_JSON = f"{API}/swagger.json"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
_PARAMETER = re.compile(r"\{[^}/]+\}")


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    # The C loader when PyYAML has it: the document is a few thousand lines, read once per process.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as f:
        loaded = yaml.load(f, Loader=loader)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: not an OpenAPI document")
    return loaded


def operation_key(method: str, path: str) -> tuple[str, str]:
    """(METHOD, path) with every path parameter as `{}` and no trailing slash: Harbor names the project
    segment `{project_name}` in some paths where core's router says `{project_name_or_id}`, and core serves
    Harbor's `/metadatas/` with and without its slash."""
    return method.upper(), _PARAMETER.sub("{}", path).rstrip("/") or "/"


def spec_operations(spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every operation the document describes, with its full path (basePath + path)."""
    base = str(spec.get("basePath", "")).rstrip("/")
    return {
        operation_key(method, base + path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def router_operations(routes: Iterable[web.AbstractRoute], prefix: str = API) -> set[tuple[str, str]]:
    """Every operation core's router serves under `prefix`. aiohttp's `web.get` also answers HEAD with
    the same handler unless told not to: such a HEAD is the GET's, not an operation of its own (an explicit
    `web.head`, such as Harbor's headProject, has a handler of its own and counts)."""
    gets: set[tuple[str, object]] = set()
    found: list[tuple[str, str, object]] = []
    for route in routes:
        if route.resource is None:
            continue
        info = route.resource.get_info()
        path = str(info.get("path") or info.get("formatter") or "")
        if path != prefix and not path.startswith(prefix + "/"):
            continue
        found.append((route.method, path, route.handler))
        if route.method == "GET":
            gets.add((path, route.handler))
    return {
        operation_key(method, path)
        for method, path, handler in found
        if not (method == "HEAD" and (path, handler) in gets)
    }


class SpecApi:
    """`GET /api/v2.0/swagger.json`: anonymous, as Harbor serves its own; the JSON is made once."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._body = orjson.dumps(spec)

    def routes(self) -> list[web.RouteDef]:
        return [web.get(SWAGGER_JSON, self.swagger, allow_head=False)]

    async def swagger(self, request: web.Request) -> web.Response:
        return web.Response(body=self._body, content_type="application/json")
