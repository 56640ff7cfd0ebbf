"""LDAP administration, as Harbor's: only the system administrator (or a system robot holding the
configuration or ldap-user permission) may test settings, search the directory and import users.

`ping` tests settings given in the request merged over the configured ones (berth.yml's `ldap:` section
under the stored `ldap_*` keys), in any auth mode,
and reports every failure as data (`success: false` and a message), never as an error status. The
search and import operations use the configured directory and need `auth_mode: ldap_auth`.
No aiohttp here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.ldap.directory import (
    Directory,
    DirectoryError,
    DirectoryUnavailable,
    InvalidQuery,
    LdapGroup,
    LdapUser,
)
from services.common.ldap.onboard import AccountRefused, onboard
from services.common.rbac import Action
from services.common.settings import LdapSettings
from services.core.errors import BadRequest, LdapNotEnabled, LdapUnavailable
from services.core.security.access import require_system

log = structlog.get_logger()

MASK = "*****"


@dataclass(frozen=True, slots=True)
class LdapOverrides:
    """Harbor's LdapConf: None keeps the configured value."""

    url: str | None = None
    search_dn: str | None = None
    search_password: str | None = None
    base_dn: str | None = None
    filter: str | None = None
    uid: str | None = None
    scope: str | None = None  # base, onelevel or subtree
    timeout: float | None = None
    verify_cert: bool | None = None


@dataclass(frozen=True, slots=True)
class PingResult:
    success: bool
    message: str


@dataclass(frozen=True, slots=True)
class FailedImport:
    uid: str
    error: str


class LdapService:
    def __init__(
        self,
        db: Database,
        directory: Directory,
        settings: Callable[[], LdapSettings],
        *,
        ldap_auth: Callable[[], bool],
        connect: Callable[[LdapSettings], Directory],
    ) -> None:
        """`settings` and `ldap_auth`: the directory settings and whether auth_mode is ldap_auth, as the
        run-time configuration has them now (berth.yml's ldap: section under the ldap_* keys)."""
        self._db = db
        self._directory = directory
        self._settings = settings
        self._ldap_auth = ldap_auth
        self._connect = connect

    def _merged(self, o: LdapOverrides) -> tuple[LdapSettings, str]:
        """The settings to test, and the password in them (to mask it in any message)."""
        s = self._settings()
        merged = replace(
            s,
            url=s.url if o.url is None else o.url,
            search_dn=s.search_dn if o.search_dn is None else o.search_dn,
            base_dn=s.base_dn if o.base_dn is None else o.base_dn,
            filter=s.filter if o.filter is None else o.filter,
            uid=s.uid if o.uid is None else o.uid,
            scope=s.scope if o.scope is None else o.scope,
            timeout=s.timeout if o.timeout is None else o.timeout,
            verify_cert=s.verify_cert if o.verify_cert is None else o.verify_cert,
        )
        if o.search_password:
            password = o.search_password
        elif (merged.url, merged.search_dn) == (s.url, s.search_dn):
            # The stored password goes only to the directory and account it was configured for: a
            # request naming another host or account must bring its own, or it could collect ours.
            password = s.search_password.reveal()
        else:
            password = ""
        return replace(merged, search_password=type(s.search_password)(password)), password

    def check_ping(self, principal: Principal) -> None:
        """Before the body is read: an unauthorized caller is answered 401/403 whatever it sent."""
        require_system(principal, "configuration", Action.READ, "test LDAP settings")

    def check_import(self, principal: Principal) -> None:
        require_system(principal, "ldap-user", Action.CREATE, "import LDAP users")

    async def ping(self, principal: Principal, overrides: LdapOverrides) -> PingResult:
        self.check_ping(principal)
        settings, password = self._merged(overrides)
        if settings.search_dn and not password:
            return PingResult(
                False,
                "ldap_search_password is required: the configured password is only used with the configured"
                " ldap_url and ldap_search_dn",
            )
        try:
            await self._connect(settings).ping()
        except DirectoryError as exc:
            return PingResult(False, _masked(str(exc), password))
        except Exception as exc:
            # A ping reports every failure as its answer (never a 500): log it, say what happened.
            log.warning("ldap_ping_failed", error_type=type(exc).__name__, exc_info=True)
            return PingResult(False, _masked(f"unexpected error talking to the directory: {exc}", password))
        log.info("ldap_ping_succeeded", url=settings.url, by=principal.name)
        return PingResult(True, f"connected to {settings.url} and bound as {settings.search_dn or 'anonymous'}")

    def _require_ldap(self) -> None:
        if not self._ldap_auth():
            raise LdapNotEnabled()

    async def search_users(self, principal: Principal, username: str) -> list[LdapUser]:
        require_system(principal, "ldap-user", Action.LIST, "search LDAP users")
        self._require_ldap()
        try:
            return await self._directory.search_users(username)
        except DirectoryUnavailable as exc:
            raise LdapUnavailable(str(exc)) from None

    async def search_groups(self, principal: Principal, name: str, dn: str) -> list[LdapGroup]:
        require_system(principal, "ldap-user", Action.LIST, "search LDAP groups")
        self._require_ldap()
        try:
            if name or not dn:
                return await self._directory.search_groups(name)
            found = await self._directory.group_by_dn(dn)
        except InvalidQuery as exc:
            raise BadRequest(f"invalid DN: {exc}") from None
        except DirectoryUnavailable as exc:
            raise LdapUnavailable(str(exc)) from None
        return [] if found is None else [found]

    async def import_users(self, principal: Principal, uids: Sequence[str]) -> list[FailedImport]:
        """Onboards each uid as a first login would (account and LDAP group memberships); the uids that
        could not be, with Harbor's reason codes."""
        self.check_import(principal)
        self._require_ldap()
        failed = []
        for uid in uids:
            if not uid:
                failed.append(FailedImport(uid, "empty_uid"))
                continue
            try:
                found = await self._directory.find_user(uid)
            except DirectoryUnavailable as exc:
                # The directory is down: every further uid would fail the same way.
                raise LdapUnavailable(str(exc)) from None
            if found is None:
                failed.append(FailedImport(uid, "unknown_user"))
                continue
            try:
                user = await onboard(self._db, found)
            except AccountRefused as exc:
                log.warning("ldap_import_refused", uid=uid, reason=str(exc))
                failed.append(FailedImport(uid, f"failed to import user: {uid}"))
                continue
            log.info("ldap_user_imported", user=user.username, user_id=user.id, by=principal.name)
        return failed


def _masked(message: str, password: str) -> str:
    return message.replace(password, MASK) if password else message
