"""A project as one caller sees it: the row, its owner's name, its repository count, the caller's roles."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from services.common.rbac import Role
from services.core.errors import BadRequest
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
# The registry endpoint types a proxy-cache project may name (Harbor's permitted_registry_types_for_proxy_cache,
# of those Berth speaks: services.core.registries.models.TYPES): both answer the OCI Distribution API.
PROXY_TYPES = ("docker-registry", "harbor")
# Metadata of proxy-cache projects only: Harbor drops them from any other project's request.
PROXY_METADATA = frozenset({"proxy_speed_kb", "max_upstream_conn"})
# Go's strconv.ParseInt(value, 10, 32), which Harbor checks the proxy-cache numbers with: an optional
# sign and decimal digits, nothing else (no spaces, no underscores, unlike Python's int()).
_DECIMAL = re.compile(r"[+-]?[0-9]{1,20}")
_INT32 = range(-(2**31), 2**31)


def proxy_number(key: str, value: str) -> str:
    """A proxy-cache number (proxy_speed_kb, max_upstream_conn) as Harbor stores it, or a 400 naming it."""
    number = int(value) if _DECIMAL.fullmatch(value) else None
    if number is None or number not in _INT32:
        raise BadRequest(f"{key} must be a 32-bit integer in decimal, not {value[:50]!r}")
    if key == "max_upstream_conn" and number <= 0 and number != -1:
        raise BadRequest(f"max_upstream_conn must be a positive number of connections or -1 (no limit), not {number}")
    return str(number)


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
    registry_id: int | None = None  # the endpoint of a proxy-cache project

    @property
    def is_proxy(self) -> bool:
        return self.registry_id is not None


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
