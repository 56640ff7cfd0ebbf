"""User groups as the REST API sees them, and Harbor's rules for them. Pure: no aiohttp, no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

MAX_GROUP_NAME = 255


class GroupType(IntEnum):
    """Harbor's group types; the values are what the API and the `user_groups.group_type` column carry."""

    LDAP = 1
    HTTP = 2
    OIDC = 3


@dataclass(frozen=True, slots=True)
class NewGroup:
    name: str  # "" for an LDAP group: the directory's name is taken
    group_type: GroupType
    ldap_dn: str | None


@dataclass(frozen=True, slots=True)
class GroupFilter:
    name_contains: str | None = None
    ldap_dn: str | None = None
    group_type: GroupType | None = None


def group_name_problem(name: str) -> str | None:
    if not name.strip():
        return "group_name must not be empty"
    if len(name) > MAX_GROUP_NAME:
        return f"group_name must be at most {MAX_GROUP_NAME} characters"
    return None
