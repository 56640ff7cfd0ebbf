"""Read-only mode in core (the `read_only` configuration key): what changes the registry's content —
deleting an artifact, a tag or a repository, tagging, copying — is refused while it is on, after the
caller's own permission was checked (so a stranger still learns nothing more)."""

from __future__ import annotations

from services.common.config.live import SystemConfig
from services.core.errors import ReadOnlyMode


def require_writable(config: SystemConfig) -> None:
    if config.get("read_only"):
        raise ReadOnlyMode()
