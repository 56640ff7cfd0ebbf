"""What Berth asks of a directory: check a login, and search users and groups (for core's API).

Implementations translate their library's exceptions into the three below, so callers never see ldap3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.common.settings import SettingsError


class DirectoryError(Exception):
    """A failure of the directory or of its configuration; the message is safe to show an operator."""


class InvalidCredentials(DirectoryError):
    """No single user of that name, or the password is wrong, empty or refused."""


class DirectoryUnavailable(DirectoryError):
    """The directory cannot be asked: down, too slow, TLS refused, or the search account rejected."""


class DirectoryConfigError(DirectoryError, SettingsError):
    """The `ldap` settings cannot work; the message names the key."""


class InvalidQuery(DirectoryError):
    """A value a client gave cannot be asked at all (e.g. a DN that is not one)."""


@dataclass(frozen=True, slots=True)
class LdapGroup:
    dn: str
    name: str


@dataclass(frozen=True, slots=True)
class LdapUser:
    dn: str
    username: str  # as the directory spells it (the uid attribute's value)
    email: str | None
    realname: str
    groups: tuple[LdapGroup, ...] = ()

    @property
    def group_dns(self) -> tuple[str, ...]:
        return tuple(g.dn for g in self.groups)


class Directory(Protocol):
    async def authenticate(self, username: str, password: str) -> LdapUser:
        """The user these credentials prove, with the groups it belongs to; raises `InvalidCredentials`
        or `DirectoryUnavailable`."""

    async def search_users(self, query: str) -> list[LdapUser]:
        """Users whose uid contains `query` (any user for ""); their groups are not looked up."""

    async def search_groups(self, query: str) -> list[LdapGroup]:
        """Groups whose name contains `query` (any group for "")."""

    async def find_user(self, username: str) -> LdapUser | None:
        """The one user whose uid is exactly `username`, with its groups (as a login would see them);
        None when there is none, or more than one."""

    async def group_by_dn(self, dn: str) -> LdapGroup | None:
        """The group entry at `dn`, if it is a group as configured (under the group base DN, matching
        the group filter); the DN as the directory spells it. `InvalidQuery` for a malformed DN."""

    async def ping(self) -> None:
        """Connect, bind with the search account and find the base DN; raises `DirectoryUnavailable` or
        `DirectoryConfigError` with a message for an operator (never the password)."""


class UnconfiguredDirectory:
    """`auth_mode: ldap_auth` before `ldap_url` is set (or with settings that cannot work, `reason` says
    which): nobody but the admin can log in, and says why."""

    def __init__(self, reason: str = "no LDAP directory is configured (ldap_url is empty)") -> None:
        self._reason = reason

    async def authenticate(self, username: str, password: str) -> LdapUser:
        raise InvalidCredentials(f"{self._reason}; only the admin can log in")

    async def search_users(self, query: str) -> list[LdapUser]:
        raise DirectoryUnavailable(self._reason)

    async def search_groups(self, query: str) -> list[LdapGroup]:
        raise DirectoryUnavailable(self._reason)

    async def find_user(self, username: str) -> LdapUser | None:
        raise DirectoryUnavailable(self._reason)

    async def group_by_dn(self, dn: str) -> LdapGroup | None:
        raise DirectoryUnavailable(self._reason)

    async def ping(self) -> None:
        raise DirectoryConfigError(self._reason)
