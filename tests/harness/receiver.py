"""A real HTTP receiver for webhook tests: an aiohttp server on its own port and thread that records every
request (path, headers, body bytes), answers each path with the status (a redirect to the metadata address
for a 3xx) and after the delay the test sets, or an endless body, and can go down (its port closed:
connections refused) and come back on the same port.

    with WebhookReceiver() as receiver:
        ... point a policy at receiver.url("/hook") ...
        receiver.wait_for(1)            # the requests so far, once there are at least 1
        receiver.down(); receiver.up()
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from tests.harness.plugin import free_port

DEADLINE_S = 120.0


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived


class WebhookReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        # What a path answers (200 unless set), and how long it takes first.
        self.statuses: dict[str, int] = {}
        self.delays: dict[str, float] = {}
        # Paths that answer 200 with an endless body (until the sender hangs up).
        self.endless: set[str] = set()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-receiver", daemon=True)
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def up(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    def down(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, deadline_s: float = DEADLINE_S) -> list[Received]:
        """The requests (to `path`) once there are at least `count`; fails naming how many came."""
        deadline = time.monotonic() + deadline_s
        while len(got := self.received(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(got)} of {count} webhook requests to {path or 'any path'} in {deadline_s} s"
                )
            time.sleep(0.05)
        return got

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        with self._lock:
            self.requests.append(Received(request.path, dict(request.headers), data, time.monotonic()))
        await asyncio.sleep(self.delays.get(request.path, 0))
        if request.path in self.endless:
            return await self._endless(request)
        status = self.statuses.get(request.path, 200)
        headers = {"Location": "http://169.254.169.254/"} if 300 <= status < 400 else {}
        return web.Response(status=status, text="received", headers=headers)

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(16384):  # 1 GiB at most
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the sender hung up, as it should
        return response

    async def _start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
