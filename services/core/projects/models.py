"""A project as one caller sees it: the row, its owner's name, its repository count, the caller's roles."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from services.common.rbac import Role
from services.core.listing import ListKeys

# Harbor's project name rule (src/common/utils: `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`, at most 255).
PROJECT_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
MAX_PROJECT_NAME = 255
# The projects list: q name/public/owner/project_id (the name, public and owner parameters are q terms by
# another name), sorted by name, id or times.
PROJECT_LIST = ListKeys(
    filters={"name": "str", "public": "bool", "owner": "str", "project_id": "int"},
    sorts=frozenset({"name", "project_id", "creation_time", "update_time"}),
)

# ProjectMetadata keys of Harbor's API that Berth stores (as strings, as Harbor does); `public` is a
# column of its own. Keys whose value must be "true"/"false":
BOOL_METADATA = frozenset(
    {
        "public",
        "enable_content_trust",
        "enable_content_trust_cosign",
        "prevent_vul",
        "auto_scan",
        "auto_sbom_generation",
        "reuse_sys_cve_allowlist",
    }
)
SEVERITIES = ("none", "low", "medium", "high", "critical")
TEXT_METADATA = frozenset({"severity", "retention_id", "proxy_speed_kb", "max_upstream_conn"})


def valid_project_name(name: str) -> bool:
    return 0 < len(name) <= MAX_PROJECT_NAME and PROJECT_NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class ProjectRef:
    """A project named in a path: by id, by name, or by both (a number without X-Is-Resource-Name: the
    project of that name if there is one, else of that id)."""

    id: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        return self.name if self.name is not None else str(self.id)


@dataclass(frozen=True, slots=True)
class ProjectView:
    id: int
    name: str
    owner_id: int
    owner_name: str
    public: bool
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    repo_count: int
    roles: frozenset[Role]  # the caller's, directly and through groups


@dataclass(frozen=True, slots=True)
class Deletability:
    """Whether a project may be deleted now and, when not, why (Harbor's ProjectDeletable)."""

    deletable: bool
    message: str = ""


def deletability(name: str, repo_count: int) -> Deletability:
    """The one rule both DELETE (412 when refused) and GET .../_deletable answer with: a project is not
    deleted while it holds repositories, since their artifacts would be left without a project."""
    if repo_count > 0:
        noun = "repository" if repo_count == 1 else "repositories"
        return Deletability(False, f"project {name} still contains {repo_count} {noun}; delete them first")
    return Deletability(True)


@dataclass(frozen=True, slots=True)
class ProjectChanges:
    """What a ProjectReq asks for: the public flag (None: unchanged) and other metadata strings."""

    public: bool | None
    metadata: dict[str, str]
