"""GET /api/v2.0/users/current/permissions?scope=&relative=: Harbor's GetCurrentUserPermissions, the
[{"resource", "action"}] the caller holds in one scope (`/project/{id}`, `/system`)."""

from __future__ import annotations

from aiohttp import web

from services.core.api.common import API, query_flag
from services.core.errors import BadRequest
from services.core.listing import MAX_PARAM_LENGTH, clean_text
from services.core.permissions.service import PermissionService
from services.core.security.middleware import principal_of


class UserPermissionsApi:
    def __init__(self, permissions: PermissionService) -> None:
        self._permissions = permissions

    def routes(self) -> list[web.RouteDef]:
        return [web.get(f"{API}/users/current/permissions", self.current, allow_head=False)]

    async def current(self, request: web.Request) -> web.Response:
        scope = clean_text(request.query.get("scope", ""), "scope")
        if len(scope) > MAX_PARAM_LENGTH:
            raise BadRequest("the scope parameter is too long")
        relative = query_flag(request, "relative", False)
        found = await self._permissions.current(principal_of(request), scope, relative=relative)
        return web.json_response([{"resource": resource, "action": action} for resource, action in found])
