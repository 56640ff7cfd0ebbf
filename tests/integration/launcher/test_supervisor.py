"""The supervisor with tiny real child processes: restarts with a count, a crash loop named as such, and
children stopped in the reverse order of their start."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from pathlib import Path

from services.launcher.supervisor import ChildSpec, Supervisor


async def always() -> bool:
    return True


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


SLEEPER = python("import time; print('sleeping', flush=True); time.sleep(300)")
CRASHER = python("print('about to fail', flush=True); raise SystemExit(3)")


async def wait_for_line(out: io.StringIO, text: str) -> None:
    while True:
        if text in out.getvalue():
            return
        await asyncio.sleep(0.05)


async def test_a_crashing_child_is_restarted_and_a_loop_is_reported(tmp_path: Path) -> None:
    out = io.StringIO()
    supervisor = Supervisor(
        [[ChildSpec("steady", SLEEPER, "-", always)], [ChildSpec("flaky", CRASHER, "-", always)]],
        tmp_path,
        out=out,
        max_backoff=0.1,
    )
    assert await supervisor.start(asyncio.Event())
    try:
        await asyncio.wait_for(wait_for_line(out, "crashloop"), 60)
    finally:
        await supervisor.stop()
    lines = out.getvalue().splitlines()
    crashloop = next(line for line in lines if "crashloop" in line)
    assert "exit code 3" in crashloop
    assert "crashes in a row" in crashloop
    assert str(tmp_path / "flaky.out") in crashloop
    assert any(line.startswith("flaky") and "restarts=2" in line for line in lines)
    # Every start is in the child's output file, after a separator line.
    output = (tmp_path / "flaky.out").read_text()
    assert output.count("about to fail") >= 3
    # The last group stops first; the steady child was never restarted.
    stopping = [line.split()[0] for line in lines if " stopping " in line]
    assert stopping[-1] == "steady"  # flaky, when caught running, is in the later group
    assert all("restarts=0" in line for line in lines if line.startswith("steady"))


async def test_children_stop_in_reverse_order(tmp_path: Path) -> None:
    out = io.StringIO()
    groups = [[ChildSpec(name, SLEEPER, "-", always)] for name in ("first", "second", "third")]
    supervisor = Supervisor(groups, tmp_path, out=out)
    assert await supervisor.start(asyncio.Event())
    pids = [child.pid for child in supervisor.children]
    assert all(pids)
    await supervisor.stop()
    stopped = [line.split()[0] for line in out.getvalue().splitlines() if " stopped " in line]
    assert stopped == ["third", "second", "first"]
    assert all(child.pid is None for child in supervisor.children)


async def test_a_child_that_fails_at_start_stops_what_was_started(tmp_path: Path) -> None:
    out = io.StringIO()
    groups = [[ChildSpec("base", SLEEPER, "-", always)], [ChildSpec("broken", CRASHER, "-", never)]]
    supervisor = Supervisor(groups, tmp_path, out=out)
    assert not await supervisor.start(asyncio.Event())
    text = out.getvalue()
    assert re.search(r"^broken\s+failed", text, re.MULTILINE), text
    assert "exit code 3" in text
    assert all(child.pid is None for child in supervisor.children)


async def never() -> bool:
    return False
