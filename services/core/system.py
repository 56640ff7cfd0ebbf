"""Health of the components core can see, and what the system tells anonymous and logged-in callers."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from importlib import metadata

import asyncpg

from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.identity.bootstrap import DefaultPasswordCheck
from services.common.settings import Settings

HEALTH_TIMEOUT_S = 2.0


def berth_version() -> str:
    try:
        return metadata.version("berth")
    except metadata.PackageNotFoundError:
        return "dev"


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    healthy: bool
    error: str = ""


class SystemService:
    def __init__(
        self, db: Database, settings: Settings, config: SystemConfig, default_password: DefaultPasswordCheck
    ) -> None:
        self._db = db
        self._settings = settings
        self._config = config
        self._default_password = default_password

    async def admin_password_is_default(self) -> bool:
        """Whether the admin (user 1) still logs in with Harbor12345: for the sysadmins' warning banner."""
        return await self._default_password.is_default(self._db)

    async def health(self) -> list[ComponentHealth]:
        return [ComponentHealth("core", True), await self._database()]

    async def _database(self) -> ComponentHealth:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                await self._db.pool.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            return ComponentHealth("database", False, f"{type(exc).__name__}: {exc}"[:300])
        return ComponentHealth("database", True)

    def info(self, *, logged_in: bool) -> dict[str, object]:
        """Harbor's GeneralInfo. Anonymous callers get what Harbor 2.13 gives them, the login page's needs
        (auth mode, self-registration, the banner) and nothing that describes the installation: no version
        (goharbor/harbor#21152), no feature flags, addresses or storage; those need a login."""
        s, config = self._settings, self._config
        info: dict[str, object] = {
            "auth_mode": s.auth_mode,
            "primary_auth_mode": False,
            "self_registration": config.get("self_registration"),
            "banner_message": config.get("banner_message"),
        }
        if logged_in:
            url = s.public_url()
            info.update(
                {
                    "with_notary": False,
                    "current_time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                    "external_url": url,
                    "registry_url": url.split("://", 1)[-1],
                    "project_creation_restriction": config.get("project_creation_restriction"),
                    "has_ca_root": False,
                    "berth_version": berth_version(),
                    "harbor_version": f"berth-{berth_version()}",
                    "registry_storage_provider_name": "filesystem",
                    "read_only": config.get("read_only"),
                    "notification_enable": False,
                }
            )
        return info
