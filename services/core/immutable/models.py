"""An immutable tag rule as the API creates and updates it, and Harbor's rules for its fields. The rule
itself (and how it matches) is services.common.immutable's, shared with the registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.immutable import (
    ACTION,
    KIND,
    REPOSITORY_DECORATIONS,
    REPOSITORY_SCOPE,
    TAG_DECORATIONS,
    TEMPLATE,
    Selector,
    pattern_problem,
)
from services.core.errors import NotFound

# Harbor's immutable_template takes no parameters.
TEMPLATE_PARAMS: Mapping[str, frozenset[str]] = {TEMPLATE: frozenset()}
MAX_PRIORITY = 2**31 - 1


class ImmutableRuleNotFound(NotFound):
    default_message = "immutable tag rule not found"


@dataclass(frozen=True, slots=True)
class RuleFields:
    """What a create or an update sets (an update replaces all of them)."""

    priority: int
    disabled: bool
    action: str
    template: str
    params: Mapping[str, Any]
    tag_selectors: tuple[Selector, ...]
    scope_selectors: Mapping[str, tuple[Selector, ...]]


def _selector_problem(where: str, selector: Selector, decorations: frozenset[str]) -> str | None:
    if selector.kind != KIND:
        return f"{where}.kind must be {KIND!r}, not {selector.kind[:40]!r}"
    if selector.decoration not in decorations:
        return f"{where}.decoration must be one of {', '.join(sorted(decorations))}, not {selector.decoration[:40]!r}"
    if problem := pattern_problem(selector.pattern):
        return f"{where}.pattern {problem}"
    return None


def field_problem(fields: RuleFields) -> str | None:
    """Why Harbor (or Berth) refuses these fields, naming the field; None when they are fine."""
    if fields.action != ACTION:
        return f"action must be {ACTION!r}, not {fields.action[:40]!r}"
    if fields.template not in TEMPLATE_PARAMS:
        return f"template must be {TEMPLATE!r}, not {fields.template[:40]!r}"
    for key in fields.params:
        if key not in TEMPLATE_PARAMS[fields.template]:
            return f"params.{key[:40]} is not a parameter of template {fields.template}"
    if fields.priority > MAX_PRIORITY:
        return f"priority must be at most {MAX_PRIORITY}"
    if len(fields.tag_selectors) != 1:
        return "tag_selectors must hold exactly one selector"
    if problem := _selector_problem("tag_selectors[0]", fields.tag_selectors[0], TAG_DECORATIONS):
        return problem
    for scope in fields.scope_selectors:
        if scope != REPOSITORY_SCOPE:
            return f"scope_selectors.{scope[:40]} is not a scope: only {REPOSITORY_SCOPE} is"
    repositories = fields.scope_selectors.get(REPOSITORY_SCOPE, ())
    if len(repositories) != 1:
        return "scope_selectors.repository must hold exactly one selector"
    return _selector_problem("scope_selectors.repository[0]", repositories[0], REPOSITORY_DECORATIONS)


def selector_json(selector: Selector) -> dict[str, str]:
    return {"kind": selector.kind, "decoration": selector.decoration, "pattern": selector.pattern}
