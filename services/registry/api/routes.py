"""Which endpoint a /v2/ path names, and the access it needs.

Repository names contain slashes, so aiohttp's router cannot split them; one pattern per endpoint does,
taking the last `/blobs/`, `/manifests/` ... so that a name may itself contain such words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.oci.names import is_valid_name
from services.registry.errors import NameInvalid, NotFound, Unsupported

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("base", re.compile(r"")),
    ("catalog", re.compile(r"_catalog")),
    ("upload", re.compile(r"(?P<name>.+)/blobs/uploads/(?P<ref>[^/]*)")),
    ("blob", re.compile(r"(?P<name>.+)/blobs/(?P<ref>[^/]+)")),
    ("manifest", re.compile(r"(?P<name>.+)/manifests/(?P<ref>[^/]+)")),
    ("tags", re.compile(r"(?P<name>.+)/tags/list")),
    ("referrers", re.compile(r"(?P<name>.+)/referrers/(?P<ref>[^/]+)")),
]

METHODS = {
    "base": {"GET", "HEAD"},
    "catalog": {"GET"},
    "upload": {"POST", "PATCH", "PUT", "GET", "DELETE"},
    "blob": {"GET", "HEAD", "DELETE"},
    "manifest": {"GET", "HEAD", "PUT", "DELETE"},
    "tags": {"GET"},
    "referrers": {"GET"},
}

_ACTION = {"GET": "pull", "HEAD": "pull", "POST": "push", "PATCH": "push", "PUT": "push", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class Access:
    """One entry of a token's `access` claim: what the request needs."""

    type: str
    name: str
    action: str


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: str
    name: str
    ref: str

    def access(self, method: str) -> list[Access]:
        if self.endpoint == "base":
            return []
        if self.endpoint == "catalog":
            return [Access("registry", "catalog", "*")]
        # Cancelling an upload is part of pushing, not a delete of content.
        action = "push" if self.endpoint == "upload" else _ACTION[method]
        if action == "push":
            # As distribution does: writing needs pull too, so the challenge asks for both at once.
            return [Access("repository", self.name, "pull"), Access("repository", self.name, "push")]
        return [Access("repository", self.name, action)]


def resolve(tail: str, method: str) -> Route:
    for endpoint, pattern in _PATTERNS:
        m = pattern.fullmatch(tail)
        if m is None:
            continue
        groups = m.groupdict()
        name = groups.get("name") or ""
        if endpoint not in ("base", "catalog") and not is_valid_name(name):
            raise NameInvalid(
                f"invalid repository name {name!r}: lowercase path components [a-z0-9] "
                "separated by '.', '_', '__' or '-', joined by '/', at most 255 characters"
            )
        if method not in METHODS[endpoint]:
            raise Unsupported(
                f"{method} is not supported on this endpoint", headers={"Allow": ", ".join(sorted(METHODS[endpoint]))}
            )
        return Route(endpoint=endpoint, name=name, ref=groups.get("ref") or "")
    raise NotFound(f"no distribution API endpoint at /v2/{tail}")
