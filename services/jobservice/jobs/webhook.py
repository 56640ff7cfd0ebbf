"""Harbor's WEBHOOK job: one delivery of one event to one target of a webhook policy (Harbor's execution,
with this job as its one task). The body was made when the event arrived (webhooks/trigger.py); each
attempt POSTs the same bytes.

Before each attempt the target passes the SSRF guard again (services.common.webhooks: a name may resolve
elsewhere by now), and the connection goes to the very addresses the guard checked, never to a second
lookup's. No redirect is followed (one could lead anywhere); a 2xx is delivered; any other answer, a
timeout (`webhook_job_http_client_timeout`) or a cut connection fails the attempt, retried with backoff up
to `webhook_job_max_retry` times, the reason in the job's log. A target refused, a policy or target gone,
or a redirect fails at once: trying again would not help. A delivery that succeeded goes on with the ones
waiting behind it in its chain, over the same kept-alive connection.

With a `signing_secret`, each request carries `X-Berth-Timestamp` (Unix seconds) and `X-Berth-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: a receiver recomputes it to know the body is ours and
refuses an old timestamp, so a replayed request is refused too."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from services.common.config.live import SystemConfig
from services.common.jobs import store as jobs_store
from services.common.secret_key import SecretKeyError, SecretKeyFile
from services.common.webhooks import TargetRefused, check_target, parse_allowlist
from services.jobservice import webhook_store as store
from services.jobservice.context import JobContext, JobFailed
from services.jobservice.worker import record_failure

# What of a receiver's answer goes into the log: enough to see why, never a huge body.
ANSWER_LOGGED = 512
USER_AGENT = "berth-jobservice"
# Deliveries one run takes on from its chain before it leaves the rest to the queue (other jobs get workers).
DRAIN_MAX = 200


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


class _Sessions:
    """HTTP sessions of one job run, one per target host and checked addresses, kept alive between the
    deliveries of a chain."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, tuple[str, ...], bool, int], aiohttp.ClientSession] = {}

    def get(self, host: str, addresses: list[str], verify: bool, timeout_s: int) -> aiohttp.ClientSession:
        key = (host, tuple(addresses), verify, timeout_s)
        if key not in self._open:
            connector = aiohttp.TCPConnector(resolver=_Pinned(host, addresses), ssl=verify)
            self._open[key] = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))
        return self._open[key]

    async def close(self) -> None:
        for session in self._open.values():
            await session.close()


class WebhookDelivery:
    def __init__(self, config: SystemConfig, secret_key: SecretKeyFile, *, heartbeat_timeout_s: float) -> None:
        self._config = config
        self._key = secret_key
        self._heartbeat_timeout_s = heartbeat_timeout_s

    async def __call__(self, context: JobContext) -> None:
        sessions = _Sessions()
        try:
            await self._deliver(context, sessions)
            await self._drain(context, sessions)
        finally:
            await sessions.close()

    async def _drain(self, context: JobContext, sessions: _Sessions) -> None:
        """Delivered: the deliveries that wait behind this one in its chain go now, each as its own job,
        from this run (no trip through the queue and another worker: a chain's deliveries follow each other
        as fast as the receiver answers). Up to DRAIN_MAX, then the queue takes over again. Only while a
        delivery cannot outlast the reaper's patience: a drained one has no heartbeat of its own."""
        if int(self._config.get("webhook_job_http_client_timeout")) * 2 > self._heartbeat_timeout_s:
            return
        chain, worker = context.job.parameters.get("chain"), context.job.worker
        if not isinstance(chain, str) or worker is None:
            return
        for _ in range(DRAIN_MAX):
            async with context.db.transaction() as tx:
                next_id = await store.release_next(tx, chain, ending=context.job.id)
                job = None if next_id is None else await jobs_store.claim(tx, next_id, worker)
            if job is None:
                return  # none waits (or it cannot go now: stopped, paused; the queue has it)
            drained = JobContext(job, context.db)
            try:
                await self._deliver(drained, sessions)
            except JobFailed as exc:
                await record_failure(drained, worker, str(exc), retry=False)
                continue  # failed for good: the next one may go
            except Exception as exc:
                if await record_failure(drained, worker, f"{type(exc).__name__}: {exc}", retry=True):
                    return  # it is retried later; the chain waits for it
                continue
            await jobs_store.finish(context.db.pool, job.id, worker, "success", result=drained.result)

    async def _deliver(self, context: JobContext, sessions: _Sessions) -> None:
        parameters = context.job.parameters
        try:
            policy_id, index = int(parameters["policy_id"]), int(parameters["target"])
            text, content_type = str(parameters["body"]), str(parameters["content_type"])
        except (KeyError, TypeError, ValueError):
            raise JobFailed("the job's parameters do not parse: policy_id, target, body, content_type") from None
        policy = await store.policy(context.db.pool, policy_id)
        if policy is None:
            raise JobFailed(f"webhook policy {policy_id} no longer exists")
        if index >= len(policy.targets):
            raise JobFailed(f"webhook policy {policy.name} no longer has target {index}")
        target = policy.targets[index]
        address = str(target.get("address", ""))
        try:
            addresses = await check_target(address, parse_allowlist(self._config.get("webhook_target_allowlist")))
        except TargetRefused as exc:
            raise JobFailed(f"{address[:200]} refused: {exc}") from None
        data = text.encode()
        headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
        headers.update(self._credentials(target, data))
        timeout_s = int(self._config.get("webhook_job_http_client_timeout"))
        session = sessions.get(URL(address).host or "", addresses, not target.get("skip_cert_verify"), timeout_s)
        started = time.monotonic()
        try:
            async with session.post(address, data=data, headers=headers, allow_redirects=False) as response:
                status = response.status
                location = response.headers.get("Location", "")
                answer = (await response.content.read(ANSWER_LOGGED)).decode(errors="replace").strip()
        except TimeoutError:
            raise RuntimeError(f"POST {address} got no answer within {timeout_s} s") from None
        except aiohttp.ClientError as exc:
            raise RuntimeError(f"POST {address} failed: {exc}") from None
        took_ms = (time.monotonic() - started) * 1000
        said = f"POST {address}: {status} in {took_ms:.0f} ms" + (f": {answer}" if answer else "")
        if 200 <= status < 300:
            await context.log(said)
            context.result = {"status": status}
            return
        if 300 <= status < 400:
            raise JobFailed(f"{said}; a redirect (to {location[:200] or 'nowhere'}) is not followed")
        raise RuntimeError(said)

    def _credentials(self, target: dict[str, Any], data: bytes) -> dict[str, str]:
        """The Authorization header and the signature headers the target's stored secrets give."""
        try:
            auth = self._key.decrypt(target["auth_header"]) if target.get("auth_header") else ""
            secret = self._key.decrypt(target["signing_secret"]) if target.get("signing_secret") else ""
        except SecretKeyError as exc:
            raise JobFailed(str(exc)) from None
        headers = {"Authorization": auth} if auth else {}
        if secret:
            stamp = str(int(time.time()))
            digest = hmac.new(secret.encode(), stamp.encode() + b"." + data, hashlib.sha256).hexdigest()
            headers.update({"X-Berth-Timestamp": stamp, "X-Berth-Signature": f"sha256={digest}"})
        return headers
