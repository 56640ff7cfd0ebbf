"""Who is asking: anonymous, a database user, a robot account or an LDAP user.

Shared by the token service and core (moved here from services/token/authenticate.py, which re-exports it).

Credentials come as HTTP Basic or not at all. An ordered list of `Authenticator`s is asked in turn; the
first that recognizes the name answers with a `Principal` or refuses with a 401. Names nobody recognizes
are refused like a wrong password, after the same amount of work, so that timing does not tell which
accounts exist.

With `auth_mode: ldap_auth` the database authenticator keeps only the admin (as in Harbor); every other
name falls through to the LDAP authenticator (`ldap.py`), one more `Authenticator`; `modes.py` builds
the list for the configured mode, for the token service and core alike.

The hot path is one lookup per token: an authenticator is told which projects the request names and may
fetch them, with the account's roles there, in the same round trip as the account itself (`Identified`),
answered from memory while nothing it read has changed (`AccessLookup`).
One that does not (`projects=None`) leaves the lookup to the authorizer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from services.common.auth.errors import (
    AccountDisabled,
    AccountExpired,
    InvalidCredentials,
    MalformedCredentials,
    UnsupportedScheme,
)
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.auth.robot_names import RobotNames
from services.common.identity.access_cache import AccessLookup
from services.common.identity.models import ADMIN_USER_ID, ROBOT_PREFIX, ProjectAccess, Robot

# Longer names or passwords are refused before any lookup or hashing.
MAX_NAME_LENGTH = 255
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["anonymous", "user", "robot"]
    name: str  # the token's `sub`; empty for anonymous
    user_id: int | None = None
    sysadmin: bool = False
    robot: Robot | None = None


ANONYMOUS = Principal(kind="anonymous", name="")


@dataclass(frozen=True, slots=True)
class Identified:
    principal: Principal
    # The requested projects that exist, with the principal's roles there; None: not looked up yet.
    projects: Mapping[str, ProjectAccess] | None = None


class Authenticator(Protocol):
    async def authenticate(self, credentials: Credentials, projects: Sequence[str]) -> Identified | None:
        """The principal these credentials prove (and, if convenient, `projects` as seen by it); None
        when the name is not this authenticator's to judge (the next one is asked). Raise an
        `Unauthorized` when it is and the check fails."""


def parse_authorization(header: str | None) -> Credentials | None:
    """The Basic credentials of an Authorization header; None without one."""
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise UnsupportedScheme(f"only HTTP Basic credentials are accepted here, not {scheme[:20]!r}")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedCredentials("the Basic credentials are not base64 of UTF-8 'user:password'") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise MalformedCredentials("the Basic credentials have no ':' between user name and password")
    return checked_credentials(username, password)


def checked_credentials(username: str, password: str) -> Credentials:
    """A name and password as any login form gives them, refused before any lookup when impossible."""
    if not username:
        raise InvalidCredentials("the user name is empty")
    if len(username) > MAX_NAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidCredentials()
    if "\x00" in username:
        # PostgreSQL text cannot hold NUL, so no account has such a name.
        raise InvalidCredentials()
    return Credentials(username, password)


class DatabaseAuthenticator:
    """Users whose password hash is in the database; with `admin_only` (LDAP mode) the admin alone."""

    def __init__(
        self, access: AccessLookup, hasher: PasswordHasher, cache: CredentialCache, *, admin_only: bool = False
    ) -> None:
        self._access = access
        self._hasher = hasher
        self._cache = cache
        self._admin_only = admin_only

    async def authenticate(self, credentials: Credentials, projects: Sequence[str]) -> Identified | None:
        found = await self._access.user_access(credentials.username, projects)
        user = found.user if found is not None else None
        if self._admin_only and (user is None or user.id != ADMIN_USER_ID):
            return None
        password_hash = user.password_hash if user is not None and not user.deleted else None
        if found is None or user is None or password_hash is None:
            await self._hasher.verify_absent(credentials.password)
            raise InvalidCredentials()
        # A changed password (new hash, new timestamp) makes every earlier cached check unreachable.
        stamp = f"{user.password_changed_at.isoformat()}|{password_hash}"
        ok = await self._cache.check(
            stamp, user.username, credentials.password, lambda: self._hasher.verify(password_hash, credentials.password)
        )
        if not ok:
            raise InvalidCredentials()
        principal = Principal(kind="user", name=user.username, user_id=user.id, sysadmin=user.sysadmin)
        return Identified(principal, found.projects)


class RobotAuthenticator:
    """Robot accounts: every name with a robot prefix (`robot$` unless robot_name_prefix says otherwise,
    see `RobotNames`), checked against the robot's secret hash."""

    def __init__(
        self,
        access: AccessLookup,
        hasher: PasswordHasher,
        cache: CredentialCache,
        *,
        names: RobotNames | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._access = access
        self._hasher = hasher
        self._cache = cache
        self._names = names
        self._clock = clock

    async def _is_robot(self, name: str) -> bool:
        if self._names is None:
            return name.startswith(ROBOT_PREFIX)
        return await self._names.is_robot(name)

    async def authenticate(self, credentials: Credentials, projects: Sequence[str]) -> Identified | None:
        if not await self._is_robot(credentials.username):
            return None
        found = await self._access.robot_access(credentials.username, projects)
        if found is None:
            await self._hasher.verify_absent(credentials.password)
            raise InvalidCredentials("invalid robot account name or secret")
        robot = found.robot
        secret_hash = robot.secret_hash
        ok = await self._cache.check(
            f"robot|{secret_hash}",
            robot.name,
            credentials.password,
            lambda: self._hasher.verify(secret_hash, credentials.password),
        )
        if not ok:
            raise InvalidCredentials("invalid robot account name or secret")
        # Told only to whoever holds the secret.
        if robot.disabled:
            raise AccountDisabled(f"robot account {robot.name} is disabled")
        if robot.expired(self._clock()):
            raise AccountExpired(f"robot account {robot.name} has expired")
        return Identified(Principal(kind="robot", name=robot.name, robot=robot), found.projects)


class Authentication:
    """The ordered authenticators; no credentials at all is the anonymous principal."""

    def __init__(self, authenticators: Sequence[Authenticator], hasher: PasswordHasher) -> None:
        self._authenticators = tuple(authenticators)
        self._hasher = hasher

    def use(self, authenticators: Sequence[Authenticator]) -> None:
        """From the next request on (a configuration change); one in flight finishes with the old ones."""
        self._authenticators = tuple(authenticators)

    async def identify(self, authorization: str | None, projects: Sequence[str]) -> Identified:
        credentials = parse_authorization(authorization)
        if credentials is None:
            return Identified(ANONYMOUS)
        return await self.verify(credentials, projects)

    async def verify(self, credentials: Credentials, projects: Sequence[str] = ()) -> Identified:
        """The principal these credentials prove (Basic header or login form alike), or a 401."""
        for authenticator in self._authenticators:
            identified = await authenticator.authenticate(credentials, projects)
            if identified is not None:
                return identified
        await self._hasher.verify_absent(credentials.password)
        raise InvalidCredentials()


def default_authenticators(
    access: AccessLookup,
    hasher: PasswordHasher,
    cache: CredentialCache,
    *,
    auth_mode: str,
    robot_names: RobotNames | None = None,
) -> list[Authenticator]:
    """Robots first (their names are unambiguous), then the database; in `ldap_auth` mode
    `modes.authenticators_for` puts the directory after them."""
    return [
        RobotAuthenticator(access, hasher, cache, names=robot_names),
        DatabaseAuthenticator(access, hasher, cache, admin_only=auth_mode == "ldap_auth"),
    ]
