"""Harbor's REST API, one module per API group; each group's `routes()` is its part of the URL map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiohttp import web


class ApiGroup(Protocol):
    def routes(self) -> list[web.RouteDef]: ...


def setup_routes(app: web.Application, groups: Sequence[ApiGroup]) -> None:
    """Every group's routes, in order. Groups own distinct paths, so their order does not matter; inside
    a group, fixed paths come before the parameters that would take them."""
    for group in groups:
        app.router.add_routes(group.routes())
