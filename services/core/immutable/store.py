"""SQL for the immutable tag rules API (the reads both services need are services.common.immutable_store).
`$n` parameters only; a list is two statements (the page and the count)."""

from __future__ import annotations

import json

import asyncpg

from services.common.db import Executor
from services.common.immutable import ImmutableRule
from services.common.immutable_store import COLUMNS, rule_from_row
from services.core.errors import Conflict
from services.core.immutable.models import RuleFields, selector_json
from services.core.listing import Page


def _values(fields: RuleFields) -> tuple[object, ...]:
    return (
        fields.priority,
        fields.disabled,
        fields.action,
        fields.template,
        json.dumps(dict(fields.params)),
        json.dumps([selector_json(s) for s in fields.tag_selectors]),
        json.dumps({k: [selector_json(s) for s in v] for k, v in fields.scope_selectors.items()}),
    )


def _duplicate() -> Conflict:
    return Conflict("an immutable tag rule with the same selectors already exists in the project")


async def list_rules(ex: Executor, project_id: int, page: Page) -> tuple[list[ImmutableRule], int]:
    rows = await ex.fetch(
        f"SELECT {COLUMNS} FROM immutable_tag_rules r WHERE r.project_id = $1 ORDER BY r.priority, r.id"
        " LIMIT $2 OFFSET $3",
        project_id,
        page.size,
        page.offset,
    )
    total = await ex.fetchval("SELECT count(*) FROM immutable_tag_rules WHERE project_id = $1", project_id)
    return [rule_from_row(r) for r in rows], int(total)


async def rule(ex: Executor, project_id: int, rule_id: int) -> ImmutableRule | None:
    row = await ex.fetchrow(
        f"SELECT {COLUMNS} FROM immutable_tag_rules r WHERE r.project_id = $1 AND r.id = $2", project_id, rule_id
    )
    return None if row is None else rule_from_row(row)


async def lock_and_count(ex: Executor, project_id: int) -> int:
    """The project's number of rules, with the project's row locked until the transaction ends, so two
    racing creates cannot both see room for the 15th rule."""
    await ex.execute("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", project_id)
    return int(await ex.fetchval("SELECT count(*) FROM immutable_tag_rules WHERE project_id = $1", project_id))


async def create_rule(ex: Executor, project_id: int, fields: RuleFields) -> ImmutableRule:
    try:
        row = await ex.fetchrow(
            "INSERT INTO immutable_tag_rules AS r (project_id, priority, disabled, action, template, params,"
            f" tag_selectors, scope_selectors) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}",
            project_id,
            *_values(fields),
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate() from None
    assert row is not None
    return rule_from_row(row)


async def update_rule(ex: Executor, project_id: int, rule_id: int, fields: RuleFields) -> ImmutableRule | None:
    """The rule as updated; None when the project has no such rule."""
    try:
        row = await ex.fetchrow(
            "UPDATE immutable_tag_rules AS r SET priority = $3, disabled = $4, action = $5, template = $6,"
            " params = $7, tag_selectors = $8, scope_selectors = $9, updated_at = now()"
            f" WHERE r.project_id = $1 AND r.id = $2 RETURNING {COLUMNS}",
            project_id,
            rule_id,
            *_values(fields),
        )
    except asyncpg.UniqueViolationError:
        raise _duplicate() from None
    return None if row is None else rule_from_row(row)


async def delete_rule(ex: Executor, project_id: int, rule_id: int) -> ImmutableRule | None:
    row = await ex.fetchrow(
        f"DELETE FROM immutable_tag_rules AS r WHERE r.project_id = $1 AND r.id = $2 RETURNING {COLUMNS}",
        project_id,
        rule_id,
    )
    return None if row is None else rule_from_row(row)
