"""Waiting on a condition with a generous deadline, never on a fixed sleep: CI runs on a loaded machine."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
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


async def async_eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str, deadline_s: float = DEADLINE_S, poll_s: float = 0.02
) -> None:
    """`eventually` inside an event loop: polls `check` (plain or awaitable) and lets the loop run
    between polls, so the tasks being waited on make progress."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        await asyncio.sleep(poll_s)
