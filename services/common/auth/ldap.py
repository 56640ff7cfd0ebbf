"""LDAP users (`auth_mode: ldap_auth`): every name the robot and admin authenticators leave.

Shared by the token service (docker logins) and core (Basic on the REST API, /c/login for the UI), so a
directory user is recognized, onboarded and refused the same way wherever it presents its password.

A login is checked by the directory (search with the service account, bind as the found entry), then
onboarded: the account and its LDAP group memberships are synced, so group roles follow the directory
at each login. A successful check is remembered for `ldap.cache_seconds` (docker asks for a token
before almost every request); during that time the directory is not asked again.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.common.auth.authenticate import Credentials, Identified, Principal
from services.common.auth.errors import InvalidCredentials
from services.common.auth.passwords import CredentialCache
from services.common.db import Database
from services.common.errors import BerthError
from services.common.identity import access_store, groups_store
from services.common.identity.models import User
from services.common.ldap import directory as ldap
from services.common.ldap.onboard import AccountRefused, onboard

log = structlog.get_logger()

# Part of every cache key of this authenticator, so no database check's entry can answer for it.
_CACHE_STAMP = "ldap"


class DirectoryUnavailable(BerthError):
    """The directory did not answer: nobody but the admin (and robots) can log in until it does."""

    code, status, default_message = "SERVICE_UNAVAILABLE", 503, "the LDAP directory is not available"


class LdapAuthenticator:
    def __init__(
        self, db: Database, directory: ldap.Directory, cache: CredentialCache, *, admin_group_dn: str = ""
    ) -> None:
        self._db = db
        self._directory = directory
        self._cache = cache
        # Harbor's ldap_group_admin_dn: its members are system administrators while they are members.
        self._admin_group_dn = admin_group_dn

    async def authenticate(self, credentials: Credentials, projects: Sequence[str]) -> Identified:
        if not credentials.password:
            # An LDAP bind with a DN and no password is an anonymous bind, which servers accept.
            raise InvalidCredentials("an empty password is never accepted")
        found = await access_store.user_access(self._db.pool, credentials.username, projects)
        known = found is not None and found.user.auth_source == "ldap" and not found.user.deleted
        onboarded: User | None = None

        async def verify() -> bool:
            nonlocal onboarded
            ldap_user = await self._check(credentials)
            try:
                onboarded = await onboard(self._db, ldap_user)
            except AccountRefused as exc:
                log.warning("ldap_login_refused", user=ldap_user.username, reason=str(exc))
                raise InvalidCredentials(str(exc)) from None
            return True

        # Only accounts already onboarded are answered from the cache: a first login always onboards.
        if known:
            await self._cache.check(_CACHE_STAMP, credentials.username, credentials.password, verify)
        else:
            await verify()
        if onboarded is not None or found is None:
            # Just onboarded, under the directory's spelling of the name, with its groups synced.
            name = onboarded.username if onboarded is not None else credentials.username
            found = await access_store.user_access(self._db.pool, name, projects)
            if found is None:
                raise InvalidCredentials()
        user = found.user
        sysadmin = user.sysadmin
        if not sysadmin and self._admin_group_dn:
            # Memberships as the last directory login synced them (a cached login keeps them).
            sysadmin = await groups_store.in_ldap_group(self._db.pool, user.id, self._admin_group_dn)
        principal = Principal(kind="user", name=user.username, user_id=user.id, sysadmin=sysadmin)
        return Identified(principal, found.projects)

    async def _check(self, credentials: Credentials) -> ldap.LdapUser:
        try:
            return await self._directory.authenticate(credentials.username, credentials.password)
        except ldap.InvalidCredentials as exc:
            raise InvalidCredentials(str(exc) or None) from None
        except ldap.DirectoryUnavailable as exc:
            log.warning("ldap_unavailable", reason=str(exc))
            raise DirectoryUnavailable(f"cannot check the credentials: {exc}") from None
