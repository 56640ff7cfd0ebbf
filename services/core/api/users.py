"""/api/v2.0/users and /users/current: parse, call the user service, render Harbor's UserResp (no secret)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.body import opt_bool, opt_str, read_object
from services.core.api.common import API, harbor_time, page_headers, path_int
from services.core.errors import BadRequest
from services.core.listing import clean_text, parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of
from services.core.users.models import USER_LIST, NewUser, ProfileChanges, UserView
from services.core.users.service import UserService


def render(user: UserView) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email or "",
        "realname": user.realname,
        "comment": user.comment,
        "sysadmin_flag": user.sysadmin,
        "admin_role_in_auth": False,
        "creation_time": harbor_time(user.created_at),
        "update_time": harbor_time(user.updated_at),
    }


def _required(data: dict[str, Any], key: str) -> str:
    value = opt_str(data, key)
    if value is None:
        raise BadRequest(f"{key} is required")
    return value


class UsersApi:
    def __init__(self, users: UserService) -> None:
        self._users = users

    def routes(self) -> list[web.RouteDef]:
        user = f"{API}/users/{{user_id}}"
        # The fixed /users/... paths before /users/{user_id}, which would take them (and answer 400).
        return [
            web.get(f"{API}/users/current", self.current, allow_head=False),
            web.get(f"{API}/users/search", self.search, allow_head=False),
            web.get(f"{API}/users", self.list, allow_head=False),
            web.post(f"{API}/users", self.create),
            web.get(user, self.get, allow_head=False),
            web.put(user, self.update),
            web.delete(user, self.delete),
            web.put(f"{user}/password", self.change_password),
            web.put(f"{user}/sysadmin", self.set_sysadmin),
        ]

    async def current(self, request: web.Request) -> web.Response:
        user = await self._users.current(principal_of(request))
        return web.json_response(render(user))

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), USER_LIST.filters)
        sort = parse_sort(q.get("sort"), USER_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        users, total = await self._users.list_users(principal_of(request), terms, sort, page)
        return web.json_response([render(u) for u in users], headers=page_headers(request, page, total))

    async def search(self, request: web.Request) -> web.Response:
        q = request.query
        username = q.get("username")
        if not username:
            raise BadRequest("the username parameter is required")
        page = parse_page(q.get("page"), q.get("page_size"))
        found, total = await self._users.search(principal_of(request), clean_text(username, "username"), page)
        return web.json_response(
            [{"user_id": u.id, "username": u.username} for u in found], headers=page_headers(request, page, total)
        )

    async def create(self, request: web.Request) -> web.Response:
        data = await read_object(request)
        new = NewUser(
            username=_required(data, "username"),
            password=_required(data, "password"),
            email=opt_str(data, "email") or None,
            realname=opt_str(data, "realname") or "",
            comment=opt_str(data, "comment") or "",
            # Not part of Harbor's UserCreationReq; read so that a non-admin sending it is refused.
            sysadmin=bool(opt_bool(data, "sysadmin_flag")),
        )
        user = await self._users.create(principal_of(request), new)
        return web.Response(status=201, headers={"Location": f"{API}/users/{user.id}"})

    async def get(self, request: web.Request) -> web.Response:
        user = await self._users.get(principal_of(request), path_int(request, "user_id"))
        return web.json_response(render(user))

    async def update(self, request: web.Request) -> web.Response:
        user_id = path_int(request, "user_id")
        data = await read_object(request)
        changes = ProfileChanges(
            email=opt_str(data, "email"), realname=opt_str(data, "realname"), comment=opt_str(data, "comment")
        )
        await self._users.update_profile(principal_of(request), user_id, changes)
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._users.delete(principal_of(request), path_int(request, "user_id"))
        return web.Response(status=200)

    async def change_password(self, request: web.Request) -> web.Response:
        user_id = path_int(request, "user_id")
        data = await read_object(request)
        await self._users.change_password(
            principal_of(request), user_id, opt_str(data, "old_password"), _required(data, "new_password")
        )
        return web.Response(status=200)

    async def set_sysadmin(self, request: web.Request) -> web.Response:
        user_id = path_int(request, "user_id")
        data = await read_object(request)
        flag = opt_bool(data, "sysadmin_flag")
        if flag is None:
            raise BadRequest("sysadmin_flag is required")
        await self._users.set_sysadmin(principal_of(request), user_id, flag)
        return web.Response(status=200)
