"""Reading a job's parameters object (Harbor's `parameters`): each value of its type and range, or a
ValueError naming the field, which core turns into a 400 and a job into a recorded failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"parameters.{key} must be true or false")
    return value


def integer(data: Mapping[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    """The integer at `key` (`default` when absent; required when there is none)."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"parameters.{key} must be an integer from {low} to {high}")
    return value
