"""A directory login becomes a Berth account: the user row, its LDAP groups and its memberships.

Run at every directory login (not at cached ones), in one transaction: the user is created at the first
login and refreshed at the next; the groups the directory lists are created when first seen; and the
user's LDAP group memberships become exactly those groups, so a user removed from a group in the
directory loses that group's project roles at the next login.
"""

from __future__ import annotations

from services.common.db import Database
from services.common.identity import groups_store, users_store
from services.common.identity.errors import Conflict
from services.common.identity.models import User
from services.common.ldap.directory import InvalidCredentials, LdapUser


class AccountRefused(InvalidCredentials):
    """The directory accepted the login, but the name cannot be a directory account here."""


async def onboard(db: Database, ldap_user: LdapUser) -> User:
    """The account for `ldap_user`, with its group memberships synced; `AccountRefused` when the name
    belongs to a database account or to a deleted one."""
    async with db.transaction() as tx:
        try:
            user = await users_store.upsert_ldap_user(
                tx, ldap_user.username, ldap_dn=ldap_user.dn, email=ldap_user.email, realname=ldap_user.realname
            )
        except Conflict as exc:
            raise AccountRefused(f"the directory entry {ldap_user.dn!r} clashes with another account: {exc}") from None
        if user.auth_source != "ldap":
            # Taking over a local account by creating its name in the directory must not work.
            raise AccountRefused(f"the name {user.username!r} belongs to a local account, not to the directory")
        if user.deleted:
            raise AccountRefused(f"the account {user.username!r} has been removed from Berth")
        group_ids = await groups_store.upsert_ldap_groups(tx, [(g.name, g.dn) for g in ldap_user.groups])
        await groups_store.set_ldap_group_memberships(tx, user.id, group_ids)
    return user
