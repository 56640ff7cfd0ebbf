"""Immutable tag rule rules, as Harbor's: a project's rules are listed, created, changed and deleted by
whoever holds the `immutable-tag` permission there (project admins and maintainers); a project the caller
cannot see is a 404. At most 15 rules per project. Every change is audited in its transaction, and empties
this process's artifact list cache (the tags' `immutable` flags depend on the rules). No aiohttp here."""

from __future__ import annotations

import structlog

from services.common.auth.authenticate import Principal
from services.common.cache import LookupCache
from services.common.db import Database, Executor
from services.common.immutable import MAX_RULES_PER_PROJECT, REPOSITORY_SCOPE, ImmutableRule
from services.common.rbac import Action, Resource
from services.core.auditing import AuditLog
from services.core.errors import BadRequest
from services.core.immutable import store
from services.core.immutable.models import ImmutableRuleNotFound, RuleFields, field_problem
from services.core.listing import Page
from services.core.projects.models import ProjectRef, ProjectView
from services.core.projects.service import ProjectService

log = structlog.get_logger()


def _missing(rule_id: int, project: ProjectView) -> ImmutableRuleNotFound:
    return ImmutableRuleNotFound(f"immutable tag rule {rule_id} not found in project {project.name}")


def _describe(rule: ImmutableRule) -> str:
    repository = rule.scope_selectors.get(REPOSITORY_SCOPE, ())
    tag = rule.tag_selectors
    what = " ".join(f"{s.decoration} {s.pattern}" for s in (*repository[:1], *tag[:1]))
    return f"immutable tag rule {rule.id} ({what})"


class ImmutableRuleService:
    def __init__(self, db: Database, projects: ProjectService, cache: LookupCache, audit: AuditLog) -> None:
        self._db = db
        self._projects = projects
        self._cache = cache
        self._audit_log = audit

    async def _audit(
        self, tx: Executor, principal: Principal, operation: str, rule: ImmutableRule, project: ProjectView
    ) -> None:
        await self._audit_log.record(
            tx,
            operator=principal.name,
            operation=operation,
            resource_type="immutable_rule",
            resource=f"{project.name}/{rule.id}",
            description=f"{operation} {_describe(rule)}",
            project_id=project.id,
            project=project.name,
        )

    async def list(self, principal: Principal, ref: ProjectRef, page: Page) -> tuple[list[ImmutableRule], int]:
        project, _ = await self._projects.resolve(principal, ref, Resource.IMMUTABLE_TAG, Action.LIST)
        return await store.list_rules(self._db.pool, project.id, page)

    async def create(self, principal: Principal, ref: ProjectRef, fields: RuleFields) -> ImmutableRule:
        project, _ = await self._projects.resolve(principal, ref, Resource.IMMUTABLE_TAG, Action.CREATE)
        if problem := field_problem(fields):
            raise BadRequest(problem)
        async with self._db.transaction() as tx:
            if await store.lock_and_count(tx, project.id) >= MAX_RULES_PER_PROJECT:
                raise BadRequest(
                    f"immutable tag rules: project {project.name} already has {MAX_RULES_PER_PROJECT},"
                    " the most a project may have"
                )
            created = await store.create_rule(tx, project.id, fields)
            await self._audit(tx, principal, "create", created, project)
        self._cache.clear()
        log.info("immutable_rule_created", rule_id=created.id, project_id=project.id, by=principal.name)
        return created

    async def update(self, principal: Principal, ref: ProjectRef, rule_id: int, fields: RuleFields) -> ImmutableRule:
        project, _ = await self._projects.resolve(principal, ref, Resource.IMMUTABLE_TAG, Action.UPDATE)
        if problem := field_problem(fields):
            raise BadRequest(problem)
        async with self._db.transaction() as tx:
            updated = await store.update_rule(tx, project.id, rule_id, fields)
            if updated is None:
                raise _missing(rule_id, project)
            await self._audit(tx, principal, "update", updated, project)
        self._cache.clear()
        log.info("immutable_rule_updated", rule_id=rule_id, project_id=project.id, by=principal.name)
        return updated

    async def delete(self, principal: Principal, ref: ProjectRef, rule_id: int) -> None:
        project, _ = await self._projects.resolve(principal, ref, Resource.IMMUTABLE_TAG, Action.DELETE)
        async with self._db.transaction() as tx:
            deleted = await store.delete_rule(tx, project.id, rule_id)
            if deleted is None:
                raise _missing(rule_id, project)
            await self._audit(tx, principal, "delete", deleted, project)
        self._cache.clear()
        log.info("immutable_rule_deleted", rule_id=rule_id, project_id=project.id, by=principal.name)
