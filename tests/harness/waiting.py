"""Waiting on a condition with a generous deadline, never on a fixed sleep: CI runs on a loaded machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DEADLINE_S = 30.0


def eventually(check: Callable[[], T], what: str, deadline_s: float = DEADLINE_S, poll_s: float = 0.05) -> T:
    """Polls `check` until it returns something true and returns that; fails naming `what` after
    `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(poll_s)
    return found
