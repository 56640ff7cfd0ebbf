"""/api/v2.0/usergroups: Harbor's UserGroup in and out (id, group_name, group_type, ldap_group_dn); the
search answers UserGroupSearchItem (no DN) to anybody authenticated."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.identity.models import Group
from services.common.rbac import Action
from services.core.api.body import no_unknown_fields, opt_str, read_object
from services.core.api.common import API, page_headers, path_int
from services.core.errors import BadRequest
from services.core.listing import MAX_PARAM_LENGTH, clean_text, parse_page
from services.core.security.middleware import principal_of
from services.core.usergroups.models import GroupFilter, GroupType, NewGroup
from services.core.usergroups.service import UserGroupService

FIELDS = frozenset({"id", "group_name", "group_type", "ldap_group_dn"})


def render(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "group_name": group.name,
        "group_type": group.group_type,
        "ldap_group_dn": group.ldap_dn or "",
    }


def _query(request: web.Request, key: str) -> str:
    text = request.query.get(key, "")
    if len(text) > MAX_PARAM_LENGTH:
        raise BadRequest(f"{key} is too long")
    return clean_text(text, key)


def _group_type(data: dict[str, Any]) -> GroupType | None:
    value = data.get("group_type")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in {t.value for t in GroupType}:
        raise BadRequest("group_type must be 1 (LDAP), 2 (HTTP) or 3 (OIDC)")
    return GroupType(value)


async def _body(request: web.Request) -> dict[str, Any]:
    data = await read_object(request)
    no_unknown_fields(data, FIELDS, what="user group")
    # Read-only, and ignored like the rest of what PUT does not change; still, it must be an integer.
    if data.get("id") is not None and (isinstance(data["id"], bool) or not isinstance(data["id"], int)):
        raise BadRequest("id must be an integer")
    return data


def _group_id(request: web.Request) -> int:
    group_id = path_int(request, "group_id")
    if group_id <= 0:
        raise BadRequest("the group id should be a positive integer")
    return group_id


class UserGroupsApi:
    def __init__(self, groups: UserGroupService) -> None:
        self._groups = groups

    def routes(self) -> list[web.RouteDef]:
        group = f"{API}/usergroups/{{group_id}}"
        # /usergroups/search before /usergroups/{group_id}, which would take it (and answer 400).
        return [
            web.get(f"{API}/usergroups/search", self.search, allow_head=False),
            web.get(f"{API}/usergroups", self.list, allow_head=False),
            web.post(f"{API}/usergroups", self.create),
            web.get(group, self.get, allow_head=False),
            web.put(group, self.update),
            web.delete(group, self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        where = GroupFilter(
            name_contains=_query(request, "group_name") or None, ldap_dn=_query(request, "ldap_group_dn") or None
        )
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        groups, total = await self._groups.list(principal_of(request), where, page)
        return web.json_response([render(g) for g in groups], headers=page_headers(request, page, total))

    async def search(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        groups, total = await self._groups.search(principal_of(request), _query(request, "groupname"), page)
        body = [{"id": g.id, "group_name": g.name, "group_type": g.group_type} for g in groups]
        return web.json_response(body, headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        self._groups.check(principal_of(request), Action.CREATE)
        data = await _body(request)
        group_type = _group_type(data)
        if group_type is None:
            raise BadRequest("group_type is required: 1 (LDAP), 2 (HTTP) or 3 (OIDC)")
        new = NewGroup(
            name=opt_str(data, "group_name") or "",
            group_type=group_type,
            ldap_dn=opt_str(data, "ldap_group_dn") or None,
        )
        group = await self._groups.create(principal_of(request), new)
        return web.Response(status=201, headers={"Location": f"{API}/usergroups/{group.id}"})

    async def get(self, request: web.Request) -> web.Response:
        group = await self._groups.get(principal_of(request), _group_id(request))
        return web.json_response(render(group))

    async def update(self, request: web.Request) -> web.Response:
        group_id = _group_id(request)
        self._groups.check(principal_of(request), Action.UPDATE)
        data = await _body(request)
        _group_type(data)
        opt_str(data, "ldap_group_dn")
        name = opt_str(data, "group_name")
        if not name:
            raise BadRequest("group_name is required: it is the only field a PUT changes")
        await self._groups.rename(principal_of(request), group_id, name)
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._groups.delete(principal_of(request), _group_id(request))
        return web.Response(status=200)
