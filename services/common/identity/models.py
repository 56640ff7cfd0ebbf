"""Identity rows as frozen dataclasses; stores build them, nobody else constructs them from SQL."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from services.common.rbac import Permission, Role

ROBOT_PREFIX = "robot$"
ADMIN_USER_ID = 1
ADMIN_USERNAME = "admin"
LIBRARY_PROJECT = "library"

AuthSource = Literal["db", "ldap"]
RobotLevel = Literal["system", "project"]
EntityType = Literal["u", "g"]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    email: str | None
    realname: str
    comment: str
    password_hash: str | None = field(repr=False)
    sysadmin: bool
    auth_source: AuthSource
    ldap_dn: str | None
    password_changed_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted: bool


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    owner_id: int
    public: bool
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    project_id: int
    entity_type: EntityType
    entity_id: int
    role: Role


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    group_type: int
    ldap_dn: str | None


@dataclass(frozen=True, slots=True)
class RobotPermission:
    """One entry of a robot's `permissions` (Harbor's RobotPermission): what it may do where.

    `kind` is "project" or "system"; `namespace` a project name, "*" (every project, for system robots)
    or "/" (the system itself)."""

    kind: str
    namespace: str
    access: tuple[Permission, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "access": [{"resource": a.resource, "action": a.action} for a in self.access],
        }


@dataclass(frozen=True, slots=True)
class Robot:
    id: int
    name: str  # the full login name: robot$<project>+<name> or robot$<name>
    description: str
    secret_hash: str = field(repr=False)
    level: RobotLevel
    project_id: int | None
    project_name: str | None  # the project of a project-level robot
    disabled: bool
    expires_at: dt.datetime | None  # None: never
    permissions: tuple[RobotPermission, ...]
    created_at: dt.datetime
    updated_at: dt.datetime

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """What the token service needs about one project for one account: does it exist, is it public,
    and which roles the account holds there (directly or through its groups)."""

    id: int
    name: str
    public: bool
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class UserAccess:
    """A user and, in the same lookup, the requested projects that exist with the user's roles there."""

    user: User
    projects: dict[str, ProjectAccess]


@dataclass(frozen=True, slots=True)
class RobotAccess:
    """A robot and, in the same lookup, the requested projects that exist (robots hold no roles)."""

    robot: Robot
    projects: dict[str, ProjectAccess]


def project_robot_name(project: str, name: str, prefix: str = ROBOT_PREFIX) -> str:
    return f"{prefix}{project}+{name}"


def system_robot_name(name: str, prefix: str = ROBOT_PREFIX) -> str:
    return f"{prefix}{name}"


def parse_permissions(value: Any, *, strict: bool = True) -> tuple[RobotPermission, ...]:
    """Harbor's robot `permissions` JSON → dataclasses. Entries of the wrong shape are refused, or with
    `strict` off (reading stored rows) dropped: a damaged row then grants less, never more, and no 500."""
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, list):
        if strict:
            raise ValueError("robot permissions must be a list")
        return ()
    out = []
    for entry in data:
        kind = entry.get("kind") if isinstance(entry, dict) else None
        namespace = entry.get("namespace") if isinstance(entry, dict) else None
        access = entry.get("access", []) if isinstance(entry, dict) else None
        if not isinstance(kind, str) or not isinstance(namespace, str) or not isinstance(access, list):
            if strict:
                raise ValueError("a robot permission needs kind, namespace and an access list")
            continue
        items = []
        for a in access:
            resource = a.get("resource") if isinstance(a, dict) else None
            action = a.get("action") if isinstance(a, dict) else None
            if not isinstance(resource, str) or not isinstance(action, str):
                if strict:
                    raise ValueError("each robot access entry needs a resource and an action")
                continue
            items.append(Permission(resource=resource, action=action))
        out.append(RobotPermission(kind=kind, namespace=namespace, access=tuple(items)))
    return tuple(out)
