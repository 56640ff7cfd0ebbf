"""The authenticators of the configured `auth_mode`, built one way for every service that checks passwords.

The token service (docker logins) and core (Basic on the REST API, /c/login) call `authenticators_for`
with the same settings, so a name is recognized by the same authenticator, in the same order, in both:

- `db_auth`: robots, then database users.
- `ldap_auth`: robots, then the database's admin alone, then the directory for every other name.
"""

from __future__ import annotations

from services.common.auth.authenticate import Authenticator, default_authenticators
from services.common.auth.ldap import LdapAuthenticator
from services.common.auth.passwords import CredentialCache, PasswordHasher
from services.common.db import Database
from services.common.ldap.directory import Directory, UnconfiguredDirectory
from services.common.ldap.ldap3_directory import Ldap3Directory
from services.common.settings import Settings


def directory_for(settings: Settings) -> Directory:
    """The configured directory in `ldap_auth` mode; without a url (or in `db_auth` mode) one that says
    it is not configured (logins through it are a 401 naming the missing `ldap.url`)."""
    if settings.auth_mode == "ldap_auth" and settings.ldap.url:
        return Ldap3Directory(settings.ldap)
    return UnconfiguredDirectory()


def authenticators_for(
    settings: Settings, db: Database, hasher: PasswordHasher, cache: CredentialCache, directory: Directory
) -> list[Authenticator]:
    """The ordered authenticators of `settings.auth_mode`; `directory` is asked only in `ldap_auth` mode."""
    authenticators = default_authenticators(db, hasher, cache, auth_mode=settings.auth_mode)
    if settings.auth_mode == "ldap_auth":
        # After robots and the database's admin: every other name is the directory's. A cache of its
        # own, with the directory's TTL: a directory check is remembered for `ldap.cache_seconds`.
        ldap_cache = CredentialCache(ttl_seconds=settings.ldap.cache_seconds)
        authenticators.append(LdapAuthenticator(db, directory, ldap_cache))
    return authenticators
