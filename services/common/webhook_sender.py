"""Sending one webhook request, for the jobservice's deliveries and core's endpoint test alike: the target
passes the SSRF guard (services.common.webhooks) first, and the connection goes to the very addresses the
guard checked, never to a second lookup's (a name cannot resolve elsewhere in between). No redirect is
followed; what the receiver answered is returned with at most ANSWER_KEPT bytes of its body (never a huge
one held)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from services.common.webhooks import Allowlist, check_target

ANSWER_KEPT = 512
USER_AGENT = "berth-webhook"


class SendFailed(Exception):
    """No answer: a timeout, a refused or cut connection, a TLS error; the message says which."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    location: str  # a redirect's Location, "" for none
    text: str  # the start of the body
    took_ms: float

    def said(self, address: str) -> str:
        return f"POST {address}: {self.status} in {self.took_ms:.0f} ms" + (f": {self.text}" if self.text else "")


class _Pinned(AbstractResolver):
    """Resolves the target's host to the addresses the guard checked, and nothing else."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        self._host = host
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self._host:
            raise OSError(f"{host} is not the webhook target's host")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self._addresses
        ]

    async def close(self) -> None:
        return None


class WebhookSender:
    """HTTP sessions kept alive between the requests of one sender, one per target host and checked
    addresses: `async with WebhookSender() as sender: await sender.post(...)`."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, tuple[str, ...], bool, int], aiohttp.ClientSession] = {}

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for session in self._open.values():
            await session.close()
        self._open.clear()

    def _session(self, host: str, addresses: list[str], verify: bool, timeout_s: int) -> aiohttp.ClientSession:
        key = (host, tuple(addresses), verify, timeout_s)
        if key not in self._open:
            connector = aiohttp.TCPConnector(resolver=_Pinned(host, addresses), ssl=verify)
            self._open[key] = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))
        return self._open[key]

    async def post(
        self,
        address: str,
        data: bytes,
        content_type: str,
        *,
        auth_header: str = "",
        signing_secret: str = "",
        allowlist: Allowlist,
        verify: bool,
        timeout_s: int,
    ) -> Answer:
        """What the target answered; TargetRefused when the guard refuses it, SendFailed without an answer.
        `auth_header` goes as the Authorization header; with `signing_secret` the body is signed."""
        headers = {"User-Agent": USER_AGENT, "Content-Type": content_type}
        if auth_header:
            headers["Authorization"] = auth_header
        if signing_secret:
            headers.update(_signature(signing_secret, data))
        addresses = await check_target(address, allowlist)
        session = self._session(URL(address).host or "", addresses, verify, timeout_s)
        started = time.monotonic()
        try:
            async with session.post(address, data=data, headers=headers, allow_redirects=False) as response:
                text = (await response.content.read(ANSWER_KEPT)).decode(errors="replace").strip()
                took_ms = (time.monotonic() - started) * 1000
                return Answer(response.status, response.headers.get("Location", ""), text, took_ms)
        except TimeoutError:
            raise SendFailed(f"POST {address} got no answer within {timeout_s} s") from None
        except aiohttp.ClientError as exc:
            raise SendFailed(f"POST {address} failed: {exc}") from None


def _signature(secret: str, data: bytes) -> dict[str, str]:
    """Berth's signature of a body: `X-Berth-Timestamp` (Unix seconds) and `X-Berth-Signature: sha256=<hex
    HMAC-SHA256 of "<timestamp>.<body>">`, so a receiver can check the body and refuse an old timestamp."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + data, hashlib.sha256).hexdigest()
    return {"X-Berth-Timestamp": stamp, "X-Berth-Signature": f"sha256={digest}"}
