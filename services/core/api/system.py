"""/healthz, /api/v2.0/ping, /api/v2.0/health and /api/v2.0/systeminfo (with volumes and getcert)."""

from __future__ import annotations

from aiohttp import web

from services.core.api.common import API
from services.core.security.middleware import principal_of
from services.core.system import SystemService


class SystemApi:
    def __init__(self, system: SystemService) -> None:
        self._system = system

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/healthz", healthz),
            web.get(f"{API}/health", self.health),
            web.get(f"{API}/ping", ping),
            web.get(f"{API}/systeminfo", self.systeminfo),
            web.get(f"{API}/systeminfo/volumes", self.volumes),
            web.get(f"{API}/systeminfo/getcert", self.getcert),
        ]

    async def health(self, request: web.Request) -> web.Response:
        components = await self._system.health()
        body = {
            "status": "healthy" if all(c.healthy for c in components) else "unhealthy",
            "components": [
                {
                    "name": c.name,
                    "status": "healthy" if c.healthy else "unhealthy",
                    **({"error": c.error} if c.error else {}),
                }
                for c in components
            ],
        }
        return web.json_response(body)

    async def systeminfo(self, request: web.Request) -> web.Response:
        principal = principal_of(request)
        info = self._system.info(logged_in=principal.kind != "anonymous")
        # Only system administrators learn whether the admin account is still open with the default
        # password (the UI shows them a banner); for anyone else the question itself would be a hint.
        if principal.kind == "user" and principal.sysadmin:
            info["admin_password_is_default"] = await self._system.admin_password_is_default()
        return web.json_response(info)

    async def volumes(self, request: web.Request) -> web.Response:
        volumes = await self._system.volumes(principal_of(request))
        return web.json_response({"storage": [{"total": v.total, "free": v.free} for v in volumes]})

    async def getcert(self, request: web.Request) -> web.Response:
        body = await self._system.certificate()
        return web.Response(
            body=body,
            content_type="application/octet-stream",
            headers={"Content-Disposition": "attachment; filename=ca.crt"},
        )


async def ping(request: web.Request) -> web.Response:
    """Harbor's getPing: the API process answers, whatever the state of what it depends on."""
    return web.Response(text="Pong", content_type="text/plain")


async def healthz(request: web.Request) -> web.Response:
    """The process is up (for the launcher and tests); /api/v2.0/health also checks the database."""
    return web.json_response({"status": "ok"})
