"""Harbor's REPLICATION job: one execution of a replication policy. Push mode (the source is this
registry): every local artifact the policy's filters take is one task, copied to the endpoint by the copy
engine (services/jobservice/replication/copier.py) with its index children and accessories, blobs the
destination has skipped; a Harbor-type destination gets the projects it lacks first, through its API. An
event-based execution copies the one artifact its event names, or deletes it on the destination. Pull mode
(the source is the endpoint): every remote tag the filters take is one task, pushed into this registry.

A task that fails is retried with the job (exponential backoff, jobservice.max_attempts); the tasks that
succeeded are not copied again, so a retry, or a rerun after a killed jobservice, goes on where the last
attempt stood. A stop marks what had not finished Stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from urllib.parse import quote

import structlog

from services.common.auth.internal import INTERNAL_NAME, internal_password
from services.common.events import outbox
from services.common.jobs.replication import parse_replication_params
from services.common.remote.client import RemoteEndpoint, RemoteError, RemoteRegistry, body_excerpt
from services.common.secret import Secret
from services.common.secret_key import SecretKeyError, SecretKeyFile
from services.common.storage import StorageDriver
from services.jobservice import replication_store as store
from services.jobservice.context import JobContext, JobFailed
from services.jobservice.replication import announce
from services.jobservice.replication.copier import (
    ArtifactSource,
    CopyError,
    RemoteDestination,
    RemoteSource,
    copy_artifact,
)
from services.jobservice.replication.local import LocalSource
from services.jobservice.replication.remote_listing import remote_artifacts
from services.jobservice.replication_filters import Selected, deletion_taken, destination, resource_type, select

log = structlog.get_logger()

# Artifacts copied at once in one execution (each copies up to PARALLEL_BLOBS blobs at once).
PARALLEL_TASKS = 6
PARALLEL_BLOBS = 3
CHUNK_BYTES = 10 * 1024 * 1024
# Seconds each wait on the remote may take (connecting, each read), not a whole copy.
REMOTE_TIMEOUT_S = 60.0


def _resource(repository: str, tags: tuple[str, ...], digest: str) -> str:
    """Harbor's task resource: `repo:[tag1,tag2]`, or `repo@digest` for an untagged artifact."""
    return f"{repository}:[{','.join(tags)}]" if tags else f"{repository}@{digest}"


@dataclass(frozen=True, slots=True)
class _Task:
    """A task's row, and the local repository it reads (push) or writes (pull)."""

    id: int
    resource_type: str
    src: str
    dst: str
    local_repository: str


class Replication:
    def __init__(self, storage: StorageDriver, secret_key: SecretKeyFile, local: tuple[str, str, str]) -> None:
        """`local`: this Berth's registry, token service and core as the jobservice reaches them."""
        self._storage = storage
        self._key = secret_key
        self._local = local

    async def __call__(self, context: JobContext) -> None:
        try:
            params = parse_replication_params(context.job.parameters)
        except ValueError as exc:
            raise JobFailed(f"the job's parameters do not parse: {exc}") from None
        policy = await store.policy(context.db.pool, params.policy_id)
        if policy is None:
            raise JobFailed(f"replication policy {params.policy_id} no longer exists")
        try:
            password = self._key.decrypt(policy.endpoint.ciphertext) if policy.endpoint.ciphertext else ""
        except SecretKeyError as exc:
            raise JobFailed(str(exc)) from None
        endpoint = RemoteEndpoint(
            url=policy.endpoint.url,
            username=policy.endpoint.access_key,
            password=Secret(password),
            insecure=policy.endpoint.insecure,
            ca_certificate=policy.endpoint.ca_certificate,
        )
        if policy.single_active_replication and params.repository is None:
            # Harbor's single_active_replication: a whole-policy run (manual or scheduled) does not overlap
            # the one still running; an event's single copy or deletion always goes (skipping it would lose it).
            running = await store.older_running_execution(context.db.pool, policy.id, context.job.id)
            if running is not None:
                await context.log(
                    f"skipped: execution {running} of this policy is still running (single_active_replication)"
                )
                context.result = {"total": 0, "failed": 0, "succeed": 0, "skipped_for": running}
                return
        if params.deletion and params.repository and params.digest:
            await self._delete(context, policy, endpoint, params.repository, params.digest, params.tag)
            return
        try:
            if policy.push:
                outcomes = await self._push(context, policy, endpoint, params.repository, params.digest)
            else:
                outcomes = await self._pull(context, policy, endpoint)
        except asyncio.CancelledError:
            await store.stop_unfinished(context.db.pool, context.job.id)
            raise
        failed = outcomes.count(False)
        context.result = {"total": len(outcomes), "failed": failed, "succeed": len(outcomes) - failed}
        await context.log(f"{len(outcomes) - failed} of {len(outcomes)} artifacts copied, {failed} failed")
        if failed:
            raise RuntimeError(f"{failed} of {len(outcomes)} tasks failed; see their logs")  # retried with backoff

    async def _push(
        self,
        context: JobContext,
        policy: store.StoredPolicy,
        endpoint: RemoteEndpoint,
        repository: str | None,
        digest: str | None,
    ) -> list[bool]:
        selected = await self._selection(context, policy, repository, digest)
        await context.log(f"policy {policy.name}: {len(selected)} artifacts to copy to {endpoint.url}")
        async with RemoteRegistry(endpoint, timeout=REMOTE_TIMEOUT_S) as remote:
            if policy.endpoint.type == "harbor":
                await self._projects(context, remote, {dst.split("/", 1)[0] for _, dst in selected})
            source = LocalSource(context.db, self._storage)
            return await self._copy_all(context, policy, source, RemoteDestination(remote), endpoint.url, selected)

    async def _pull(self, context: JobContext, policy: store.StoredPolicy, endpoint: RemoteEndpoint) -> list[bool]:
        """Pull mode: every tag of the remote's repositories the filters take is one task, pushed into this
        registry through its own registry API (so quotas, immutability and events hold as for any push), as
        the jobservice's internal account; the projects it lacks are created through core's API."""
        registry_url, token_url, core_url = self._local
        password = Secret(internal_password(self._key))
        local = RemoteEndpoint(registry_url, INTERNAL_NAME, password, token_url=f"{token_url}/service/token")
        api = RemoteEndpoint(core_url, INTERNAL_NAME, password)
        async with (
            RemoteRegistry(endpoint, timeout=REMOTE_TIMEOUT_S) as remote,
            RemoteRegistry(local, timeout=REMOTE_TIMEOUT_S) as here,
            RemoteRegistry(api, timeout=REMOTE_TIMEOUT_S) as core,
        ):
            selected = await self._remote_selection(policy, remote)
            await context.log(f"policy {policy.name}: {len(selected)} artifacts to copy from {endpoint.url}")
            await self._projects(context, core, {dst.split("/", 1)[0] for _, dst in selected})
            return await self._copy_all(
                context, policy, RemoteSource(remote), RemoteDestination(here), "this registry", selected
            )

    async def _remote_selection(self, policy: store.StoredPolicy, remote: RemoteRegistry) -> list[tuple[Selected, str]]:
        """The remote's artifacts the filters take (remote_listing: by tag from a docker-registry endpoint,
        by digest with tags and labels from a Harbor-type one)."""
        chosen = []

        def wanted(repository: str) -> bool:
            return deletion_taken(policy.filters, repository, None)  # the name filter, before the listing

        for artifact in await remote_artifacts(remote, policy.endpoint.type, wanted):
            found = select(
                policy.filters, artifact.repository, artifact.reference, artifact.tags, artifact.labels, artifact.kind
            )
            if found is None:
                continue
            try:
                target = destination(artifact.repository, policy.dest_namespace, policy.dest_namespace_replace_count)
            except ValueError:
                continue
            chosen.append((found, target))
        return chosen

    async def _delete(
        self,
        context: JobContext,
        policy: store.StoredPolicy,
        endpoint: RemoteEndpoint,
        repository: str,
        digest: str,
        tag: str | None,
    ) -> None:
        """One deletion task: the manifest `digest` deleted from the destination's repository, or with `tag`
        that tag alone, through a Harbor-type destination's API (Harbor's adapters: a docker-registry
        endpoint cannot delete a tag). Already gone there counts as done."""
        try:
            dst = destination(repository, policy.dest_namespace, policy.dest_namespace_replace_count)
        except ValueError as exc:
            raise JobFailed(str(exc)) from None
        src_name, dst_name = (
            (f"{repository}@{digest}", f"{dst}@{digest}")
            if tag is None
            else (f"{repository}:[{tag}]", f"{dst}:[{tag}]")
        )
        task_id, status = await store.task(context.db.pool, context.job.id, "image", src_name, dst_name, "deletion")
        if status == "Succeed":
            return
        task = _Task(task_id, "image", src_name, dst_name, repository)
        await store.start_task(context.db.pool, task_id)
        if tag is not None and policy.endpoint.type != "harbor":
            reason = f"the tag deletion isn't supported by a {policy.endpoint.type} endpoint ({endpoint.url})"
            await store.log_task(context.db.pool, task_id, f"failed: {reason}")
            await self._finish(context, policy, task, "Failed")
            raise JobFailed(reason)
        try:
            async with RemoteRegistry(endpoint, timeout=REMOTE_TIMEOUT_S) as remote:
                path, answer, text = await (
                    _delete_manifest(remote, dst, digest) if tag is None else _delete_tag(remote, dst, digest, tag)
                )
        except RemoteError as exc:
            await store.log_task(context.db.pool, task_id, f"failed: {exc}")
            await self._finish(context, policy, task, "Failed")
            raise  # retried with backoff
        if answer in (200, 202, 404):
            done = "deleted" if answer != 404 else "already gone"
            await store.log_task(context.db.pool, task_id, f"{dst_name} on {endpoint.url}: {done}")
            await self._finish(context, policy, task, "Succeed", digest)
            context.result = {"total": 1, "failed": 0, "succeed": 1}
            return
        await store.log_task(
            context.db.pool, task_id, f"failed: {endpoint.url} answered {answer} to DELETE {path}: {text}"
        )
        await self._finish(context, policy, task, "Failed")
        if answer >= 500:
            raise RuntimeError(f"{endpoint.url} answered {answer} to DELETE {path}")  # retried with backoff
        raise JobFailed(f"{endpoint.url} refused to delete {dst_name}: {answer} {text}")

    async def _selection(
        self, context: JobContext, policy: store.StoredPolicy, repository: str | None, digest: str | None
    ) -> list[tuple[Selected, str]]:
        """What the policy takes: of every local artifact, or of the one an event names."""
        chosen = []
        for artifact in await store.local_artifacts(context.db.pool, repository, digest):
            kind = resource_type(artifact.media_type, artifact.config_media_type)
            found = select(policy.filters, artifact.repository, artifact.digest, artifact.tags, artifact.labels, kind)
            if found is None:
                continue
            try:
                target = destination(found.repository, policy.dest_namespace, policy.dest_namespace_replace_count)
            except ValueError as exc:
                await context.log(f"{found.repository}: skipped: {exc}", level="warning")
                continue
            chosen.append((found, target))
        return chosen

    async def _projects(self, context: JobContext, remote: RemoteRegistry, projects: set[str]) -> None:
        """Harbor's PrepareForPush: the destination's projects this execution pushes into, created when
        absent (a 409 is one that exists, or was made meanwhile)."""
        headers = remote.api_headers()
        for project in sorted(projects):
            async with await remote.request(
                "HEAD", f"/api/v2.0/projects?project_name={project}", headers=headers
            ) as response:
                if response.status == 200:
                    continue
            async with await remote.request(
                "POST",
                "/api/v2.0/projects",
                headers={**headers, "Content-Type": "application/json"},
                data=json.dumps({"project_name": project, "metadata": {"public": "false"}}).encode(),
            ) as response:
                if response.status not in (201, 409):
                    text = await body_excerpt(response)
                    raise JobFailed(
                        f"cannot create project {project} on {remote.endpoint.url}: {response.status} {text}"
                    )
            await context.log(f"created project {project} on {remote.endpoint.url}")

    async def _copy_all(
        self,
        context: JobContext,
        policy: store.StoredPolicy,
        source: ArtifactSource,
        target: RemoteDestination,
        where: str,
        selected: list[tuple[Selected, str]],
    ) -> list[bool]:
        gate = asyncio.Semaphore(PARALLEL_TASKS)

        async def one(found: Selected, dst: str) -> bool:
            src_name = _resource(found.repository, found.tags, found.digest)
            dst_name = _resource(dst, found.tags, found.digest)
            task_id, status = await store.task(context.db.pool, context.job.id, found.resource_type, src_name, dst_name)
            if status == "Succeed":
                return True  # copied by an earlier attempt of this execution
            task = _Task(task_id, found.resource_type, src_name, dst_name, found.repository if policy.push else dst)
            async with gate:
                await store.start_task(context.db.pool, task_id)

                async def task_log(line: str) -> None:
                    await store.log_task(context.db.pool, task_id, line)

                await task_log(f"copying {src_name} to {where}: {dst_name}")
                try:
                    result = await copy_artifact(
                        source,
                        found.repository,
                        found.digest,
                        target,
                        dst,
                        list(found.tags),
                        override=policy.override,
                        speed_kbps=policy.speed_kbps or None,
                        chunk_size=CHUNK_BYTES if policy.copy_by_chunk else None,
                        parallel_blobs=PARALLEL_BLOBS,
                        log=task_log,
                    )
                except (CopyError, RemoteError) as exc:
                    await task_log(f"failed: {exc}")
                    await self._finish(context, policy, task, "Failed")
                    return False
                await task_log(
                    f"done: {result.manifest_digest}, {result.blobs_copied} blobs copied ({result.bytes_copied} bytes),"
                    f" {result.blobs_skipped} already there"
                    + (
                        f"; tags left alone (override off): {', '.join(result.tags_skipped)}"
                        if result.tags_skipped
                        else ""
                    )
                )
                await self._finish(context, policy, task, "Succeed", result.manifest_digest, result.bytes_copied)
                return True

        running = [asyncio.create_task(one(found, dst)) for found, dst in selected]
        try:
            return list(await asyncio.gather(*running))
        finally:
            for each in running:
                each.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*running, return_exceptions=True)

    async def _finish(
        self, context: JobContext, policy: store.StoredPolicy, task: _Task, status: str, digest: str = "", size: int = 0
    ) -> None:
        """The task's end, and Harbor's REPLICATION event of it for the local project's webhooks, together."""
        event = announce.task_ended(
            context.job, policy, task.local_repository, task.resource_type, task.src, task.dst, status
        )
        async with context.db.transaction() as tx:
            await store.finish_task(tx, task.id, status, digest, size)
            await outbox.record(tx, [event])


async def _delete_manifest(remote: RemoteRegistry, repository: str, digest: str) -> tuple[str, int, str]:
    """DELETE of a manifest through the distribution API: (path, status, the body's start)."""
    path = f"/v2/{repository}/manifests/{digest}"
    async with await remote.request("DELETE", path, scope=f"repository:{repository}:delete") as response:
        return path, response.status, await body_excerpt(response)


async def _delete_tag(remote: RemoteRegistry, repository: str, digest: str, tag: str) -> tuple[str, int, str]:
    """DELETE of one tag through Harbor's API (the repository's name encoded twice, as Harbor's path wants)."""
    project, _, rest = repository.partition("/")
    name = quote(quote(rest, safe=""), safe="")
    path = f"/api/v2.0/projects/{project}/repositories/{name}/artifacts/{digest}/tags/{quote(tag, safe='')}"
    async with await remote.request("DELETE", path, headers=remote.api_headers()) as response:
        return path, response.status, await body_excerpt(response)
