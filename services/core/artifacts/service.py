"""Artifact and tag rules, and the labels on artifacts: who may read and change what, and the transactions
that change rows the registry reads. Every change writes its event to the outbox in the same transaction, and the
database triggers of migrations 0002 and 0009 tell every registry's cache and every core's list cache at
commit, so a delete here is a MANIFEST_UNKNOWN there at once. No aiohttp here.

Artifact list pages are cached (rendered, with their totals) per repository and list parameters, after
the permission check, which runs for every request: a cached page holds nothing that depends on who
asks. This process's own changes drop its entries at once; the notifications drop everyone's. Under it,
and dropped the same way, each list's order (its artifact ids, one read shared by the requests that miss
it at once): a page missing from the cache is the slice of the order read by id, so the pages of a
repository taking pushes cost their own rows, not an OFFSET over the whole list and its count."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import json
from array import array
from collections.abc import Callable, Hashable, Sequence

import structlog

from services.common import quota_store
from services.common.auth.authenticate import Principal
from services.common.cache import LookupCache
from services.common.config.live import SystemConfig
from services.common.db import Database, Executor
from services.common.events import outbox
from services.common.events.models import Event, EventType
from services.common.immutable import ImmutableRule, protecting_rule, split_repository
from services.common.immutable_store import artifact_tags, enabled_rules, lock_tag, tag_digest
from services.common.oci.names import is_valid_tag
from services.common.quota import QuotaExceeded
from services.common.rbac import Action, Resource
from services.common.repositories import delete_artifact, ensure_repository, referencing_parents
from services.core.artifacts import artifact_store, repository_store, tag_store
from services.core.artifacts.errors import (
    AdditionNotFound,
    ArtifactNotFound,
    ArtifactReferenced,
    RepositoryNotFound,
    TagImmutable,
    TagNotFound,
)
from services.core.artifacts.models import (
    ADDITION_TYPES,
    BUILD_HISTORY,
    AccessoryView,
    Addition,
    ArtifactRef,
    ArtifactView,
    TagView,
)
from services.core.artifacts.references import full_name, parse_copy_source
from services.core.errors import BadRequest, Conflict, NotFound, QuotaExceededError
from services.core.labels.service import LabelService
from services.core.listing import Page, SortKey, Term
from services.core.projects.models import ProjectRef, ProjectView
from services.core.projects.service import ProjectService
from services.core.read_only import require_writable

log = structlog.get_logger()
# What a cached list page costs besides its body: the key, the tuple, the entry's bookkeeping.
CACHED_PAGE_OVERHEAD_BYTES = 1024
# The q keys one of which latest_in_repository needs (Harbor's ListWithLatest groups by one of them).
LATEST_KEYS = ("media_type", "artifact_type")


def undeletable(tag: str) -> TagImmutable:
    return TagImmutable(f"the tag {tag[:130]} configured as immutable, cannot be deleted")


def _marked_tags(rules: builtins.list[ImmutableRule], tags: Sequence[TagView], repository: str) -> tuple[TagView, ...]:
    path = split_repository(repository)[1]
    return tuple(dataclasses.replace(t, immutable=protecting_rule(rules, path, t.name) is not None) for t in tags)


async def protected_tag(
    tx: Executor, project_id: int, repository: str, tags: Sequence[str]
) -> tuple[str, ImmutableRule] | None:
    """The first of `tags` of `repository` an enabled rule of the project protects, read in the caller's
    transaction (Harbor's tag.Immutable, as the tag and artifact controllers check it)."""
    if not tags:
        return None
    rules = await enabled_rules(tx, project_id)
    path = split_repository(repository)[1]
    for tag in tags:
        rule = protecting_rule(rules, path, tag)
        if rule is not None:
            return tag, rule
    return None


class ArtifactService:
    def __init__(
        self, db: Database, projects: ProjectService, labels: LabelService, cache: LookupCache, config: SystemConfig
    ) -> None:
        self._config = config
        self._db = db
        self._projects = projects
        self._labels = labels
        self._cache = cache
        # Lists of ids being read (see _order), with the cache generation each began at.
        self._orders_in_flight: dict[Hashable, tuple[int, asyncio.Future[array[int]]]] = {}

    async def _mark(self, project_id: int, views: builtins.list[ArtifactView]) -> builtins.list[ArtifactView]:
        """The views with each tag's `immutable` set; no statement when no view has a tag."""
        if not any(v.tags for v in views):
            return views
        rules = await enabled_rules(self._db.pool, project_id)
        if not rules:
            return views
        return [dataclasses.replace(v, tags=_marked_tags(rules, v.tags, v.repository)) for v in views]

    async def list(
        self,
        principal: Principal,
        ref: ProjectRef,
        path: str,
        terms: Sequence[Term],
        sort: Sequence[SortKey],
        page: Page,
        *,
        with_tag: bool,
        with_label: bool = False,
        render: Callable[[builtins.list[ArtifactView]], bytes],
        variant: Hashable = None,
    ) -> tuple[bytes, int]:
        """The page rendered by `render` (which must depend on the rows and `variant` only), and the
        whole list's length; from the cache when this exact page was rendered since its repository last
        changed."""
        project, _ = await self._projects.resolve(principal, ref, Resource.ARTIFACT, Action.LIST)
        name = full_name(project, path)
        repository_id = await repository_store.repository_id(self._db.pool, name)
        if repository_id is None:
            raise RepositoryNotFound(f"repository {name[:200]} not found")
        key = ("artifacts", project.id, repository_id, tuple(terms), tuple(sort), page, with_tag, with_label, variant)
        cached: tuple[bytes, int] | None = self._cache.get(key)
        if cached is not None:
            return cached
        generation = self._cache.generation
        rows: builtins.list[ArtifactView] | None = None
        if self._cache.live:
            order = await self._order(repository_id, tuple(terms), tuple(sort))
            ids = order[page.offset : page.offset + page.size]
            found = await artifact_store.artifacts_by_id(
                self._db.pool, project.id, ids, with_tag=with_tag, with_label=with_label
            )
            # An artifact of the order gone meanwhile (its notification is on its way): the page is read
            # whole below instead.
            if len(found) == len(ids):
                rows, total = found, len(order)
        if rows is None:
            rows, total = await artifact_store.list_artifacts(
                self._db.pool, project.id, repository_id, terms, sort, page, with_tag=with_tag, with_label=with_label
            )
        # The rules' changes clear this cache (ImmutableRuleService), so a cached page's flags stay true.
        body = render(await self._mark(project.id, rows))
        self._cache.put(key, repository_id, (body, total), len(body) + CACHED_PAGE_OVERHEAD_BYTES, generation)
        return body, total

    async def _order(self, repository_id: int, terms: tuple[Term, ...], sort: tuple[SortKey, ...]) -> array[int]:
        """The repository's whole list in order, as artifact ids (artifact_store.list_order), cached until
        the repository changes. One read at a time per list: a request finding one in flight shares it, if
        the repository has not changed since it began (else it would be handed a list older than its own
        start); a push into a big repository thus costs one read of its ids, not one per request."""
        key = ("artifact-order", repository_id, terms, sort)
        cached: array[int] | None = self._cache.get(key)
        if cached is not None:
            return cached
        flight = self._orders_in_flight.get(key)
        if flight is not None and not self._cache.changed_since(repository_id, flight[0]):
            return await asyncio.shield(flight[1])
        generation = self._cache.generation

        async def read() -> array[int]:
            order = await artifact_store.list_order(self._db.pool, repository_id, terms, sort)
            size = order.itemsize * len(order) + CACHED_PAGE_OVERHEAD_BYTES
            self._cache.put(key, repository_id, order, size, generation)
            return order

        task = asyncio.ensure_future(read())
        entry = (generation, task)
        self._orders_in_flight[key] = entry

        def done(_: asyncio.Future[array[int]]) -> None:
            if self._orders_in_flight.get(key) is entry:
                del self._orders_in_flight[key]

        task.add_done_callback(done)
        return await asyncio.shield(task)

    async def list_project(
        self,
        principal: Principal,
        ref: ProjectRef,
        terms: Sequence[Term],
        sort: Sequence[SortKey],
        page: Page,
        *,
        with_tag: bool,
        with_label: bool = False,
        latest: bool = False,
    ) -> tuple[builtins.list[ArtifactView], int]:
        """Harbor's ListArtifactsOfProject: the top-level artifacts of every repository of the project, by
        the same query as one repository's list. With `latest`, the newest matching artifact of each
        repository, which Harbor allows only with a media_type or artifact_type term. Not cached: a page
        depends on every repository of the project, and the cache drops entries by repository."""
        if latest and not any(t.key in LATEST_KEYS for t in terms):
            raise BadRequest("latest_in_repository needs a media_type or artifact_type term in q")
        project, _ = await self._projects.resolve(principal, ref, Resource.ARTIFACT, Action.LIST)
        # From the read replica, if there is one: this list is not cached (one repository's list is, and
        # stays on the primary).
        repositories = await repository_store.project_repository_ids(self._db.reader, project.name)
        if not repositories:
            return [], 0
        rows, total = await artifact_store.list_artifacts(
            self._db.reader,
            project.id,
            repositories,
            terms,
            sort,
            page,
            with_tag=with_tag,
            with_label=with_label,
            latest=latest,
        )
        return await self._mark(project.id, rows), total

    async def list_accessories(
        self,
        principal: Principal,
        ref: ProjectRef,
        path: str,
        artifact: ArtifactRef,
        terms: Sequence[Term],
        sort: Sequence[SortKey],
        page: Page,
    ) -> tuple[ArtifactView, builtins.list[AccessoryView], int]:
        """Harbor's ListAccessories: the subject, a page of its accessories, and how many match."""
        project, _ = await self._projects.resolve(principal, ref, Resource.ACCESSORY, Action.LIST)
        subject = await self._find(project, full_name(project, path), artifact)
        accessories, total = await artifact_store.list_accessories(self._db.pool, subject.id, terms, sort, page)
        return subject, accessories, total

    async def get(self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef) -> ArtifactView:
        project, _ = await self._projects.resolve(principal, ref, Resource.ARTIFACT, Action.READ)
        found = await self._find(project, full_name(project, path), artifact)
        return (await self._mark(project.id, [found]))[0]

    async def addition(
        self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef, name: str
    ) -> Addition:
        """Harbor's GetAddition: an image's build history, a chart's README, values or dependencies."""
        project, _ = await self._projects.resolve(principal, ref, Resource.ARTIFACT_ADDITION, Action.READ)
        found = await self._find(project, full_name(project, path), artifact)
        if name not in found.additions:
            offered = ", ".join(found.additions) or "none"
            raise BadRequest(f"addition {name[:100]!r} is not offered for a {found.kind} artifact (it has: {offered})")
        if name == BUILD_HISTORY:
            if found.config is None:
                raise AdditionNotFound(
                    f"the build history of {found.digest} is not kept (its config is larger than the registry keeps)"
                )
            history = found.config.get("history")
            return Addition(ADDITION_TYPES[name], json.dumps(history if isinstance(history, list) else []))
        kept = await artifact_store.additions(self._db.pool, found.id)
        if kept is None or name not in kept:
            raise AdditionNotFound(f"{found.digest} has no {name} (the chart holds none, or it was too large to keep)")
        value = kept[name]
        return Addition(ADDITION_TYPES[name], value if isinstance(value, str) else json.dumps(value))

    async def _find(self, project: ProjectView, name: str, artifact: ArtifactRef) -> ArtifactView:
        found = await artifact_store.artifact(self._db.pool, project.id, name, artifact)
        if found is None:
            raise ArtifactNotFound(f"artifact {name[:200]}{'@' if artifact.digest else ':'}{artifact} not found")
        return found

    async def delete(self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef) -> None:
        project, _ = await self._projects.resolve(principal, ref, Resource.ARTIFACT, Action.DELETE)
        require_writable(self._config)
        name = full_name(project, path)
        async with self._db.transaction() as tx:
            found = await artifact_store.lock_artifact(tx, name, artifact)
            if found is None:
                raise ArtifactNotFound(f"artifact {name[:200]} {artifact} not found")
            artifact_id, repository_id, digest = found
            protected = await protected_tag(tx, project.id, name, await artifact_tags(tx, artifact_id))
            if protected is not None:
                raise undeletable(protected[0])
            parents = await referencing_parents(tx, artifact_id)
            if parents:
                raise ArtifactReferenced(
                    f"artifact {digest} is referenced by index {parents[0]}; delete the index first"
                )
            also = await delete_artifact(tx, artifact_id, repository_id, digest)
            await outbox.record(tx, [Event(EventType.DELETE_ARTIFACT, principal.name, name, digest=digest)])
        self._cache.invalidate(repository_id)
        log.info("artifact_deleted", repository=name, digest=digest, also_deleted=len(also))

    async def copy(self, principal: Principal, ref: ProjectRef, path: str, source: str) -> ArtifactView:
        """Harbor's copy: pull on the source, create on the destination; rows only, blobs are mounted. The
        artifact's accessories (recursively) are copied with it; those the destination holds stay as they are."""
        source_project, source_name, source_ref = parse_copy_source(source)
        project, _ = await self._projects.resolve(principal, ref, Resource.ARTIFACT, Action.CREATE)
        await self._projects.resolve(principal, ProjectRef(name=source_project), Resource.REPOSITORY, Action.PULL)
        require_writable(self._config)
        name = full_name(project, path)
        try:
            repository_id, digest, accessories = await self._copy_rows(principal, project.id, name, source, source_ref)
        except QuotaExceeded as exc:
            async with self._db.transaction() as tx:
                await outbox.record(tx, [Event(EventType.QUOTA_EXCEED, principal.name, name, details=str(exc))])
            raise QuotaExceededError(str(exc)) from None
        self._cache.invalidate(repository_id)
        log.info("artifact_copied", repository=name, source=source_name, digest=digest, accessories=len(accessories))
        return (await self._mark(project.id, [await self._find(project, name, ArtifactRef(digest=digest))]))[0]

    async def _copy_rows(
        self, principal: Principal, project_id: int, name: str, source: str, source_ref: ArtifactRef
    ) -> tuple[int, str, builtins.list[tuple[int, str]]]:
        """The copy's one transaction; (destination repository id, digest, accessories copied)."""
        source_name = parse_copy_source(source)[1]
        async with quota_store.refusals(), self._db.transaction() as tx:
            found = await artifact_store.lock_artifact(tx, source_name, source_ref)
            if found is None:
                raise ArtifactNotFound(f"artifact {source[:200]} not found")
            source_id, _, digest = found
            repository_id = await ensure_repository(tx, name)
            await self._refuse_moving(tx, project_id, name, await artifact_tags(tx, source_id), digest)
            # The artifact's own tree, for Harbor's message; accessories past the limit are refused at commit.
            charge = await quota_store.copy_charge(tx, project_id, source_id)
            if charge is not None and (refusal := charge.refusal()) is not None:
                raise refusal
            accessories = await artifact_store.missing_accessories(tx, source_id, repository_id)
            copy_id = await artifact_store.copy_artifact(tx, source_id, repository_id)
            tags = await tag_store.copy_tags(tx, source_id, repository_id, copy_id)
            # Accessories (signatures, SBOMs, and theirs) come along, as in Harbor: with their own tags if
            # they have any, and no event of their own (Harbor fires one for the copied artifact only).
            for accessory_id, _ in accessories:
                accessory_copy = await artifact_store.copy_artifact(tx, accessory_id, repository_id)
                await tag_store.copy_tags(tx, accessory_id, repository_id, accessory_copy)
            named: builtins.list[str | None] = [*tags] or [None]
            events = [Event(EventType.PUSH_ARTIFACT, principal.name, name, digest=digest, tag=tag) for tag in named]
            if charge is not None and (warning := charge.warning()) is not None:
                events.append(Event(EventType.QUOTA_WARNING, principal.name, name, digest=digest, details=warning))
            await outbox.record(tx, events)
        return repository_id, digest, accessories

    @staticmethod
    async def _refuse_moving(tx: Executor, project_id: int, repository: str, tags: Sequence[str], digest: str) -> None:
        """A copy may create an immutable tag in the destination, or land on one naming the same digest;
        moving one is refused (Harbor's tag controller: "cannot be updated"). Each protected tag is locked
        (services.common.immutable_store.lock_tag) before its digest is read, as the registry's push does."""
        if not tags:
            return
        rules = await enabled_rules(tx, project_id)
        path = split_repository(repository)[1]
        for tag in tags:
            rule = protecting_rule(rules, path, tag)
            if rule is None:
                continue
            await lock_tag(tx, repository, tag)
            current = await tag_digest(tx, repository, tag)
            if current is not None and current != digest:
                raise TagImmutable(f"the tag {tag[:130]} configured as immutable, cannot be updated")

    async def list_tags(
        self,
        principal: Principal,
        ref: ProjectRef,
        path: str,
        artifact: ArtifactRef,
        terms: Sequence[Term],
        sort: Sequence[SortKey],
        page: Page,
    ) -> tuple[builtins.list[TagView], int]:
        project, _ = await self._projects.resolve(principal, ref, Resource.TAG, Action.LIST)
        found = await self._find(project, full_name(project, path), artifact)
        tags, total = await tag_store.list_tags(self._db.pool, found.id, terms, sort, page)
        rules = await enabled_rules(self._db.pool, project.id) if tags else []
        return builtins.list(_marked_tags(rules, tags, found.repository)), total

    async def create_tag(
        self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef, tag: str
    ) -> None:
        if not is_valid_tag(tag):
            raise BadRequest(f"tag name {tag[:100]!r} does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")
        project, _ = await self._projects.resolve(principal, ref, Resource.TAG, Action.CREATE)
        require_writable(self._config)
        name = full_name(project, path)
        async with self._db.transaction() as tx:
            found = await artifact_store.lock_artifact(tx, name, artifact)
            if found is None:
                raise ArtifactNotFound(f"artifact {name[:200]} {artifact} not found")
            artifact_id, repository_id, digest = found
            if await tag_store.create_tag(tx, repository_id, artifact_id, tag) is None:
                raise Conflict(f"tag {tag} already exists in repository {name[:200]}")
            await outbox.record(tx, [Event(EventType.CREATE_TAG, principal.name, name, digest=digest, tag=tag)])
        self._cache.invalidate(repository_id)
        log.info("tag_created", repository=name, tag=tag, digest=digest)

    async def delete_tag(
        self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef, tag: str
    ) -> None:
        project, _ = await self._projects.resolve(principal, ref, Resource.TAG, Action.DELETE)
        require_writable(self._config)
        name = full_name(project, path)
        async with self._db.transaction() as tx:
            found = await artifact_store.lock_artifact(tx, name, artifact)
            if found is None:
                raise ArtifactNotFound(f"artifact {name[:200]} {artifact} not found")
            artifact_id, repository_id, digest = found
            if tag in await artifact_tags(tx, artifact_id) and await protected_tag(tx, project.id, name, [tag]):
                raise undeletable(tag)
            if not await tag_store.delete_tag(tx, artifact_id, tag):
                raise TagNotFound(f"tag {tag[:130]} not found on artifact {digest}")
            await outbox.record(tx, [Event(EventType.DELETE_TAG, principal.name, name, digest=digest, tag=tag)])
        self._cache.invalidate(repository_id)
        log.info("tag_deleted", repository=name, tag=tag, digest=digest)

    async def _labelled(
        self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef, action: Action
    ) -> tuple[int, int, str]:
        """(project id, artifact id, repository name) once the caller may `action` artifact labels there."""
        project, _ = await self._projects.resolve(principal, ref, Resource.ARTIFACT_LABEL, action)
        name = full_name(project, path)
        found = await artifact_store.artifact_id(self._db.pool, name, artifact)
        if found is None:
            raise ArtifactNotFound(f"artifact {name[:200]}{'@' if artifact.digest else ':'}{artifact} not found")
        return project.id, found, name

    async def add_label(
        self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef, label_id: int
    ) -> None:
        """Harbor's AddLabel: a global label or one of the artifact's project. Label changes empty this
        process's list cache at once (rare; the notifications of migration 0009 tell every process)."""
        project_id, artifact_id, name = await self._labelled(principal, ref, path, artifact, Action.CREATE)
        await self._labels.attachable(principal, label_id, project_id)
        attached = await artifact_store.attach_label(self._db.pool, artifact_id, label_id)
        self._cache.clear()
        if not attached:
            raise Conflict(f"label {label_id} is already added to the artifact")
        log.info("label_attached", label_id=label_id, repository=name, artifact_id=artifact_id, by=principal.name)

    async def remove_label(
        self, principal: Principal, ref: ProjectRef, path: str, artifact: ArtifactRef, label_id: int
    ) -> None:
        _, artifact_id, name = await self._labelled(principal, ref, path, artifact, Action.DELETE)
        detached = await artifact_store.detach_label(self._db.pool, artifact_id, label_id)
        self._cache.clear()
        if not detached:
            raise NotFound(f"label {label_id} is not added to the artifact")
        log.info("label_detached", label_id=label_id, repository=name, artifact_id=artifact_id, by=principal.name)
