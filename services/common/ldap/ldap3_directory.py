"""The directory over ldap3: search with the service account, then bind as the found entry.

ldap3 blocks, so every operation runs in a worker thread with a fresh connection (ldap3 connections are
not shared across threads); the connect and receive timeouts bound each one. Every value a client chose
is escaped with `escape_filter_chars` before it enters a filter, so `*`, `(`, `)` and `\\` in a name match
themselves and nothing more. An empty password is refused before any bind: LDAP servers accept a simple
bind with a DN and no password as *anonymous* (RFC 4513 §5.1.2), which must never count as a login.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError, LDAPInvalidFilterError, LDAPSSLConfigurationError
from ldap3.operation.search import parse_filter
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from services.common.ldap.directory import (
    DirectoryConfigError,
    DirectoryUnavailable,
    InvalidCredentials,
    InvalidQuery,
    LdapGroup,
    LdapUser,
)
from services.common.settings import LdapSettings

T = TypeVar("T")

SCOPES = {"base": ldap3.BASE, "onelevel": ldap3.LEVEL, "subtree": ldap3.SUBTREE}
# More results than a member-picker shows; the directory stops there.
MAX_SEARCH_RESULTS = 100
# An attribute description: a name, or an OID (RFC 4512 §2.5). They go into filters unescaped.
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$")
_RESULT_INVALID_CREDENTIALS = 49
_RESULT_SIZE_LIMIT_EXCEEDED = 4
_MAX_DN_LENGTH = 4096


def normalize_filter(value: str, key: str) -> str:
    """A configured filter, wrapped in parentheses if it is bare (as Harbor does); "" stays ""."""
    text = value.strip()
    if not text:
        return ""
    if not text.startswith("("):
        text = f"({text})"
    try:
        parse_filter(text, None, auto_escape=False, auto_encode=False, validator=None, check_names=False)
    except LDAPInvalidFilterError as exc:
        raise DirectoryConfigError(f"ldap.{key}: {value!r} is not an LDAP filter ({exc})") from None
    return text


def user_filter(extra: str, uid_attribute: str, username: str) -> str:
    """The filter that finds exactly the entry whose uid is `username` (escaped) and matches `extra`."""
    return _and(extra, f"({uid_attribute}={escape_filter_chars(username)})")


def substring_filter(extra: str, attribute: str, query: str) -> str:
    """Entries whose `attribute` contains `query` (escaped, so its `*` is a literal star)."""
    return _and(extra, f"({attribute}=*{escape_filter_chars(query)}*)" if query else f"({attribute}=*)")


def member_filter(extra: str, user_dn: str) -> str:
    """Groups that list `user_dn` as a member (groupOfNames or groupOfUniqueNames)."""
    dn = escape_filter_chars(user_dn)
    return _and(extra, f"(|(member={dn})(uniqueMember={dn}))")


def _and(extra: str, clause: str) -> str:
    return f"(&{extra}{clause})" if extra else clause


def build_tls(settings: LdapSettings) -> ldap3.Tls | None:
    """TLS options for ldaps:// or StartTLS; None for plain LDAP."""
    if not (settings.url.lower().startswith("ldaps://") or settings.start_tls):
        return None
    try:
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED if settings.verify_cert else ssl.CERT_NONE,
            ca_certs_file=settings.ca_file or None,
        )
    except LDAPSSLConfigurationError as exc:
        raise DirectoryConfigError(f"ldap.ca_file: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Config:
    host: str
    port: int
    use_ssl: bool
    filter: str
    group_filter: str


def validate(settings: LdapSettings) -> _Config:
    """The settings checked together; a `DirectoryConfigError` names the key that cannot work."""
    parts = urlsplit(settings.url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise DirectoryConfigError(f"ldap.url must be ldap://host[:port] or ldaps://host[:port], got {settings.url!r}")
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise DirectoryConfigError(f"ldap.url has an invalid port: {settings.url!r}") from None
    if scheme == "ldaps" and settings.start_tls:
        raise DirectoryConfigError("ldap.start_tls cannot be used with an ldaps:// url (it is TLS already)")
    if not settings.base_dn.strip():
        raise DirectoryConfigError("ldap.base_dn is required with auth_mode ldap_auth")
    for key in ("uid", "group_gid", "group_membership_attribute"):
        value = getattr(settings, key)
        if not _ATTRIBUTE.match(value) and not (key == "group_membership_attribute" and value == ""):
            raise DirectoryConfigError(f"ldap.{key} must be an attribute name, got {value!r}")
    if settings.timeout <= 0:
        raise DirectoryConfigError(f"ldap.timeout must be more than 0 seconds, got {settings.timeout}")
    return _Config(
        host=parts.hostname,
        port=port,
        use_ssl=scheme == "ldaps",
        filter=normalize_filter(settings.filter, "filter"),
        group_filter=normalize_filter(settings.group_filter, "group_filter"),
    )


def _first(attributes: Mapping[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _all(attributes: Mapping[str, Any], name: str) -> list[str]:
    value = attributes.get(name)
    if value is None:
        return []
    values = value if isinstance(value, list | tuple) else [value]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _rdn_value(dn: str) -> str:
    first = dn.split(",", 1)[0]
    return first.partition("=")[2] or dn


def _under(dn: str, base: str) -> bool:
    def norm(text: str) -> str:
        return ",".join(p.strip() for p in text.lower().split(","))

    d, b = norm(dn), norm(base)
    return d == b or d.endswith("," + b)


class Ldap3Directory:
    def __init__(self, settings: LdapSettings) -> None:
        self._settings = settings
        self._config = validate(settings)
        self._tls = build_tls(settings)
        self._where = f"{'ldaps' if self._config.use_ssl else 'ldap'}://{self._config.host}:{self._config.port}"

    # --- the Directory protocol ---------------------------------------------------------------------

    async def authenticate(self, username: str, password: str) -> LdapUser:
        if not password:
            raise InvalidCredentials("an empty password is never accepted")
        if not username or "\x00" in username:
            raise InvalidCredentials()
        return await self._run(lambda: self._authenticate(username, password))

    async def search_users(self, query: str) -> list[LdapUser]:
        return await self._run(lambda: self._search_users(query))

    async def search_groups(self, query: str) -> list[LdapGroup]:
        return await self._run(lambda: self._search_groups(query))

    async def find_user(self, username: str) -> LdapUser | None:
        if not username or "\x00" in username:
            return None
        return await self._run(lambda: self._find_user(username))

    async def group_by_dn(self, dn: str) -> LdapGroup | None:
        if not dn.strip() or len(dn) > _MAX_DN_LENGTH or "\x00" in dn:
            raise InvalidQuery(f"{dn[:100]!r} is not a DN")
        try:
            parse_dn(dn)
        except LDAPInvalidDnError:
            raise InvalidQuery(f"{dn[:100]!r} is not a DN") from None
        return await self._run(lambda: self._group_by_dn(dn))

    async def ping(self) -> None:
        await self._run(self._ping)

    # --- blocking work, in a worker thread ------------------------------------------------------------

    async def _run(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(work)
        except (LDAPException, OSError) as exc:
            # Whatever ldap3 raises past the checks below (socket, TLS, protocol) means no answer.
            raise DirectoryUnavailable(f"the directory at {self._where} did not answer: {_describe(exc)}") from None

    def _server(self) -> ldap3.Server:
        # A new one per connection: an ldap3 Server remembers a failed address as unavailable for a
        # while (and is not meant to be shared across threads), which would outlast the outage.
        return ldap3.Server(
            self._config.host,
            port=self._config.port,
            use_ssl=self._config.use_ssl,
            tls=self._tls,
            connect_timeout=self._settings.timeout,
            get_info=ldap3.NONE,
        )

    def _connect(self, user: str | None, password: str | None) -> ldap3.Connection:
        conn = ldap3.Connection(
            self._server(),
            user=user or None,
            password=password or None,
            # Whole seconds: ldap3 packs it into SO_RCVTIMEO as an integer.
            receive_timeout=math.ceil(self._settings.timeout),
            raise_exceptions=False,
            read_only=True,
            auto_referrals=False,
        )
        conn.open()
        # Checked, not assumed: with raise_exceptions off a refused StartTLS returns False, and going on
        # would send the password in the clear.
        if self._settings.start_tls and not conn.start_tls():
            _close(conn)
            raise DirectoryUnavailable(
                f"the directory at {self._where} refused StartTLS: {conn.result.get('description')}"
            )
        return conn

    def _service_connection(self) -> ldap3.Connection:
        s = self._settings
        conn = self._connect(s.search_dn, s.search_password.reveal())
        if not conn.bind():
            _close(conn)
            raise DirectoryUnavailable(
                f"the directory at {self._where} refused the search account (ldap.search_dn {s.search_dn!r}):"
                f" {conn.result.get('description')}"
            )
        return conn

    def _search(
        self, conn: ldap3.Connection, base: str, flt: str, scope: str, attributes: Sequence[str], limit: int
    ) -> list[tuple[str, Mapping[str, Any]]]:
        ok = conn.search(
            base,
            flt,
            search_scope=SCOPES[scope],
            attributes=list(attributes),
            size_limit=limit,
            time_limit=max(1, int(self._settings.timeout)),
        )
        code = conn.result.get("result", 0)
        if not ok and code not in (0, _RESULT_SIZE_LIMIT_EXCEEDED) and conn.result.get("description") != "noSuchObject":
            raise DirectoryUnavailable(
                f"searching {base!r} at {self._where} failed: {conn.result.get('description')}"
                f" {conn.result.get('message') or ''}".rstrip()
            )
        return [(e["dn"], e.get("attributes", {})) for e in (conn.response or []) if e.get("type") == "searchResEntry"]

    def _user_entry(self, conn: ldap3.Connection, username: str) -> tuple[str, Mapping[str, Any]] | None:
        s = self._settings
        attributes = [s.uid, "mail", "cn", "displayName"]
        if s.group_membership_attribute:
            attributes.append(s.group_membership_attribute)
        flt = user_filter(self._config.filter, s.uid, username)
        # Two at most: one is the user, two means the name is ambiguous and nobody logs in with it.
        found = self._search(conn, s.base_dn, flt, s.scope, attributes, 2)
        return found[0] if len(found) == 1 else None

    def _ldap_user(self, dn: str, attrs: Mapping[str, Any], username: str, groups: tuple[LdapGroup, ...]) -> LdapUser:
        # The directory's spelling of the name (uid matching is case-insensitive): one account per entry.
        names = _all(attrs, self._settings.uid)
        canonical = next((n for n in names if n.lower() == username.lower()), username)
        return LdapUser(
            dn=dn,
            username=canonical,
            email=_first(attrs, "mail"),
            realname=_first(attrs, "displayName") or _first(attrs, "cn") or canonical,
            groups=groups,
        )

    def _find_user(self, username: str) -> LdapUser | None:
        conn = self._service_connection()
        try:
            entry = self._user_entry(conn, username)
            if entry is None:
                return None
            dn, attrs = entry
            groups = self._groups_of(conn, dn, attrs)
        finally:
            _close(conn)
        return self._ldap_user(dn, attrs, username, groups)

    def _group_by_dn(self, dn: str) -> LdapGroup | None:
        s = self._settings
        # Only groups a login can see count: under group_base_dn and matching group_filter (as in
        # `_groups_of`); a group elsewhere could be stored but would never give anybody a role.
        if not s.group_base_dn or not _under(dn, s.group_base_dn):
            return None
        conn = self._service_connection()
        try:
            found = self._search(conn, dn, self._config.group_filter or "(objectClass=*)", "base", [s.group_gid], 1)
        finally:
            _close(conn)
        return self._group(*found[0]) if found else None

    def _ping(self) -> None:
        s = self._settings
        conn = self._service_connection()
        try:
            ok = conn.search(
                s.base_dn,
                "(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=[],
                size_limit=1,
                time_limit=max(1, int(s.timeout)),
            )
            if not ok and conn.result.get("description") == "noSuchObject":
                raise DirectoryConfigError(f"ldap.base_dn {s.base_dn!r} does not exist at {self._where}")
            if not ok:
                raise DirectoryUnavailable(
                    f"reading ldap.base_dn {s.base_dn!r} at {self._where} failed: {conn.result.get('description')}"
                )
        finally:
            _close(conn)

    def _authenticate(self, username: str, password: str) -> LdapUser:
        conn = self._service_connection()
        try:
            entry = self._user_entry(conn, username)
            if entry is None:
                raise InvalidCredentials()
            dn, attrs = entry
            groups = self._groups_of(conn, dn, attrs)
        finally:
            _close(conn)
        user_conn = self._connect(dn, password)
        try:
            if not user_conn.bind():
                if user_conn.result.get("result") == _RESULT_INVALID_CREDENTIALS:
                    raise InvalidCredentials()
                raise InvalidCredentials(f"the directory refused the login: {user_conn.result.get('description')}")
        finally:
            _close(user_conn)
        return self._ldap_user(dn, attrs, username, groups)

    def _groups_of(self, conn: ldap3.Connection, dn: str, attrs: Mapping[str, Any]) -> tuple[LdapGroup, ...]:
        s = self._settings
        if not s.group_base_dn:
            return ()
        listed = _all(attrs, s.group_membership_attribute) if s.group_membership_attribute else []
        groups: dict[str, LdapGroup] = {}
        if listed:
            # memberOf: only groups under group_base_dn that match group_filter count, as with a search.
            for group_dn in listed:
                if not _under(group_dn, s.group_base_dn):
                    continue
                flt = self._config.group_filter or "(objectClass=*)"
                for found_dn, group_attrs in self._search(conn, group_dn, flt, "base", [s.group_gid], 1):
                    groups[found_dn.lower()] = self._group(found_dn, group_attrs)
        else:
            flt = member_filter(self._config.group_filter, dn)
            for found_dn, group_attrs in self._search(conn, s.group_base_dn, flt, s.group_scope, [s.group_gid], 0):
                groups[found_dn.lower()] = self._group(found_dn, group_attrs)
        return tuple(sorted(groups.values(), key=lambda g: g.dn.lower()))

    def _search_users(self, query: str) -> list[LdapUser]:
        s = self._settings
        conn = self._service_connection()
        try:
            flt = substring_filter(self._config.filter, s.uid, query)
            attributes = [s.uid, "mail", "cn", "displayName"]
            found = self._search(conn, s.base_dn, flt, s.scope, attributes, MAX_SEARCH_RESULTS)
        finally:
            _close(conn)
        users = []
        for dn, attrs in found:
            name = _first(attrs, s.uid)
            if name is not None:
                realname = _first(attrs, "displayName") or _first(attrs, "cn") or name
                users.append(LdapUser(dn=dn, username=name, email=_first(attrs, "mail"), realname=realname))
        return users

    def _search_groups(self, query: str) -> list[LdapGroup]:
        s = self._settings
        if not s.group_base_dn:
            return []
        conn = self._service_connection()
        try:
            flt = substring_filter(self._config.group_filter, s.group_gid, query)
            found = self._search(conn, s.group_base_dn, flt, s.group_scope, [s.group_gid], MAX_SEARCH_RESULTS)
        finally:
            _close(conn)
        return [self._group(dn, attrs) for dn, attrs in found]

    def _group(self, dn: str, attrs: Mapping[str, Any]) -> LdapGroup:
        return LdapGroup(dn, _first(attrs, self._settings.group_gid) or _rdn_value(dn))


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def _close(conn: ldap3.Connection) -> None:
    if conn.closed:
        return
    try:
        conn.unbind()
    except LDAPException:
        # Closing a connection the server already dropped; there is nothing left to release.
        return
