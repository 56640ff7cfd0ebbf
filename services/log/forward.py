"""Forwarding every received message to an external syslog server (Harbor's log.external_endpoint).

Local files come first: forwarding never slows the collector down. Messages wait in a bounded queue; when
the endpoint is slow or down the oldest are dropped and counted, and the connection is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

import structlog

from services.common.tasks import background

log = structlog.get_logger()
QUEUE_LIMIT = 100_000
MAX_BACKOFF_S = 30.0


class Forwarder:
    def __init__(self, host: str, port: int, protocol: str) -> None:
        self._host = host
        self._port = port
        self._protocol = protocol
        self._queue: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self.forwarded = 0
        self.dropped = 0

    def submit(self, messages: list[bytes]) -> None:
        overflow = len(self._queue) + len(messages) - QUEUE_LIMIT
        if overflow > 0:
            for _ in range(min(overflow, len(self._queue))):
                self._queue.popleft()
            self.dropped += overflow
            messages = messages[-QUEUE_LIMIT:]
        self._queue.extend(messages)
        self._ready.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with background(self._run()):
            yield

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                if self._protocol == "udp":
                    await self._send_udp()
                else:
                    await self._send_tcp()
            except (OSError, TimeoutError) as exc:
                log.warning("log_forward_failed", endpoint=f"{self._host}:{self._port}", error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = 1.0

    async def _batches(self) -> AsyncIterator[list[bytes]]:
        while True:
            await self._ready.wait()
            batch = list(self._queue)
            self._queue.clear()
            self._ready.clear()
            if batch:
                yield batch

    async def _send_tcp(self) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that arrives as the
        # awaited call completes, and this task would then never end (see services.common.tasks.wait_set).
        async with asyncio.timeout(10):
            _, writer = await asyncio.open_connection(self._host, self._port)
        try:
            async for batch in self._batches():
                # Octet counting (RFC 6587): a message may contain newlines and still arrive whole.
                writer.write(b"".join(b"%d %s" % (len(m), m) for m in batch))
                try:
                    async with asyncio.timeout(30):
                        await writer.drain()
                except BaseException:
                    # Not known to be delivered: put the batch back, ahead of newer messages.
                    self._queue.extendleft(reversed(batch))
                    raise
                self.forwarded += len(batch)
        finally:
            writer.close()

    async def _send_udp(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=(self._host, self._port)
        )
        try:
            async for batch in self._batches():
                for message in batch:
                    transport.sendto(message)
                self.forwarded += len(batch)
        finally:
            transport.close()
