"""Health of the components core can see, what the system tells anonymous and logged-in callers, the
registry's storage volume and the token service's certificate."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import asyncpg
import structlog

from services.common.auth.authenticate import Principal
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.identity.bootstrap import DefaultPasswordCheck
from services.common.rbac import Action
from services.common.settings import Settings
from services.core.errors import NotFound
from services.core.security.access import require_system

log = structlog.get_logger()

HEALTH_TIMEOUT_S = 2.0
# A certificate file is a few KiB; anything much larger is not one.
MAX_CERTIFICATE_BYTES = 1024 * 1024
# Only certificate blocks are ever served: a key sitting in the same file (or a setting pointing at the
# key by mistake) stays where it is.
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----")


def berth_version() -> str:
    try:
        return metadata.version("berth")
    except metadata.PackageNotFoundError:
        return "dev"


@dataclass(frozen=True, slots=True)
class Capacity:
    """A volume's size and the bytes still free for the registry (not those kept for root), as
    Harbor's imagestorage.Capacity."""

    total: int
    free: int


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

    async def volumes(self, principal: Principal) -> list[Capacity]:
        """The registry's storage volume (storage.filesystem.rootdirectory), read where core runs: Harbor
        reads its data volume in core's container too. A directory that is not there is a 404 saying so,
        never the size of whatever disk happens to hold the missing path's parent. On S3 there is no volume:
        a bucket has no capacity to report, and the filesystem section is unused then, so none is listed
        (Harbor would report its local /data disk, which says nothing about the bucket; its UI shows the
        gauge only for `registry_storage_provider_name` filesystem and a non-zero total anyway)."""
        require_system(principal, "system-volumes", Action.READ, "read the system volumes")
        if self._settings.storage.s3.enabled:
            return []
        root = self._settings.storage.filesystem.rootdirectory
        try:
            st = await asyncio.to_thread(os.statvfs, root)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(
                f"the registry's storage directory {root} (storage.filesystem.rootdirectory) is not visible"
                " to core; mount the registry's volume into core's container (read-only is enough)"
            ) from None
        return [Capacity(total=st.f_blocks * st.f_frsize, free=st.f_bavail * st.f_frsize)]

    async def certificate(self) -> bytes:
        """The token service's certificate (token.certificate), which verifies the tokens it signs: PEM
        certificate blocks only. Open to anybody, as Harbor's getcert: a certificate is public."""
        path = Path(self._settings.token.certificate)
        try:
            data = await asyncio.to_thread(_read_head, path, MAX_CERTIFICATE_BYTES)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound("no certificate: the token service has not created token.certificate yet") from None
        blocks = _PEM_CERTIFICATE.findall(data)
        if not blocks:
            log.warning("token_certificate_unreadable", path=str(path))
            raise NotFound("no certificate: token.certificate holds no PEM certificate")
        return b"\n".join(blocks) + b"\n"

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
            "auth_mode": config.get("auth_mode"),
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
                    # Distribution's name of the registry's storage driver, as Harbor reports it.
                    "registry_storage_provider_name": "s3" if s.storage.s3.enabled else "filesystem",
                    "read_only": config.get("read_only"),
                    "notification_enable": False,
                }
            )
        return info


def _read_head(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        return f.read(limit)
