"""Harbor's /api/v2.0/configurations: the system administrator reads every run-time key with whether it
may be changed now, and changes several at once: every key and value checked first (an unknown key, a
wrong type, a value out of range, a rule across keys: a 400 naming the key, nothing stored), then one
transaction writing the values and the audit entry; every process applies them on the notification that
commit sends (services.common.config.live). No aiohttp."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from services.common.auth.authenticate import Principal
from services.common.config import store
from services.common.config.keys import CATALOG, SECRET_KEYS, check_together
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.rbac import Action
from services.core.auditing import AuditLog
from services.core.errors import BadRequest
from services.core.security.access import require_system
from services.core.users import store as users_store

log = structlog.get_logger()
RESOURCE = "configuration"
# Serializes changes, so the rules across keys hold on what the last writer left.
_LOCK_KEY = 0x62657274_636F6E66  # "bertconf"


def _shown(key: str, value: Any) -> str:
    """A changed key as its audit entry names it: a secret's value never."""
    return f"{key} (changed)" if key in SECRET_KEYS else f"{key}={value!r}"


@dataclass(frozen=True, slots=True)
class ConfigItem:
    value: Any
    editable: bool


class ConfigService:
    def __init__(self, db: Database, config: SystemConfig, audit: AuditLog) -> None:
        self._db = db
        self._config = config
        self._audit = audit

    async def read(self, principal: Principal) -> dict[str, ConfigItem]:
        """Every key but the secrets (Harbor's ConfigurationsResponse has no password either); auth_mode
        is editable only while no account but the admin exists."""
        require_system(principal, RESOURCE, Action.READ, "read the configuration")
        auth_mode_editable = await users_store.count_besides_admin(self._db.pool) == 0
        return {
            name: ConfigItem(value, editable=auth_mode_editable if name == "auth_mode" else True)
            for name, value in self._config.values.items()
            if name not in SECRET_KEYS
        }

    async def update(self, principal: Principal, given: Mapping[str, Any]) -> list[str]:
        """Stores the keys given; the names of those whose value changed."""
        require_system(principal, RESOURCE, Action.UPDATE, "change the configuration")
        unknown = sorted(k for k in given if k not in CATALOG)
        if unknown:
            raise BadRequest(f"unknown configuration key {unknown[0][:100]!r}: the keys are {', '.join(CATALOG)}")
        try:
            parsed = {name: CATALOG[name].parse(value) for name, value in given.items()}
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        async with self._db.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            current = {**self._config.defaults, **await store.overrides(tx)}
            changed = sorted(k for k, v in parsed.items() if current.get(k) != v)
            try:
                check_together({**current, **parsed})
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
            if "auth_mode" in changed and (users := await users_store.count_besides_admin(tx)):
                # Harbor's rule: accounts of one mode cannot log in through the other.
                raise BadRequest(
                    f"auth_mode can be changed only while no user but the admin exists ({users} other"
                    f" user{'s' if users != 1 else ''}; delete them first)"
                )
            if changed:
                await store.put(tx, {k: parsed[k] for k in changed})
                await self._audit.record(
                    tx,
                    operator=principal.name,
                    operation="update",
                    resource_type=RESOURCE,
                    resource=",".join(changed),
                    description="update configuration " + ", ".join(_shown(k, parsed[k]) for k in changed),
                )
        if changed:
            # This process at once (its caller reads next); the others on the notification.
            await self._config.reload()
            log.info("configuration_updated", keys=changed, by=principal.name)
        return changed
