"""Harbor's WEBHOOK job: one delivery of one event to one target of a webhook policy (Harbor's execution,
with this job as its one task). The body was made when the event arrived (webhooks/trigger.py); each
attempt POSTs the same bytes.

Before each attempt the target passes the SSRF guard again (a name may resolve elsewhere by now), and the
connection goes to the addresses it checked (services.common.webhook_sender). No redirect is followed (one
could lead anywhere); a 2xx is delivered; any other answer, a
timeout (`webhook_job_http_client_timeout`) or a cut connection fails the attempt, retried with backoff up
to `webhook_job_max_retry` times, the reason in the job's log. A target refused, a policy or target gone,
or a redirect fails at once: trying again would not help. A delivery that succeeded goes on with the ones
waiting behind it in its chain, over the same kept-alive connection.

With a `signing_secret`, each request carries `X-Berth-Timestamp` (Unix seconds) and `X-Berth-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: a receiver recomputes it to know the body is ours and
refuses an old timestamp, so a replayed request is refused too."""

from __future__ import annotations

from services.common.config.live import SystemConfig
from services.common.jobs import store as jobs_store
from services.common.secret_key import SecretKeyError, SecretKeyFile
from services.common.webhook_sender import SendFailed, WebhookSender
from services.common.webhooks import TargetRefused, parse_allowlist
from services.jobservice import webhook_store as store
from services.jobservice.context import JobContext, JobFailed
from services.jobservice.worker import record_failure

# Deliveries one run takes on from its chain before it leaves the rest to the queue (other jobs get workers).
DRAIN_MAX = 200


class WebhookDelivery:
    def __init__(self, config: SystemConfig, secret_key: SecretKeyFile, *, heartbeat_timeout_s: float) -> None:
        self._config = config
        self._key = secret_key
        self._heartbeat_timeout_s = heartbeat_timeout_s

    async def __call__(self, context: JobContext) -> None:
        async with WebhookSender() as sender:
            await self._deliver(context, sender)
            await self._drain(context, sender)

    async def _drain(self, context: JobContext, sender: WebhookSender) -> None:
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
                await self._deliver(drained, sender)
            except JobFailed as exc:
                await record_failure(drained, worker, str(exc), retry=False)
                continue  # failed for good: the next one may go
            except Exception as exc:
                if await record_failure(drained, worker, f"{type(exc).__name__}: {exc}", retry=True):
                    return  # it is retried later; the chain waits for it
                continue
            await jobs_store.finish(context.db.pool, job.id, worker, "success", result=drained.result)

    async def _deliver(self, context: JobContext, sender: WebhookSender) -> None:
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
            auth = self._key.decrypt(target["auth_header"]) if target.get("auth_header") else ""
            secret = self._key.decrypt(target["signing_secret"]) if target.get("signing_secret") else ""
        except SecretKeyError as exc:
            raise JobFailed(str(exc)) from None
        try:
            answer = await sender.post(
                address,
                text.encode(),
                content_type,
                auth_header=auth,
                signing_secret=secret,
                allowlist=parse_allowlist(self._config.get("webhook_target_allowlist")),
                verify=not target.get("skip_cert_verify"),
                timeout_s=int(self._config.get("webhook_job_http_client_timeout")),
            )
        except TargetRefused as exc:
            raise JobFailed(f"{address[:200]} refused: {exc}") from None
        except SendFailed as exc:
            raise RuntimeError(str(exc)) from None  # retried with backoff
        said = answer.said(address)
        if 200 <= answer.status < 300:
            await context.log(said)
            context.result = {"status": answer.status}
            return
        if 300 <= answer.status < 400:
            raise JobFailed(f"{said}; a redirect (to {answer.location[:200] or 'nowhere'}) is not followed")
        raise RuntimeError(said)
