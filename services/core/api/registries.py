"""/api/v2.0/registries[/{id}[/info]], /registries/ping, /replication/adapters and /replication/adapterinfos
(Harbor's Registry, RegistryUpdate, RegistryPing and RegistryInfo shapes). A stored password is shown as
Harbor's mask, never itself."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from services.common.secret import MASKED
from services.core.api.body import no_unknown_fields, opt_bool, opt_int, opt_object, opt_secret, opt_str, read_object
from services.core.api.common import API, harbor_time, page_headers, path_id, path_int
from services.core.errors import BadRequest
from services.core.listing import MAX_PARAM_LENGTH, clean_text, parse_page, parse_q, parse_sort
from services.core.registries.models import REGISTRY_LIST, RegistryFields, RegistryInfo, RegistryView
from services.core.registries.service import RegistryChange, RegistryService
from services.core.security.middleware import principal_of

_REGISTRY_FIELDS = frozenset(
    {"id", "url", "name", "credential", "type", "insecure", "ca_certificate", "description", "status"}
    | {"creation_time", "update_time"}
)
_CREDENTIAL_FIELDS = frozenset({"type", "access_key", "access_secret"})
_CHANGE_FIELDS = frozenset(
    {"name", "description", "url", "credential_type", "access_key", "access_secret", "insecure", "ca_certificate"}
)
_PING_FIELDS = _CHANGE_FIELDS - {"name", "description"} | {"id", "type"}


def render_registry(registry: RegistryView) -> dict[str, Any]:
    return {
        "id": registry.id,
        "name": registry.name,
        "description": registry.description,
        "type": registry.type,
        "url": registry.url,
        "insecure": registry.insecure,
        "ca_certificate": registry.ca_certificate or None,
        "credential": {
            "type": registry.credential_type,
            "access_key": registry.access_key,
            "access_secret": MASKED if registry.has_secret else "",
        },
        "status": registry.status,
        "creation_time": harbor_time(registry.created_at),
        "update_time": harbor_time(registry.updated_at),
    }


def render_info(info: RegistryInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": info.type,
        "description": info.description,
        "supported_resource_filters": [
            {"type": f.type, "style": f.style, **({"values": list(f.values)} if f.values else {})} for f in info.filters
        ],
        "supported_triggers": list(info.triggers),
    }
    if info.copy_by_chunk:  # x-omitempty in Harbor's spec
        body["supported_copy_by_chunk"] = True
    return body


def _change(data: dict[str, Any]) -> RegistryChange:
    return RegistryChange(
        name=opt_str(data, "name"),
        description=opt_str(data, "description"),
        url=opt_str(data, "url"),
        insecure=opt_bool(data, "insecure"),
        ca_certificate=opt_str(data, "ca_certificate"),
        credential_type=opt_str(data, "credential_type"),
        access_key=opt_str(data, "access_key"),
        access_secret=opt_secret(data, "access_secret"),
    )


class RegistriesApi:
    def __init__(self, registries: RegistryService) -> None:
        self._registries = registries

    def routes(self) -> list[web.RouteDef]:
        one = f"{API}/registries/{{id}}"
        return [
            web.get(f"{API}/registries", self.list, allow_head=False),
            web.post(f"{API}/registries", self.create),
            web.post(f"{API}/registries/ping", self.ping),
            web.get(one, self.get, allow_head=False),
            web.put(one, self.update),
            web.delete(one, self.delete),
            web.get(f"{one}/info", self.info, allow_head=False),
            web.get(f"{API}/replication/adapters", self.adapters, allow_head=False),
            web.get(f"{API}/replication/adapterinfos", self.adapter_infos, allow_head=False),
        ]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        name = clean_text(q.get("name", ""), "name")
        if len(name) > MAX_PARAM_LENGTH:
            raise BadRequest("name is too long")
        terms = parse_q(q.get("q"), REGISTRY_LIST.filters)
        sort = parse_sort(q.get("sort"), REGISTRY_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        found, total = await self._registries.list(principal_of(request), name or None, terms, sort, page)
        return web.json_response([render_registry(r) for r in found], headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        data = await read_object(request)
        no_unknown_fields(data, _REGISTRY_FIELDS, what="registry")
        credential = opt_object(data, "credential") or {}
        no_unknown_fields(credential, _CREDENTIAL_FIELDS, what="registry's credential")
        fields = RegistryFields(
            name=opt_str(data, "name") or "",
            url=opt_str(data, "url") or "",
            type=opt_str(data, "type") or "",
            description=opt_str(data, "description") or "",
            insecure=bool(opt_bool(data, "insecure")),
            ca_certificate=opt_str(data, "ca_certificate") or "",
            credential_type=opt_str(credential, "type", where="credential.") or "",
            access_key=opt_str(credential, "access_key", where="credential.") or "",
            access_secret=opt_secret(credential, "access_secret", where="credential."),
        )
        created = await self._registries.create(principal_of(request), fields)
        return web.Response(status=201, headers={"Location": f"{API}/registries/{created.id}"})

    async def get(self, request: web.Request) -> web.Response:
        found = await self._registries.get(principal_of(request), path_id(request, "id"))
        return web.json_response(render_registry(found))

    async def update(self, request: web.Request) -> web.Response:
        registry_id = path_id(request, "id")
        data = await read_object(request)
        no_unknown_fields(data, _CHANGE_FIELDS, what="registry update")
        await self._registries.update(principal_of(request), registry_id, _change(data))
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._registries.delete(principal_of(request), path_id(request, "id"))
        return web.Response(status=200)

    async def ping(self, request: web.Request) -> web.Response:
        data = await read_object(request)
        no_unknown_fields(data, _PING_FIELDS, what="registry ping")
        registry_id = opt_int(data, "id")
        change = dataclasses.replace(_change(data), type=opt_str(data, "type"))
        await self._registries.ping(principal_of(request), registry_id, change)
        return web.Response(status=200)

    async def info(self, request: web.Request) -> web.Response:
        registry_id = path_int(request, "id")  # 0 is the local registry
        return web.json_response(render_info(await self._registries.info(principal_of(request), registry_id)))

    async def adapters(self, request: web.Request) -> web.Response:
        return web.json_response(list(self._registries.adapters(principal_of(request))))

    async def adapter_infos(self, request: web.Request) -> web.Response:
        # Harbor lists only adapters with endpoint or credential patterns (the cloud registries'); neither
        # harbor nor docker-registry has one.
        self._registries.adapters(principal_of(request))
        return web.json_response({})
