"""/api/v2.0/users: parse, call the user service, render Harbor's UserResp (never a secret column)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.body import opt_bool, opt_str, read_object
from services.core.api.common import API, harbor_time, page_headers, path_int
from services.core.errors import BadRequest
from services.core.listing import clean_text, parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of
from services.core.users.models import NewUser, ProfileChanges, UserView
from services.core.users.service import UserService
from services.core.users.store import FILTER_COLUMNS, SORT_COLUMNS

Q_KEYS: dict[str, Any] = dict.fromkeys(FILTER_COLUMNS, "str")
SORT_KEYS = frozenset(SORT_COLUMNS)


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

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), Q_KEYS)
        sort = parse_sort(q.get("sort"), SORT_KEYS)
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
