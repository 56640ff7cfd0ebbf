"""/api/v2.0/ldap: ping (Harbor's LdapConf in, LdapPingResult out), users/search (LdapUser),
users/import (LdapImportUsers in; 404 with LdapFailedImportUser items when some failed, as Harbor) and
groups/search (UserGroup items; 404 when none matches, as Harbor)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.body import no_unknown_fields, opt_bool, opt_str, read_object
from services.core.api.common import API
from services.core.errors import BadRequest, NotFound
from services.core.ldap.service import LdapOverrides, LdapService
from services.core.listing import MAX_PARAM_LENGTH, clean_text
from services.core.security.middleware import principal_of

# Harbor's ldap_scope: 0 base, 1 one level, 2 subtree.
SCOPES = {0: "base", 1: "onelevel", 2: "subtree"}
MAX_TIMEOUT_SECONDS = 60
MAX_IMPORT = 1000
PING_FIELDS = frozenset(
    {
        "ldap_url",
        "ldap_search_dn",
        "ldap_search_password",
        "ldap_base_dn",
        "ldap_filter",
        "ldap_uid",
        "ldap_scope",
        "ldap_connection_timeout",
        "ldap_verify_cert",
    }
)


def _query(request: web.Request, key: str) -> str:
    text = request.query.get(key, "")
    if len(text) > MAX_PARAM_LENGTH:
        raise BadRequest(f"{key} is too long")
    return clean_text(text, key)


def _int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer")
    return value


def _overrides(data: dict[str, Any]) -> LdapOverrides:
    no_unknown_fields(data, PING_FIELDS, what="LDAP configuration")
    scope = _int(data, "ldap_scope")
    if scope is not None and scope not in SCOPES:
        raise BadRequest("ldap_scope must be 0 (base), 1 (one level) or 2 (subtree)")
    timeout = _int(data, "ldap_connection_timeout")
    if timeout is not None and not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise BadRequest(f"ldap_connection_timeout must be 1 to {MAX_TIMEOUT_SECONDS} seconds")
    return LdapOverrides(
        # Harbor's UI sends "" for fields left alone: they keep the configured value.
        url=opt_str(data, "ldap_url") or None,
        search_dn=opt_str(data, "ldap_search_dn"),
        search_password=opt_str(data, "ldap_search_password") or None,
        base_dn=opt_str(data, "ldap_base_dn") or None,
        filter=opt_str(data, "ldap_filter"),
        uid=opt_str(data, "ldap_uid") or None,
        scope=None if scope is None else SCOPES[scope],
        timeout=None if timeout is None else float(timeout),
        verify_cert=opt_bool(data, "ldap_verify_cert"),
    )


class LdapApi:
    def __init__(self, ldap: LdapService) -> None:
        self._ldap = ldap

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{API}/ldap/ping", self.ping),
            web.get(f"{API}/ldap/users/search", self.search_users, allow_head=False),
            web.post(f"{API}/ldap/users/import", self.import_users),
            web.get(f"{API}/ldap/groups/search", self.search_groups, allow_head=False),
        ]

    async def ping(self, request: web.Request) -> web.Response:
        self._ldap.check_ping(principal_of(request))
        # The body is optional: none (or {}) tests the configured settings.
        data = await read_object(request) if request.can_read_body else {}
        result = await self._ldap.ping(principal_of(request), _overrides(data))
        return web.json_response({"success": result.success, "message": result.message})

    async def search_users(self, request: web.Request) -> web.Response:
        users = await self._ldap.search_users(principal_of(request), _query(request, "username"))
        body = [{"username": u.username, "realname": u.realname, "email": u.email or ""} for u in users]
        return web.json_response(body)

    async def import_users(self, request: web.Request) -> web.Response:
        self._ldap.check_import(principal_of(request))
        data = await read_object(request)
        no_unknown_fields(data, frozenset({"ldap_uid_list"}), what="import request")
        uids = data.get("ldap_uid_list")
        if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
            raise BadRequest("ldap_uid_list must be a list of strings")
        if len(uids) > MAX_IMPORT:
            raise BadRequest(f"ldap_uid_list may hold at most {MAX_IMPORT} uids")
        uids = [clean_text(u, "ldap_uid_list") for u in uids]
        failed = await self._ldap.import_users(principal_of(request), uids)
        if failed:
            # Harbor's answer when some uids failed: 404 with the list (not the error envelope).
            return web.json_response([{"uid": f.uid, "error": f.error} for f in failed], status=404)
        return web.Response(status=200)

    async def search_groups(self, request: web.Request) -> web.Response:
        name, dn = _query(request, "groupname"), _query(request, "groupdn")
        groups = await self._ldap.search_groups(principal_of(request), name, dn)
        if not groups:
            raise NotFound(f"no LDAP group matches group name {name[:100]!r}, group DN {dn[:100]!r}")
        return web.json_response([{"group_name": g.name, "group_type": 1, "ldap_group_dn": g.dn} for g in groups])
