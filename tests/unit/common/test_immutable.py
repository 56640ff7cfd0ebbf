"""Immutable tag rules' matching (doublestar globs as Harbor's bmatcuk/doublestar), pattern validation
and the rules API's field checks: pure functions, no I/O."""

from __future__ import annotations

import pytest

from services.common.immutable import (
    ImmutableRule,
    Selector,
    glob_match,
    immutable_message,
    pattern_problem,
    protecting_rule,
    split_repository,
)
from services.core.immutable.models import RuleFields, field_problem


def rule(rule_id: int, repo: str, tag: str, *, repo_deco: str = "repoMatches", tag_deco: str = "matches",
         disabled: bool = False, priority: int = 0) -> ImmutableRule:  # fmt: skip
    return ImmutableRule(
        id=rule_id,
        project_id=1,
        priority=priority,
        disabled=disabled,
        tag_selectors=(Selector("doublestar", tag_deco, tag),),
        scope_selectors={"repository": (Selector("doublestar", repo_deco, repo),)},
    )


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("**", "a/b/c", True),
        ("*", "a/b", False),
        ("*", "app", True),
        ("app/**", "app/web/x", True),
        ("**/web", "web", True),
        ("**/web", "team/web", True),
        ("v{1,2}.*", "v1.0", True),
        ("v{1,2}.*", "v3.0", False),
        ("1.?", "1.0", True),
        ("[a-c]pp", "bpp", True),
        ("*", ".hidden", True),
        ("release-*", "release-1.0", True),
        ("release-*", "dev-1", False),
    ],
)
def test_doublestar_semantics(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected


@pytest.mark.parametrize("pattern", ["", "[abc", "{a,b", "a}", "abc\\", "a\x00", "x" * 257])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    assert pattern_problem(pattern) is not None


@pytest.mark.parametrize("pattern", ["**", "v{1,2}.*", "[a-c]*", "\\[literal\\]", "a/**/b"])
def test_good_patterns_pass(pattern: str) -> None:
    assert pattern_problem(pattern) is None


def test_a_rule_needs_both_selectors_and_disabled_rules_do_not_apply() -> None:
    rules = [rule(1, "app", "1.*"), rule(2, "**", "latest", disabled=True)]
    assert protecting_rule(rules, "app", "1.0") == rules[0]
    assert protecting_rule(rules, "other", "1.0") is None
    assert protecting_rule(rules, "app", "latest") is None


def test_excludes_and_priority() -> None:
    rules = [rule(5, "tmp/**", "dev-*", repo_deco="repoExcludes", tag_deco="excludes", priority=2), rule(3, "**", "v*")]
    assert protecting_rule(rules, "app", "v1").id == 3  # type: ignore[union-attr]
    assert protecting_rule(rules, "app", "1.0").id == 5  # type: ignore[union-attr]
    assert protecting_rule(rules, "tmp/x", "1.0") is None
    assert protecting_rule(rules, "app", "dev-1") is None


def test_repository_without_project_and_message() -> None:
    assert split_repository("library/app/web") == ("library", "app/web")
    assert immutable_message("app", "1.0", rule(7, "**", "**")) == (
        "Failed to process request due to 'app:1.0' configured as immutable. (immutable tag rule 7)"
    )


def fields(**changes: object) -> RuleFields:
    base: dict[str, object] = {
        "priority": 0,
        "disabled": False,
        "action": "immutable",
        "template": "immutable_template",
        "params": {},
        "tag_selectors": (Selector("doublestar", "matches", "**"),),
        "scope_selectors": {"repository": (Selector("doublestar", "repoMatches", "**"),)},
    }
    base.update(changes)
    return RuleFields(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"action": "retain"}, "action"),
        ({"template": "latestPushedK"}, "template"),
        ({"params": {"latestPushedK": 3}}, "params.latestPushedK"),
        ({"tag_selectors": ()}, "tag_selectors"),
        ({"tag_selectors": (Selector("regex", "matches", "x"),)}, "tag_selectors[0].kind"),
        ({"tag_selectors": (Selector("doublestar", "repoMatches", "x"),)}, "tag_selectors[0].decoration"),
        ({"tag_selectors": (Selector("doublestar", "matches", "[x"),)}, "tag_selectors[0].pattern"),
        ({"scope_selectors": {}}, "scope_selectors.repository"),
        ({"scope_selectors": {"namespace": ()}}, "scope_selectors.namespace"),
        (
            {"scope_selectors": {"repository": (Selector("doublestar", "matches", "x"),)}},
            "scope_selectors.repository[0].decoration",
        ),
        (
            {"scope_selectors": {"repository": (Selector("doublestar", "repoMatches", ""),)}},
            "scope_selectors.repository[0].pattern",
        ),
    ],
)
def test_field_problems_name_the_field(changes: dict[str, object], field: str) -> None:
    problem = field_problem(fields(**changes))
    assert problem is not None and problem.startswith(field), problem


def test_good_fields() -> None:
    assert field_problem(fields()) is None
