"""A member as the API shows it: the membership row and the name of the user or group it is."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.identity.models import EntityType
from services.common.rbac import Role


@dataclass(frozen=True, slots=True)
class MemberView:
    id: int
    project_id: int
    entity_type: EntityType
    entity_id: int
    entity_name: str
    role: Role


@dataclass(frozen=True, slots=True)
class UserRef:
    """`member_user`: by id or by name."""

    user_id: int | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class GroupRef:
    """`member_group`: by id, name or LDAP DN (the first given wins)."""

    id: int | None = None
    group_name: str | None = None
    ldap_group_dn: str | None = None
