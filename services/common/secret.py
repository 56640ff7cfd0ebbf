"""A secret value that never shows itself in a repr, a log line or a traceback."""

from __future__ import annotations

# Harbor's mask: what the API shows for a stored secret (a registry's password, a webhook's auth header); a
# client that sends it back unchanged keeps the stored one.
MASKED = "*****"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__
