"""Docker registry token scopes: `repository:library/app:pull,push`, `registry:catalog:*`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

REPOSITORY = "repository"


class InvalidScope(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Access:
    """One entry of a token's `access` claim.

    `project_id` binds a granted repository entry to the project it was granted in (the id, not the name:
    a project deleted and re-created under the same name by someone else is another project). It is None
    for requested scopes, for `registry:catalog:*` (no project) and for entries granting nothing."""

    type: str
    name: str
    actions: tuple[str, ...]
    project_id: int | None = None

    def to_claim(self) -> dict[str, object]:
        # `type`, `name` and `actions` are the Docker token spec's; `project_id` is an extra member, which
        # clients ignore (distribution decodes the claim into a struct of the three, containers/image and
        # the docker CLI do not read the token at all). Only the registry reads it.
        claim: dict[str, object] = {"type": self.type, "name": self.name, "actions": list(self.actions)}
        if self.project_id is not None:
            claim["project_id"] = self.project_id
        return claim

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def project_of(repository: str) -> str | None:
    """The project named by a repository's first path component; None for a name without one."""
    project, sep, _ = repository.partition("/")
    return project if sep and project else None


def parse_scope(scope: str) -> Access:
    """The resource name sits between the first and the last colon: names never contain one, but keep
    the parse tolerant of a registry host with a port (`repository:host:5000/app:pull`)."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        raise InvalidScope(f"scope {scope!r} is not <type>:<name>:<actions>")
    parsed = tuple(dict.fromkeys(a for a in actions.split(",") if a))
    if not parsed:
        raise InvalidScope(f"scope {scope!r} names no actions")
    return Access(kind, name, parsed)


def merge(accesses: Iterable[Access]) -> list[Access]:
    """One entry per (type, name), with the union of actions in first-seen order (and the first project id
    any of them carries: entries for one name are granted in one project)."""
    merged: dict[tuple[str, str], dict[str, None]] = {}
    project_ids: dict[tuple[str, str], int] = {}
    for access in accesses:
        key = (access.type, access.name)
        merged.setdefault(key, {}).update(dict.fromkeys(access.actions))
        if access.project_id is not None:
            project_ids.setdefault(key, access.project_id)
    return [Access(t, n, tuple(actions), project_ids.get((t, n))) for (t, n), actions in merged.items()]


def from_claim(value: object) -> Access:
    if not isinstance(value, dict):
        raise InvalidScope("access entry is not an object")
    kind, name, actions = value.get("type"), value.get("name"), value.get("actions")
    if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
        raise InvalidScope("access entry needs type, name and actions")
    if not all(isinstance(a, str) for a in actions):
        raise InvalidScope("access actions must be strings")
    project_id = value.get("project_id")
    # bool is an int to Python; JSON `true` is no id.
    if project_id is not None and (not isinstance(project_id, int) or isinstance(project_id, bool) or project_id < 1):
        raise InvalidScope("access project_id must be a positive integer")
    return Access(kind, name, tuple(actions), project_id)
