"""Background tasks that belong to a lifespan: started on entry, cancelled and awaited on exit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

# How long a cancelled background task may take to end before it is cancelled again.
RECANCEL_S = 1.0


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        # Counted before the wait: a shutdown may already run in a cancelled task (aiohttp's cleanup does).
        cancels = _cancels_of_current_task()
        task.cancel()
        # A library may swallow the cancellation (redis-py 8.1 does when it meets a reply); a task that has
        # not ended a second after is asked again, so no loop outlives its lifespan whatever it awaits.
        try:
            while not (await asyncio.wait({task}, timeout=RECANCEL_S))[0]:
                task.cancel()
        except asyncio.CancelledError:
            task.cancel()  # this task is cancelled while it waits: the background one still ends
        try:
            await task
        except asyncio.CancelledError:
            # The task's end, as asked; but a cancellation of the task awaiting it, arrived meanwhile, is
            # not ours to swallow.
            if _cancels_of_current_task() > cancels:
                raise


class TaskSet:
    """Tasks started by requests that outlive them (a proxy cache's fetches), kept until they end, so
    that the lifespan that owns them cancels and awaits those still running."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _cancels_of_current_task() -> int:
    current = asyncio.current_task()
    return current.cancelling() if current is not None else 0


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; True if it was set.

    What background loops wait with, instead of `asyncio.wait_for(event.wait(), timeout)`: on Python 3.11
    wait_for returns normally when its task is cancelled just as the event is set, so the cancellation is
    lost and the loop never ends (its lifespan, awaiting it, hangs the process's shutdown).
    `asyncio.timeout` lets that cancellation through.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def raise_if_cancelled() -> None:
    """Raises CancelledError when this task was asked to stop and the request was lost on the way: redis-py
    (8.1) swallows a cancellation that arrives as a command's reply does, so a loop around Redis calls went
    on after its cancel (a jobservice worker polled its stream for 18 minutes, its lifespan's shutdown
    waiting). The task still counts the request (`cancelling()`), so the loop's next turn ends it. Called
    at the top of every background loop that talks to Redis."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
