"""/api/v2.0/replication/policies[/{id}] (Harbor's ReplicationPolicy, with its registries as Registry
objects: this registry is Harbor's "Local", id 0)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.body import no_unknown_fields, opt_bool, opt_object, opt_str, read_object
from services.core.api.common import API, harbor_time, page_headers, path_id
from services.core.api.registries import render_registry
from services.core.errors import BadRequest
from services.core.listing import MAX_PARAM_LENGTH, clean_text, parse_page, parse_q, parse_sort
from services.core.replication.models import MANUAL, POLICY_LIST, Filter, PolicyFields
from services.core.replication.service import PolicyDetail, ReplicationPolicyService
from services.core.security.middleware import principal_of

_POLICY_FIELDS = frozenset(
    {"id", "name", "description", "src_registry", "dest_registry", "dest_namespace", "dest_namespace_replace_count"}
    | {"trigger", "filters", "replicate_deletion", "deletion", "override", "enabled", "creation_time", "update_time"}
    | {"speed", "copy_by_chunk", "single_active_replication"}
)


def render_policy(detail: PolicyDetail) -> dict[str, Any]:
    policy, fields = detail.policy, detail.policy.fields
    return {
        "id": policy.id,
        "name": fields.name,
        "description": fields.description,
        "src_registry": render_registry(detail.src_registry),
        "dest_registry": render_registry(detail.dest_registry),
        "dest_namespace": fields.dest_namespace,
        "dest_namespace_replace_count": fields.dest_namespace_replace_count,
        "trigger": {"type": fields.trigger_type, "trigger_settings": {"cron": fields.cron}},
        "filters": [f.to_json() for f in fields.filters],
        "replicate_deletion": fields.replicate_deletion,
        "deletion": fields.replicate_deletion,
        "override": fields.override,
        "enabled": fields.enabled,
        "speed": fields.speed,
        "copy_by_chunk": fields.copy_by_chunk,
        "single_active_replication": fields.single_active_replication,
        "creation_time": harbor_time(policy.created_at),
        "update_time": harbor_time(policy.updated_at),
    }


def _int(data: dict[str, Any], key: str, default: int) -> int:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise BadRequest(f"{key} must be an integer")
    return value


def _registry_id(data: dict[str, Any], key: str) -> int | None:
    """A registry given as Harbor's Registry object (only its id counts); absent, null or id 0: this one."""
    registry = opt_object(data, key)
    if registry is None:
        return None
    registry_id = _int(registry, "id", 0)
    if registry_id < 0:
        raise BadRequest(f"{key}.id must not be negative")
    return registry_id or None


def _filters(data: dict[str, Any]) -> tuple[Filter, ...]:
    raw = data.get("filters")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequest("filters must be a list")
    filters = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRequest(f"filters[{i}] must be an object")
        no_unknown_fields(item, frozenset({"type", "value", "decoration"}), what=f"filters[{i}]")
        value = item.get("value")
        if isinstance(value, list):
            if not all(isinstance(x, str) for x in value):
                raise BadRequest(f"filters[{i}].value: a list of label names (strings)")
            parsed: str | tuple[str, ...] = tuple(clean_text(x, f"filters[{i}].value") for x in value)
        elif isinstance(value, str):
            parsed = clean_text(value, f"filters[{i}].value")
        else:
            raise BadRequest(f"filters[{i}].value must be a string (a list of strings for a label filter)")
        where = f"filters[{i}]."
        filters.append(
            Filter(
                opt_str(item, "type", where=where) or "", parsed, opt_str(item, "decoration", where=where) or "matches"
            )
        )
    return tuple(filters)


def _fields(data: dict[str, Any]) -> PolicyFields:
    trigger = opt_object(data, "trigger") or {}
    no_unknown_fields(trigger, frozenset({"type", "trigger_settings"}), what="trigger")
    settings = opt_object(trigger, "trigger_settings") or {}
    no_unknown_fields(settings, frozenset({"cron"}), what="trigger.trigger_settings")
    # Harbor takes `deletion` (the deprecated name) on create and update; either one set turns it on.
    deletion = bool(opt_bool(data, "replicate_deletion")) or bool(opt_bool(data, "deletion"))
    return PolicyFields(
        name=opt_str(data, "name") or "",
        description=opt_str(data, "description") or "",
        src_registry_id=_registry_id(data, "src_registry"),
        dest_registry_id=_registry_id(data, "dest_registry"),
        dest_namespace=opt_str(data, "dest_namespace") or "",
        dest_namespace_replace_count=_int(data, "dest_namespace_replace_count", -1),
        trigger_type=opt_str(trigger, "type", where="trigger.") or MANUAL,
        cron=" ".join((opt_str(settings, "cron", where="trigger.trigger_settings.") or "").split()),
        filters=_filters(data),
        replicate_deletion=deletion,
        override=bool(opt_bool(data, "override")),
        # As Harbor's (a Go bool): a policy is enabled only when the body says so.
        enabled=bool(opt_bool(data, "enabled")),
        # Harbor turns a negative speed into no limit.
        speed=max(0, _int(data, "speed", 0)),
        copy_by_chunk=bool(opt_bool(data, "copy_by_chunk")),
        single_active_replication=bool(opt_bool(data, "single_active_replication")),
    )


async def _body(request: web.Request) -> PolicyFields:
    data = await read_object(request)
    no_unknown_fields(data, _POLICY_FIELDS, what="replication policy")
    return _fields(data)


class ReplicationPoliciesApi:
    def __init__(self, policies: ReplicationPolicyService) -> None:
        self._policies = policies

    def routes(self) -> list[web.RouteDef]:
        base = f"{API}/replication/policies"
        return [
            web.get(base, self.list, allow_head=False),
            web.post(base, self.create),
            web.get(f"{base}/{{id}}", self.get, allow_head=False),
            web.put(f"{base}/{{id}}", self.update),
            web.delete(f"{base}/{{id}}", self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        name = clean_text(q.get("name", ""), "name")
        if len(name) > MAX_PARAM_LENGTH:
            raise BadRequest("name is too long")
        terms = parse_q(q.get("q"), POLICY_LIST.filters)
        sort = parse_sort(q.get("sort"), POLICY_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        found, total = await self._policies.list(principal_of(request), name or None, terms, sort, page)
        return web.json_response([render_policy(p) for p in found], headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        created = await self._policies.create(principal_of(request), await _body(request))
        return web.Response(status=201, headers={"Location": f"{API}/replication/policies/{created.id}"})

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(render_policy(await self._policies.get(principal_of(request), path_id(request, "id"))))

    async def update(self, request: web.Request) -> web.Response:
        policy_id = path_id(request, "id")
        await self._policies.update(principal_of(request), policy_id, await _body(request))
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._policies.delete(principal_of(request), path_id(request, "id"))
        return web.Response(status=200)
