"""SQL for immutable tag rules that both core and the registry read: a project's rules (by id or by name,
rows → `ImmutableRule`), and the transaction-scoped lock that makes a tag's check-then-move atomic. The
rules API's writes are core's (services.core.immutable.store). `$n` parameters only."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.immutable import ImmutableRule, Selector

COLUMNS = (
    "r.id, r.project_id, r.priority, r.disabled, r.action, r.template, r.params, r.tag_selectors, r.scope_selectors"
)


def _selectors(value: Any) -> tuple[Selector, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        Selector(str(s.get("kind", "")), str(s.get("decoration", "")), str(s.get("pattern", "")))
        for s in value
        if isinstance(s, dict)
    )


def rule_from_row(row: asyncpg.Record) -> ImmutableRule:
    scopes = json.loads(row["scope_selectors"])
    params = json.loads(row["params"])
    return ImmutableRule(
        id=row["id"],
        project_id=row["project_id"],
        priority=row["priority"],
        disabled=row["disabled"],
        action=row["action"],
        template=row["template"],
        params=params if isinstance(params, dict) else {},
        tag_selectors=_selectors(json.loads(row["tag_selectors"])),
        scope_selectors={str(k): _selectors(v) for k, v in scopes.items()} if isinstance(scopes, dict) else {},
    )


async def enabled_rules(ex: Executor, project_id: int) -> list[ImmutableRule]:
    rows = await ex.fetch(
        f"SELECT {COLUMNS} FROM immutable_tag_rules r WHERE r.project_id = $1 AND NOT r.disabled"
        " ORDER BY r.priority, r.id",
        project_id,
    )
    return [rule_from_row(r) for r in rows]


async def enabled_rules_of(ex: Executor, project_name: str) -> list[ImmutableRule]:
    """The registry knows a repository's project by the first segment of its name."""
    rows = await ex.fetch(
        f"SELECT {COLUMNS} FROM immutable_tag_rules r JOIN projects p ON p.id = r.project_id"
        " WHERE p.name = $1 AND NOT r.disabled ORDER BY r.priority, r.id",
        project_name,
    )
    return [rule_from_row(r) for r in rows]


async def lock_tag(ex: Executor, repository: str, tag: str) -> None:
    """Serializes, until the transaction ends, everyone who checks and then moves or deletes this tag: two
    racing first pushes of an immutable tag cannot both find it absent. Only taken when a rule applies."""
    await ex.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"immutable-tag:{repository}:{tag}")


async def tag_digest(ex: Executor, repository: str, tag: str) -> str | None:
    """The digest the tag names now (read after `lock_tag`, in the same transaction)."""
    value: str | None = await ex.fetchval(
        "SELECT a.digest FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN artifacts a"
        " ON a.id = t.artifact_id WHERE r.name = $1 AND t.name = $2",
        repository,
        tag,
    )
    return value


async def artifact_tags(ex: Executor, artifact_id: int) -> list[str]:
    rows = await ex.fetch("SELECT name FROM tags WHERE artifact_id = $1 ORDER BY name", artifact_id)
    return [r["name"] for r in rows]


async def repository_tags(ex: Executor, repository_id: int) -> list[str]:
    rows = await ex.fetch("SELECT name FROM tags WHERE repository_id = $1 ORDER BY name", repository_id)
    return [r["name"] for r in rows]
