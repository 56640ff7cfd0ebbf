"""/api/v2.0/projects/{project_name_or_id}/immutabletagrules[/{immutable_rule_id}]: Harbor's ImmutableRule
(id, priority, disabled, action, template, params, tag_selectors, scope_selectors {repository: [...]}),
each selector an ImmutableSelector (kind, decoration, pattern; extras accepted and ignored)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.immutable import ACTION, TEMPLATE, ImmutableRule, Selector
from services.core.api.body import no_unknown_fields, opt_bool, opt_int, opt_object, opt_str, read_object
from services.core.api.common import PROJECT, page_headers, path_id, project_ref
from services.core.errors import BadRequest
from services.core.immutable.models import RuleFields, selector_json
from services.core.immutable.service import ImmutableRuleService
from services.core.listing import parse_page
from services.core.security.middleware import principal_of

FIELDS = frozenset({"id", "priority", "disabled", "action", "template", "params", "tag_selectors", "scope_selectors"})
SELECTOR_FIELDS = frozenset({"kind", "decoration", "pattern", "extras"})
RULES = f"{PROJECT}/immutabletagrules"


def render_rule(rule: ImmutableRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "priority": rule.priority,
        "disabled": rule.disabled,
        "action": rule.action,
        "template": rule.template,
        "params": dict(rule.params),
        "tag_selectors": [selector_json(s) for s in rule.tag_selectors],
        "scope_selectors": {k: [selector_json(s) for s in v] for k, v in rule.scope_selectors.items()},
    }


def _selectors(value: Any, where: str) -> tuple[Selector, ...]:
    if not isinstance(value, list):
        raise BadRequest(f"{where} must be an array of selectors")
    selectors = []
    for i, item in enumerate(value[:16]):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{at} must be an object")
        no_unknown_fields(item, SELECTOR_FIELDS, what=at)
        opt_str(item, "extras", where=f"{at}.")
        selectors.append(
            Selector(
                kind=opt_str(item, "kind", where=f"{at}.") or "",
                decoration=opt_str(item, "decoration", where=f"{at}.") or "",
                pattern=opt_str(item, "pattern", where=f"{at}.") or "",
            )
        )
    return tuple(selectors)


def _fields(data: dict[str, Any]) -> RuleFields:
    no_unknown_fields(data, FIELDS, what="immutable tag rule")
    if "tag_selectors" not in data:
        raise BadRequest("tag_selectors is required")
    scopes = opt_object(data, "scope_selectors")
    if scopes is None:
        raise BadRequest("scope_selectors is required")
    params = opt_object(data, "params") or {}
    return RuleFields(
        priority=opt_int(data, "priority") or 0,
        disabled=bool(opt_bool(data, "disabled")),
        action=opt_str(data, "action") or ACTION,
        template=opt_str(data, "template") or TEMPLATE,
        params=params,
        tag_selectors=_selectors(data["tag_selectors"], "tag_selectors"),
        scope_selectors={str(k): _selectors(v, f"scope_selectors.{str(k)[:40]}") for k, v in scopes.items()},
    )


class ImmutableRulesApi:
    def __init__(self, rules: ImmutableRuleService) -> None:
        self._rules = rules

    def routes(self) -> list[web.RouteDef]:
        rule = f"{RULES}/{{immutable_rule_id}}"
        return [
            web.get(RULES, self.list, allow_head=False),
            web.post(RULES, self.create),
            web.put(rule, self.update),
            web.delete(rule, self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        rules, total = await self._rules.list(principal_of(request), project_ref(request), page)
        return web.json_response([render_rule(r) for r in rules], headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        ref = project_ref(request)
        data = await read_object(request)
        opt_int(data, "id")  # read-only, ignored as Harbor does
        created = await self._rules.create(principal_of(request), ref, _fields(data))
        return web.Response(status=201, headers={"Location": f"{request.path.rstrip('/')}/{created.id}"})

    async def update(self, request: web.Request) -> web.Response:
        ref = project_ref(request)
        rule_id = path_id(request, "immutable_rule_id")
        data = await read_object(request)
        body_id = opt_int(data, "id")
        if body_id is not None and body_id != rule_id:
            raise BadRequest("id: the immutable_rule_id doesn't match the id in the payload body of ImmutableRule")
        await self._rules.update(principal_of(request), ref, rule_id, _fields(data))
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._rules.delete(principal_of(request), project_ref(request), path_id(request, "immutable_rule_id"))
        return web.Response(status=200)
