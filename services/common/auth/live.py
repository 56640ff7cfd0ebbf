"""Authentication that follows the run-time configuration: `auth_mode`, the `ldap_*` keys and
`robot_name_prefix`, changed through core's PUT /configurations, apply in every process within seconds,
without a restart.

One object per process (core and the token service build it alike) holds what depends on those keys:

- `authentication`: the `Authentication` that core's Basic and /c/login and the token service ask; its
  ordered authenticators (services.common.auth.modes) are swapped as a whole when the keys change, so a
  request sees either the old list or the new one, never a mix;
- `directory`: the one LDAP `Directory` core's LDAP and user-group APIs search, a stable object whose
  inner directory is swapped at the same moment;
- `robot_names`: which names are robots' (services.common.auth.robot_names).

`configure(values)` is a `SystemConfig.on_change` subscriber. berth.yml's values are checked strictly at
start (a section that cannot work stops the service, naming the key); a run-time combination that cannot
work (say ldap_auth with no base DN yet) is logged and answered as "not configured" until it is fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from services.common.auth.authenticate import Authentication, Authenticator
from services.common.auth.internal import InternalAuthenticator
from services.common.auth.modes import LDAP_AUTH, authenticators_for, directory_for
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.auth.robot_names import RobotNames
from services.common.config.keys import LDAP_SCOPES, defaults
from services.common.db import Database
from services.common.identity.access_cache import AccessLookup
from services.common.ldap.directory import (
    Directory,
    DirectoryConfigError,
    LdapGroup,
    LdapUser,
    UnconfiguredDirectory,
)
from services.common.secret import Secret
from services.common.secret_key import SecretKeyFile
from services.common.settings import LdapSettings, Settings

log = structlog.get_logger()

# Harbor's configuration key → the field of berth.yml's ldap: section it sets.
LDAP_FIELDS: Mapping[str, str] = {
    "ldap_url": "url",
    "ldap_search_dn": "search_dn",
    "ldap_search_password": "search_password",
    "ldap_base_dn": "base_dn",
    "ldap_filter": "filter",
    "ldap_uid": "uid",
    "ldap_scope": "scope",
    "ldap_timeout": "timeout",
    "ldap_verify_cert": "verify_cert",
    "ldap_group_base_dn": "group_base_dn",
    "ldap_group_search_filter": "group_filter",
    "ldap_group_attribute_name": "group_gid",
    "ldap_group_search_scope": "group_scope",
    "ldap_group_admin_dn": "group_admin_dn",
    "ldap_group_membership_attribute": "group_membership_attribute",
}
_CONVERT: Mapping[str, Callable[[Any], Any]] = {
    "ldap_scope": lambda v: LDAP_SCOPES[v],
    "ldap_group_search_scope": lambda v: LDAP_SCOPES[v],
    "ldap_timeout": float,
    "ldap_search_password": Secret,
}


def ldap_settings(base: LdapSettings, values: Mapping[str, Any], default: Mapping[str, Any]) -> LdapSettings:
    """berth.yml's ldap: section with the keys set at run time over it; a key at its default keeps
    berth.yml's exact value (a timeout of 0.5 s stays 0.5, though the key holds whole seconds)."""
    changes = {
        field: _CONVERT.get(key, lambda v: v)(values[key])
        for key, field in LDAP_FIELDS.items()
        if values[key] != default[key]
    }
    return dataclasses.replace(base, **changes)


@dataclasses.dataclass(frozen=True, slots=True)
class AuthConfig:
    mode: str
    ldap: LdapSettings


class SwitchableDirectory:
    """A `Directory` whose implementation follows the configuration (`use`)."""

    def __init__(self, inner: Directory) -> None:
        self._inner = inner

    def use(self, inner: Directory) -> None:
        self._inner = inner

    async def authenticate(self, username: str, password: str) -> LdapUser:
        return await self._inner.authenticate(username, password)

    async def search_users(self, query: str) -> list[LdapUser]:
        return await self._inner.search_users(query)

    async def search_groups(self, query: str) -> list[LdapGroup]:
        return await self._inner.search_groups(query)

    async def find_user(self, username: str) -> LdapUser | None:
        return await self._inner.find_user(username)

    async def group_by_dn(self, dn: str) -> LdapGroup | None:
        return await self._inner.group_by_dn(dn)

    async def ping(self) -> None:
        await self._inner.ping()


class LiveAuthentication:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        access: AccessLookup,
        hasher: PasswordHasher,
        cache: CredentialCache,
        *,
        directory: Directory | None = None,
        extra_authenticators: Sequence[Authenticator] = (),
    ) -> None:
        """`directory`: a fixed directory (tests), kept whatever the ldap_* keys say; `auth_mode` still
        decides whether it is asked. `extra_authenticators` come after the configured ones."""
        self._settings = settings
        self._db = db
        self._access = access
        self._hasher = hasher
        self._cache = cache
        self._fixed_directory = directory
        self._extra = tuple(extra_authenticators)
        # First: the jobservice's own login (replication into this registry), whatever auth_mode says.
        self._internal = InternalAuthenticator(SecretKeyFile(settings.secret_key_file))
        self._defaults = defaults(settings)
        self.robot_names = RobotNames(db, self._defaults["robot_name_prefix"])
        self._current = AuthConfig(settings.auth_mode, settings.ldap)
        # Strict at start: berth.yml's ldap: section that cannot work is a SettingsError naming the key.
        inner = directory or directory_for(settings.auth_mode, settings.ldap)
        self.directory = SwitchableDirectory(inner)
        self.authentication = Authentication(self._authenticators(self._current, inner), hasher)

    @property
    def auth_mode(self) -> str:
        return self._current.mode

    def ldap_auth(self) -> bool:
        return self._current.mode == LDAP_AUTH

    def ldap(self) -> LdapSettings:
        """The directory settings in force (berth.yml's under the ldap_* keys)."""
        return self._current.ldap

    def _authenticators(self, config: AuthConfig, directory: Directory) -> list[Authenticator]:
        found = authenticators_for(
            config.mode,
            config.ldap,
            self._db,
            self._access,
            self._hasher,
            self._cache,
            directory,
            robot_names=self.robot_names,
        )
        return [self._internal, *found, *self._extra]

    def _directory(self, config: AuthConfig) -> Directory:
        if self._fixed_directory is not None:
            return self._fixed_directory
        try:
            return directory_for(config.mode, config.ldap)
        except DirectoryConfigError as exc:
            # Never the password: the message names keys and values of the ldap: section only.
            log.error("ldap_configuration_unusable", error=str(exc))
            return UnconfiguredDirectory(f"the LDAP configuration cannot work: {exc}")

    def configure(self, values: Mapping[str, Any]) -> None:
        """A `SystemConfig.on_change` subscriber: rebuilds what changed; never raises."""
        self.robot_names.configure(values["robot_name_prefix"])
        config = AuthConfig(values["auth_mode"], ldap_settings(self._settings.ldap, values, self._defaults))
        if config == self._current:
            return
        directory = self._directory(config)
        # The directory first: a login that starts between the two lines already asks the new one.
        self.directory.use(directory)
        self.authentication.use(self._authenticators(config, directory))
        self._current = config
        log.info("authentication_configured", auth_mode=config.mode, ldap_url=config.ldap.url)
