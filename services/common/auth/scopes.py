"""Docker registry token scopes: `repository:library/app:pull,push`, `registry:catalog:*`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class InvalidScope(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Access:
    """One entry of a token's `access` claim."""

    type: str
    name: str
    actions: tuple[str, ...]

    def to_claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


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
    """One entry per (type, name), with the union of actions in first-seen order."""
    merged: dict[tuple[str, str], dict[str, None]] = {}
    for access in accesses:
        merged.setdefault((access.type, access.name), {}).update(dict.fromkeys(access.actions))
    return [Access(t, n, tuple(actions)) for (t, n), actions in merged.items()]


def from_claim(value: object) -> Access:
    if not isinstance(value, dict):
        raise InvalidScope("access entry is not an object")
    kind, name, actions = value.get("type"), value.get("name"), value.get("actions")
    if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
        raise InvalidScope("access entry needs type, name and actions")
    if not all(isinstance(a, str) for a in actions):
        raise InvalidScope("access actions must be strings")
    return Access(kind, name, tuple(actions))
