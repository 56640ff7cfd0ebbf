"""/api/v2.0/audit-logs and /api/v2.0/projects/{project}/logs: Harbor's AuditLog entries, newest first;
/api/v2.0/auditlog-exts, /projects/{project}/auditlog-exts and /auditlog-exts/events: Harbor 2.13's
AuditLogExt over the same entries, with a description and the result (a failed login is the one failure
recorded, and only these lists show it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.core.api.common import API, PROJECT, harbor_time, page_headers, project_ref
from services.core.audit.models import AUDIT_LIST, AuditView
from services.core.audit.service import AuditService
from services.core.listing import Page, SortKey, Term, parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of


def render(entry: AuditView) -> dict[str, Any]:
    return {
        "id": entry.id,
        "project_id": entry.project_id,
        "username": entry.username,
        "resource": entry.resource,
        "resource_type": entry.resource_type,
        "operation": entry.operation,
        "op_time": harbor_time(entry.op_time),
    }


def render_ext(entry: AuditView) -> dict[str, Any]:
    return {
        "id": entry.id,
        "username": entry.username,
        "resource": entry.resource,
        "resource_type": entry.resource_type,
        "operation": entry.operation,
        # Entries from the registry's events carry none; say what they are.
        "operation_description": entry.operation_description
        or f"{entry.operation} {entry.resource_type} {entry.resource}",
        "operation_result": entry.operation_result,
        "op_time": harbor_time(entry.op_time),
    }


def _params(request: web.Request) -> tuple[list[Term], list[SortKey], Page]:
    q = request.query
    return (
        parse_q(q.get("q"), AUDIT_LIST.filters),
        parse_sort(q.get("sort"), AUDIT_LIST.sorts),
        parse_page(q.get("page"), q.get("page_size")),
    )


class AuditApi:
    def __init__(self, audit: AuditService) -> None:
        self._audit = audit

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PROJECT}/logs", self.list_project, allow_head=False),
            web.get(f"{API}/audit-logs", self.list_all, allow_head=False),
            web.get(f"{PROJECT}/auditlog-exts", self.list_project_ext, allow_head=False),
            web.get(f"{API}/auditlog-exts", self.list_ext, allow_head=False),
            web.get(f"{API}/auditlog-exts/events", self.event_types, allow_head=False),
        ]

    async def list_all(self, request: web.Request) -> web.Response:
        terms, sort, page = _params(request)
        rows, total = await self._audit.list_all(principal_of(request), terms, sort, page)
        return web.json_response([render(e) for e in rows], headers=page_headers(request, page, total))

    async def list_project(self, request: web.Request) -> web.Response:
        terms, sort, page = _params(request)
        rows, total = await self._audit.list_project(principal_of(request), project_ref(request), terms, sort, page)
        return web.json_response([render(e) for e in rows], headers=page_headers(request, page, total))

    async def list_ext(self, request: web.Request) -> web.Response:
        terms, sort, page = _params(request)
        rows, total = await self._audit.list_all(principal_of(request), terms, sort, page, failures=True)
        return web.json_response([render_ext(e) for e in rows], headers=page_headers(request, page, total))

    async def list_project_ext(self, request: web.Request) -> web.Response:
        terms, sort, page = _params(request)
        rows, total = await self._audit.list_project(
            principal_of(request), project_ref(request), terms, sort, page, failures=True
        )
        return web.json_response([render_ext(e) for e in rows], headers=page_headers(request, page, total))

    async def event_types(self, request: web.Request) -> web.Response:
        types = self._audit.event_types(principal_of(request))
        return web.json_response([{"event_type": t} for t in types])
