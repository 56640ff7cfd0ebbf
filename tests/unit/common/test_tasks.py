"""Background tasks end when cancelled, whenever the cancellation arrives.

The races are made deterministic: setting an event and cancelling the waiting task in one step of the
event loop is exactly "the cancellation arrives as the awaited event is set", which Python 3.11's
`asyncio.wait_for` swallowed. Each wait is bounded so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio

import pytest

from services.common.tasks import background, raise_if_cancelled, wait_set

BOUND_S = 10.0  # a bound on a hang, never the expected time


async def test_wait_set_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_set(event, BOUND_S) is True


async def test_a_cancellation_arriving_as_the_event_is_set_ends_the_wait() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, BOUND_S))
    await asyncio.sleep(0)  # the task now waits on the event
    event.set()
    waiting.cancel()
    done, _ = await asyncio.wait([waiting], timeout=BOUND_S)
    assert done, "the wait outlived its cancellation"
    assert waiting.cancelled()


async def test_a_loop_waiting_on_an_event_ends_with_its_background_block() -> None:
    """The event relay's shape: a loop that sleeps until woken, woken just as its lifespan ends."""
    wake = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            wake.clear()
            await wait_set(wake, BOUND_S)

    async def lifespan() -> None:
        async with background(loop()):
            await asyncio.sleep(0)
            wake.set()  # a notification, handled in the same turn of the event loop as the exit

    async with asyncio.timeout(BOUND_S):
        await lifespan()
    assert rounds == 1


async def test_background_ends_in_a_task_that_is_already_cancelled() -> None:
    """aiohttp runs its cleanup in the cancelled main task: what follows the block must still run."""
    after: list[str] = []

    async def lifespan() -> None:
        try:
            await asyncio.sleep(BOUND_S)
        finally:
            async with background(asyncio.sleep(BOUND_S)):
                pass
            after.append("flushed")

    task = asyncio.create_task(lifespan())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=BOUND_S)
    assert done and task.cancelled()
    assert after == ["flushed"]


async def test_background_passes_on_a_cancellation_of_the_task_awaiting_it() -> None:
    """A task slow to end (cleaning up) may be given up on: cancelling the block's own task ends the wait."""
    cleaning = asyncio.Event()
    after: list[str] = []

    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(BOUND_S)
        finally:
            cleaning.set()
            await asyncio.sleep(BOUND_S)

    async def lifespan() -> None:
        async with background(slow_to_end()):
            await asyncio.sleep(0)
        after.append("went on")

    task = asyncio.create_task(lifespan())
    async with asyncio.timeout(BOUND_S):
        await cleaning.wait()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=BOUND_S)
    assert done and task.cancelled()
    assert after == []


async def test_background_reraises_what_ended_the_task() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        async with background(broken()):
            await asyncio.sleep(0)


async def test_a_loop_whose_cancellation_a_library_swallowed_ends_at_its_next_turn() -> None:
    turns = 0

    async def loop() -> None:
        nonlocal turns
        while True:
            raise_if_cancelled()
            turns += 1
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass  # what redis-py 8.1 does when the cancel meets a reply

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(BOUND_S):  # a regression: the loop goes on, and this times out instead
            await task
    assert turns == 1


async def test_background_cancels_again_a_task_whose_cancellation_a_library_swallowed() -> None:
    """No raise_if_cancelled here: the block's exit asks again until the task ends."""
    swallowed = 0

    async def loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # once, as redis-py 8.1 does when the cancel meets a reply

    async with asyncio.timeout(BOUND_S):  # a regression: the exit waits forever, and this times out instead
        async with background(loop()) as task:
            await asyncio.sleep(0)
    assert task.cancelled() and swallowed == 1
