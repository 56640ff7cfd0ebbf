"""User group rules, as Harbor's: listing, creating, renaming and deleting groups is for the system
administrator (or a system robot holding the user-group permission); searching them by name, to add one
as a project member, for anybody authenticated.

An LDAP group (type 1) is added by its DN and only with `auth_mode: ldap_auth`: the directory must know
the DN as a group (under ldap.group_base_dn, matching ldap.group_filter), and the row stores the DN as
the directory spells it, which is what the token service looks groups up by at each login
(`upsert_ldap_groups`), so a project role given to this group reaches its directory members. LDAP groups
are told apart by DN; other groups by name within their type (Harbor's duplicate rule).
No aiohttp here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database, Executor
from services.common.identity import groups_store
from services.common.identity.models import Group
from services.common.ldap.directory import Directory, DirectoryUnavailable, InvalidQuery
from services.common.rbac import Action
from services.core.auditing import AuditLog
from services.core.errors import (
    BadRequest,
    Conflict,
    LdapNotEnabled,
    LdapUnavailable,
    Unauthorized,
    UserGroupNotFound,
)
from services.core.listing import Page
from services.core.security.access import require_system
from services.core.usergroups import store
from services.core.usergroups.models import GroupFilter, GroupType, NewGroup, group_name_problem

log = structlog.get_logger()

RESOURCE = "user-group"
# A page of groups and the total; named here because the `list` method shadows the builtin in the class.
GroupPage = tuple[list[Group], int]


class UserGroupService:
    def __init__(self, db: Database, directory: Directory, audit: AuditLog, *, ldap_auth: Callable[[], bool]) -> None:
        """`ldap_auth`: whether auth_mode is ldap_auth now (it changes at run time)."""
        self._db = db
        self._directory = directory
        self._audit_log = audit
        self._ldap_auth = ldap_auth

    async def _audit(self, tx: Executor, principal: Principal, operation: str, name: str, description: str) -> None:
        await self._audit_log.record(
            tx,
            operator=principal.name,
            operation=operation,
            resource_type=RESOURCE,
            resource=name,
            description=description,
        )

    def check(self, principal: Principal, action: Action) -> None:
        """Before a body is read: an unauthorized caller is answered 401/403 whatever it sent."""
        require_system(principal, RESOURCE, action, f"{action.value} user groups")

    async def list(self, principal: Principal, where: GroupFilter, page: Page) -> GroupPage:
        require_system(principal, RESOURCE, Action.LIST, "list user groups")
        if self._ldap_auth():
            # As Harbor: with LDAP authentication only LDAP groups are listed (others cannot log in).
            where = replace(where, group_type=GroupType.LDAP)
        return await store.list_groups(self._db.pool, where, page)

    async def search(self, principal: Principal, name: str, page: Page) -> GroupPage:
        if principal.kind == "anonymous":
            raise Unauthorized("authentication is required to search user groups")
        if not name:
            raise BadRequest("groupname is required to search user groups")
        return await store.list_groups(self._db.pool, GroupFilter(name_contains=name), page)

    async def get(self, principal: Principal, group_id: int) -> Group:
        require_system(principal, RESOURCE, Action.READ, "read user groups")
        return await self._existing(group_id)

    async def _existing(self, group_id: int) -> Group:
        found = await store.group(self._db.pool, group_id)
        if found is None:
            raise UserGroupNotFound(f"the user group with id {group_id} is not found")
        return found

    async def create(self, principal: Principal, new: NewGroup) -> Group:
        require_system(principal, RESOURCE, Action.CREATE, "create user groups")
        if new.group_type == GroupType.LDAP:
            return await self._create_ldap(principal, new)
        if new.ldap_dn:
            raise BadRequest("ldap_group_dn is only for LDAP groups (group_type 1)")
        if problem := group_name_problem(new.name):
            raise BadRequest(problem)
        async with self._db.transaction() as tx:
            await store.lock_names(tx)
            if await store.name_taken(tx, new.name, new.group_type):
                raise Conflict(f"duplicate user group: a group of type {int(new.group_type)} named {new.name!r} exists")
            created = await groups_store.create_group(tx, new.name, group_type=int(new.group_type), ldap_dn=None)
            await self._audit(tx, principal, "create", created.name, f"create user group {created.name}")
        log.info("user_group_created", group_id=created.id, group_type=created.group_type, by=principal.name)
        return created

    async def _create_ldap(self, principal: Principal, new: NewGroup) -> Group:
        if not self._ldap_auth():
            raise LdapNotEnabled("LDAP groups can be added only with auth_mode ldap_auth")
        if not new.ldap_dn:
            raise BadRequest("ldap_group_dn is required for an LDAP group (group_type 1)")
        if new.name and (problem := group_name_problem(new.name)):
            raise BadRequest(problem)
        try:
            found = await self._directory.group_by_dn(new.ldap_dn)
        except InvalidQuery as exc:
            raise BadRequest(f"invalid DN syntax: {exc}") from None
        except DirectoryUnavailable as exc:
            raise LdapUnavailable(str(exc)) from None
        if found is None:
            raise BadRequest(f"LDAP group DN is not found: {new.ldap_dn[:300]!r}")
        name = new.name or found.name
        try:
            async with self._db.transaction() as tx:
                created = await groups_store.create_group(tx, name, group_type=int(GroupType.LDAP), ldap_dn=found.dn)
                await self._audit(tx, principal, "create", created.name, f"create LDAP user group {created.name}")
        except Conflict:
            raise Conflict(f"duplicate user group: an LDAP group with DN {found.dn!r} exists") from None
        log.info("user_group_created", group_id=created.id, group_type=created.group_type, by=principal.name)
        return created

    async def rename(self, principal: Principal, group_id: int, name: str) -> None:
        require_system(principal, RESOURCE, Action.UPDATE, "update user groups")
        if problem := group_name_problem(name):
            raise BadRequest(problem)
        async with self._db.transaction() as tx:
            await store.lock_names(tx)
            found = await store.group(tx, group_id)
            if found is None:
                raise UserGroupNotFound(f"the user group with id {group_id} is not found")
            if found.group_type != GroupType.LDAP and await store.name_taken(
                tx, name, found.group_type, other_than=group_id
            ):
                raise Conflict(f"duplicate user group: a group of type {found.group_type} named {name!r} exists")
            await store.rename(tx, group_id, name)
            await self._audit(tx, principal, "update", name, f"rename user group {found.name} to {name}")
        log.info("user_group_renamed", group_id=group_id, by=principal.name)

    async def delete(self, principal: Principal, group_id: int) -> None:
        require_system(principal, RESOURCE, Action.DELETE, "delete user groups")
        # One transaction: a group never disappears while its project roles stay behind (or the reverse).
        async with self._db.transaction() as tx:
            found = await store.group(tx, group_id)
            if found is None or not await store.delete(tx, group_id):
                raise UserGroupNotFound(f"the user group with id {group_id} is not found")
            await self._audit(tx, principal, "delete", found.name, f"delete user group {found.name}")
        log.info("user_group_deleted", group_id=group_id, by=principal.name)
