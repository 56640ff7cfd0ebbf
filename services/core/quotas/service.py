"""Quota rules: the sysadmin's (Harbor's RequireSystemAccess on quota), limits -1 or bytes, and the default
a new project gets. No aiohttp here."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.rbac import Action
from services.core.errors import BadRequest, QuotaNotFound
from services.core.listing import Page, SortKey
from services.core.quotas import store
from services.core.quotas.models import REFERENCE, QuotaView, valid_limit
from services.core.security.access import require_system

log = structlog.get_logger()
RESOURCE = "quota"


def check_limit(value: int, field: str) -> int:
    if not valid_limit(value):
        raise BadRequest(f"{field} must be -1 (unlimited) or a number of bytes from 0 to 2^62, not {value}")
    return value


class QuotaService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(
        self, principal: Principal, reference: str | None, reference_id: int | None, sort: Sequence[SortKey], page: Page
    ) -> tuple[list[QuotaView], int]:
        require_system(principal, RESOURCE, Action.LIST, "list quotas")
        if reference is not None and reference != REFERENCE:
            return [], 0  # Harbor's only reference is a project: nothing else has a quota
        return await store.list_quotas(self._db.pool, reference_id, sort, page)

    async def get(self, principal: Principal, quota_id: int) -> QuotaView:
        require_system(principal, RESOURCE, Action.READ, "read quotas")
        found = await store.quota(self._db.pool, quota_id)
        if found is None:
            raise QuotaNotFound(f"quota {quota_id} not found")
        return found

    async def set_limit(self, principal: Principal, quota_id: int, hard: int) -> None:
        require_system(principal, RESOURCE, Action.UPDATE, "change quotas")
        check_limit(hard, "hard.storage")
        if not await store.set_limit(self._db.pool, quota_id, hard):
            raise QuotaNotFound(f"quota {quota_id} not found")
        log.info("quota_limit_set", quota_id=quota_id, hard=hard, operator=principal.name)
