"""TeeLogger: lines logged on an event loop reach stdout together at the end of the loop's iteration,
lines logged elsewhere at once, and none is left behind at exit."""

from __future__ import annotations

import asyncio
import io

from services.common.logging import TeeLogger


class CountingOut(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


def test_lines_outside_a_loop_are_written_at_once() -> None:
    out = CountingOut()
    tee = TeeLogger(out, None)
    tee.info("one")
    assert out.getvalue() == "one\n"
    tee.error("two")
    assert out.getvalue() == "one\ntwo\n"
    assert out.writes == 2


def test_lines_of_one_loop_iteration_are_written_in_one_write_in_order() -> None:
    out = CountingOut()
    tee = TeeLogger(out, None)

    async def main() -> str:
        for i in range(5):
            tee.info(f"line {i}")
        seen_before_yielding = out.getvalue()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return seen_before_yielding

    before = asyncio.run(main())
    assert before == ""
    assert out.getvalue() == "".join(f"line {i}\n" for i in range(5))
    assert out.writes == 1


def test_flush_writes_what_a_stopped_loop_left_pending() -> None:
    out = CountingOut()
    tee = TeeLogger(out, None)
    loop = asyncio.new_event_loop()

    async def log_and_stop() -> None:
        tee.info("last words")
        loop.stop()  # the loop ends with this iteration, before the write scheduled for the next one

    task = loop.create_task(log_and_stop())
    loop.run_forever()
    assert task.done()
    loop.close()
    assert out.getvalue() == ""
    tee.flush()
    assert out.getvalue() == "last words\n"
