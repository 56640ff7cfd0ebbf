"""/api/v2.0/projects/{project_name_or_id}/members: Harbor's ProjectMember in, ProjectMemberEntity out."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.rbac import Role
from services.core.api.body import opt_int, opt_object, opt_str, read_object
from services.core.api.common import API, PROJECT, page_headers, path_int, project_ref
from services.core.errors import BadRequest
from services.core.listing import clean_text, parse_page
from services.core.members.models import GroupRef, MemberView, UserRef
from services.core.members.service import MemberService
from services.core.security.middleware import principal_of


def render(member: MemberView) -> dict[str, Any]:
    return {
        "id": member.id,
        "project_id": member.project_id,
        "entity_name": member.entity_name,
        "role_name": member.role.harbor_name,
        "role_id": int(member.role),
        "entity_id": member.entity_id,
        "entity_type": member.entity_type,
    }


def parse_role(data: dict[str, Any]) -> Role:
    role_id = opt_int(data, "role_id")
    if role_id is None:
        raise BadRequest("role_id is required")
    try:
        return Role(role_id)
    except ValueError:
        raise BadRequest(
            "role_id must be 1 (projectAdmin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limitedGuest)"
        ) from None


def parse_member(data: dict[str, Any]) -> tuple[Role, UserRef | None, GroupRef | None]:
    role = parse_role(data)
    user = opt_object(data, "member_user")
    group = opt_object(data, "member_group")
    if user is not None:
        user_ref = UserRef(
            user_id=opt_int(user, "user_id", where="member_user."),
            username=opt_str(user, "username", where="member_user."),
        )
        if not user_ref.user_id and not user_ref.username:
            raise BadRequest("member_user needs user_id or username")
        if user_ref.user_id == 0:
            user_ref = UserRef(username=user_ref.username)
        return role, user_ref, None
    if group is not None:
        group_ref = GroupRef(
            id=opt_int(group, "id", where="member_group.") or None,
            group_name=opt_str(group, "group_name", where="member_group.") or None,
            ldap_group_dn=opt_str(group, "ldap_group_dn", where="member_group.") or None,
        )
        if group_ref.id is None and group_ref.group_name is None and group_ref.ldap_group_dn is None:
            raise BadRequest("member_group needs id, group_name or ldap_group_dn")
        return role, None, group_ref
    raise BadRequest("member_user or member_group is required")


class MembersApi:
    def __init__(self, members: MemberService) -> None:
        self._members = members

    def routes(self) -> list[web.RouteDef]:
        member = f"{PROJECT}/members/{{mid}}"
        return [
            web.get(f"{PROJECT}/members", self.list, allow_head=False),
            web.post(f"{PROJECT}/members", self.create),
            web.get(member, self.get, allow_head=False),
            web.put(member, self.update),
            web.delete(member, self.delete),
        ]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        if "q" in q or "sort" in q:
            raise BadRequest("the member list takes entityname, page and page_size; q and sort are not supported")
        entityname = q.get("entityname")
        page = parse_page(q.get("page"), q.get("page_size"))
        members, total = await self._members.list(
            principal_of(request),
            project_ref(request),
            clean_text(entityname, "entityname") if entityname else None,
            page,
        )
        return web.json_response([render(m) for m in members], headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        ref = project_ref(request)
        role, user, group = parse_member(await read_object(request))
        member = await self._members.add(principal_of(request), ref, role, user, group)
        return web.Response(status=201, headers={"Location": f"{API}/projects/{member.project_id}/members/{member.id}"})

    async def get(self, request: web.Request) -> web.Response:
        member = await self._members.get(principal_of(request), project_ref(request), path_int(request, "mid"))
        return web.json_response(render(member))

    async def update(self, request: web.Request) -> web.Response:
        ref, mid = project_ref(request), path_int(request, "mid")
        role = parse_role(await read_object(request))
        await self._members.set_role(principal_of(request), ref, mid, role)
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._members.remove(principal_of(request), project_ref(request), path_int(request, "mid"))
        return web.Response(status=200)
