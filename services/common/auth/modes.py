"""The authenticators of an `auth_mode`, built one way for every service that checks passwords.

The token service (docker logins) and core (Basic on the REST API, /c/login) build them here, through
`services.common.auth.live.LiveAuthentication`, from the same configuration, so a name is recognized by
the same authenticator, in the same order, in both:

- `db_auth`: robots, then database users.
- `ldap_auth`: robots, then the database's admin alone, then the directory for every other name.
"""

from __future__ import annotations

from services.common.auth.authenticate import Authenticator, default_authenticators
from services.common.auth.ldap import LdapAuthenticator
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.auth.robot_names import RobotNames
from services.common.db import Database
from services.common.identity.access_cache import AccessLookup
from services.common.ldap.directory import Directory, UnconfiguredDirectory
from services.common.ldap.ldap3_directory import Ldap3Directory
from services.common.settings import LdapSettings

LDAP_AUTH = "ldap_auth"


def directory_for(auth_mode: str, ldap: LdapSettings) -> Directory:
    """The directory of `ldap` in `ldap_auth` mode; without a url (or in `db_auth` mode) one that says it
    is not configured (logins through it are a 401 naming the missing `ldap_url`). Raises
    `DirectoryConfigError` naming the key when the settings cannot work."""
    if auth_mode == LDAP_AUTH and ldap.url:
        return Ldap3Directory(ldap)
    return UnconfiguredDirectory()


def authenticators_for(
    auth_mode: str,
    ldap: LdapSettings,
    db: Database,
    access: AccessLookup,
    hasher: PasswordHasher,
    cache: CredentialCache,
    directory: Directory,
    *,
    robot_names: RobotNames | None = None,
) -> list[Authenticator]:
    """The ordered authenticators of `auth_mode`; `directory` is asked only in `ldap_auth` mode."""
    authenticators = default_authenticators(access, hasher, cache, auth_mode=auth_mode, robot_names=robot_names)
    if auth_mode == LDAP_AUTH:
        # After robots and the database's admin: every other name is the directory's. A cache of its
        # own, with the directory's TTL: a directory check is remembered for `ldap.cache_seconds`; a new
        # one at each configuration change, so no check of an earlier directory answers for this one.
        ldap_cache = CredentialCache(ttl_seconds=ldap.cache_seconds)
        authenticators.append(LdapAuthenticator(db, directory, ldap_cache, admin_group_dn=ldap.group_admin_dn))
    return authenticators
