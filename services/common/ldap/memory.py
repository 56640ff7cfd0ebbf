"""An in-memory `Directory` for unit tests: users and groups in dicts, the same errors as the real one."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.ldap.directory import (
    DirectoryUnavailable,
    InvalidCredentials,
    InvalidQuery,
    LdapGroup,
    LdapUser,
)


@dataclass
class MemoryDirectory:
    # username → (password, user); a user's groups are those whose DN `memberships` lists for it.
    users: dict[str, tuple[str, LdapUser]] = field(default_factory=dict)
    groups: dict[str, LdapGroup] = field(default_factory=dict)  # dn → group
    memberships: dict[str, set[str]] = field(default_factory=dict)  # user dn → group dns
    available: bool = True
    calls: int = 0

    def add_user(self, username: str, password: str, *, email: str | None = None, realname: str = "") -> LdapUser:
        dn = f"uid={username},ou=people,dc=berth,dc=test"
        user = LdapUser(dn=dn, username=username, email=email, realname=realname)
        self.users[username] = (password, user)
        return user

    def add_group(self, name: str, members: list[str] = []) -> LdapGroup:  # noqa: B006 - never mutated
        group = LdapGroup(dn=f"cn={name},ou=groups,dc=berth,dc=test", name=name)
        self.groups[group.dn] = group
        for username in members:
            self.memberships.setdefault(self.users[username][1].dn, set()).add(group.dn)
        return group

    def remove_member(self, group: str, username: str) -> None:
        dn = f"cn={group},ou=groups,dc=berth,dc=test"
        self.memberships.get(self.users[username][1].dn, set()).discard(dn)

    def _check(self) -> None:
        self.calls += 1
        if not self.available:
            raise DirectoryUnavailable("the directory at memory:// is not reachable")

    async def authenticate(self, username: str, password: str) -> LdapUser:
        if not password:
            raise InvalidCredentials("an empty password is never accepted")
        self._check()
        # Matching is case-insensitive, as for LDAP's uid; the directory's spelling is returned.
        found = [entry for name, entry in self.users.items() if name.lower() == username.lower()]
        if len(found) != 1 or found[0][0] != password:
            raise InvalidCredentials()
        return self._with_groups(found[0][1])

    def _with_groups(self, user: LdapUser) -> LdapUser:
        dns = sorted(self.memberships.get(user.dn, set()))
        return LdapUser(user.dn, user.username, user.email, user.realname, tuple(self.groups[d] for d in dns))

    async def search_users(self, query: str) -> list[LdapUser]:
        self._check()
        return [u for _, u in self.users.values() if query.lower() in u.username.lower()]

    async def search_groups(self, query: str) -> list[LdapGroup]:
        self._check()
        return [g for g in self.groups.values() if query.lower() in g.name.lower()]

    async def find_user(self, username: str) -> LdapUser | None:
        self._check()
        found = [u for name, (_, u) in self.users.items() if name.lower() == username.lower()]
        return self._with_groups(found[0]) if len(found) == 1 else None

    async def group_by_dn(self, dn: str) -> LdapGroup | None:
        if "=" not in dn:
            raise InvalidQuery(f"{dn[:100]!r} is not a DN")
        self._check()
        return next((g for d, g in self.groups.items() if d.lower() == dn.lower()), None)

    async def ping(self) -> None:
        self._check()
