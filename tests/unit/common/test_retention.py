"""Tag retention policies: Harbor's policy JSON (parse, validate, serialize back) and which artifacts a policy
retains in a repository (rules OR'ed, tag and repository selectors, templates, immutable tags): pure
functions, no I/O."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.retention import (
    MAX_RULES,
    METADATA,
    TEMPLATES,
    Candidate,
    Decision,
    Policy,
    Rule,
    Selector,
    applies,
    display_text,
    evaluate,
    parse_policy,
    policy_json,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def art(
    id: int, *tags: str, pushed: float = 10, pulled: float | None = None, immutable: bool = False
) -> Candidate:  # fmt: skip
    """Artifact `id`, pushed `pushed` days ago and last pulled `pulled` days ago (None: never)."""
    return Candidate(
        id=id,
        digest=f"sha256:{id:064x}",
        tags=tags,
        pushed_at=days_ago(pushed),
        pulled_at=None if pulled is None else days_ago(pulled),
        immutable=immutable,
    )


def tag(pattern: str = "**", decoration: str = "matches", *, untagged: bool = False) -> Selector:
    return Selector("doublestar", decoration, pattern, untagged)


def repo(pattern: str = "**", decoration: str = "repoMatches") -> Selector:
    return Selector("doublestar", decoration, pattern)


def rule(
    template: str, n: int | None = None, *, id: int = 1, tags: Sequence[Selector] = (), repos: Sequence[Selector] = (),
    disabled: bool = False,
) -> Rule:  # fmt: skip
    return Rule(
        id=id,
        priority=0,
        disabled=disabled,
        action="retain",
        template=template,
        params={} if n is None else {template: n},
        tag_selectors=tuple(tags) or (tag(untagged=True),),
        scope_selectors=tuple(repos) or (repo(),),
    )


def policy(*rules: Rule, cron: str | None = None) -> Policy:
    return Policy(algorithm="or", rules=rules, cron=cron, project_id=1)


def kept(decisions: list[Decision]) -> list[int]:
    return [d.candidate.id for d in decisions if d.retained]


def run(p: Policy, candidates: Sequence[Candidate], repository: str = "app") -> list[int]:
    return kept(evaluate(p, repository, candidates, NOW))


# --- templates -----------------------------------------------------------------------------------------


def test_latest_pushed_k_keeps_the_k_most_recently_pushed() -> None:
    candidates = [art(1, "a", pushed=5), art(2, "b", pushed=1), art(3, "c", pushed=3), art(4, "d", pushed=2)]
    assert run(policy(rule("latestPushedK", 2)), candidates) == [2, 4]
    assert run(policy(rule("latestPushedK", 0)), candidates) == []


def test_latest_pushed_k_larger_than_the_candidates_keeps_them_all() -> None:
    candidates = [art(1, "a", pushed=5), art(2, "b", pushed=1)]
    assert run(policy(rule("latestPushedK", 10)), candidates) == [1, 2]
    assert evaluate(policy(rule("latestPushedK", 10)), "app", [], NOW) == []


def test_latest_pushed_k_ties_go_to_the_newer_id() -> None:
    candidates = [art(7, "a", pushed=1), art(9, "b", pushed=1), art(8, "c", pushed=1), art(1, "d", pushed=0)]
    assert run(policy(rule("latestPushedK", 2)), candidates) == [9, 1]
    assert run(policy(rule("latestPushedK", 3)), candidates) == [9, 8, 1]


def test_latest_pulled_n_keeps_the_n_most_recently_pulled() -> None:
    candidates = [art(1, "a", pulled=5), art(2, "b", pulled=1), art(3, "c", pulled=3), art(4, "d", pulled=9)]
    assert run(policy(rule("latestPulledN", 2)), candidates) == [2, 3]
    assert run(policy(rule("latestPulledN", 0)), candidates) == []


def test_latest_pulled_n_ties_go_to_the_newer_id() -> None:
    candidates = [art(3, "a", pulled=1), art(5, "b", pulled=1), art(4, "c", pulled=1)]
    assert run(policy(rule("latestPulledN", 1)), candidates) == [5]


def test_latest_pulled_n_fills_with_never_pulled_ones_only_after_every_pulled_one() -> None:
    # Harbor's latestpl sorts by pull time and takes N: never-pulled artifacts sort last (newer id first).
    candidates = [art(1, "a"), art(2, "b", pulled=30), art(3, "c"), art(4, "d", pulled=2)]
    assert run(policy(rule("latestPulledN", 2)), candidates) == [2, 4]
    assert run(policy(rule("latestPulledN", 3)), candidates) == [2, 3, 4]
    assert run(policy(rule("latestPulledN", 10)), candidates) == [1, 2, 3, 4]


def test_n_days_since_last_push() -> None:
    candidates = [art(1, "a", pushed=8), art(2, "b", pushed=7), art(3, "c", pushed=6.9), art(4, "d", pushed=-1)]
    # The boundary is inclusive (Harbor: pushed >= now - N days); a push "in the future" counts as recent.
    assert run(policy(rule("nDaysSinceLastPush", 7)), candidates) == [2, 3, 4]
    assert run(policy(rule("nDaysSinceLastPush", 0)), candidates) == [4]


def test_n_days_since_last_pull_never_keeps_a_never_pulled_artifact() -> None:
    candidates = [art(1, "a", pulled=8), art(2, "b", pulled=7), art(3, "c", pushed=0), art(4, "d", pulled=0.5)]
    assert run(policy(rule("nDaysSinceLastPull", 7)), candidates) == [2, 4]
    assert run(policy(rule("nDaysSinceLastPull", 20190904)), candidates) == [1, 2, 4]


def test_always_and_nothing() -> None:
    candidates = [art(1, "a"), art(2), art(3, "c", pushed=900)]
    assert run(policy(rule("always")), candidates) == [1, 2, 3]
    assert run(policy(rule("nothing")), candidates) == []


def test_the_days_bound_never_overflows_datetime() -> None:
    candidates = [art(1, "a", pushed=365 * 2000)]
    assert run(policy(rule("nDaysSinceLastPush", 20190904)), candidates) == [1]


# --- tag selectors -------------------------------------------------------------------------------------


def test_matches_needs_one_matching_tag() -> None:
    candidates = [art(1, "v1.0", "latest"), art(2, "dev-1"), art(3, "v2.0")]
    assert run(policy(rule("always", tags=[tag("v*")])), candidates) == [1, 3]
    assert run(policy(rule("always", tags=[tag("{latest,dev-*}")])), candidates) == [1, 2]


def test_excludes_needs_one_tag_not_matching() -> None:
    # Harbor's tagSelectExclude: an artifact is selected when any of its tags escapes the pattern.
    candidates = [art(1, "dev-1", "v1.0"), art(2, "dev-2"), art(3, "v2.0")]
    assert run(policy(rule("always", tags=[tag("dev-*", "excludes")])), candidates) == [1, 3]


def test_untagged_artifacts_follow_the_untagged_flag() -> None:
    candidates = [art(1), art(2, "v1")]
    # matches: the flag lets untagged artifacts in.
    assert run(policy(rule("always", tags=[tag("**", untagged=True)])), candidates) == [1, 2]
    assert run(policy(rule("always", tags=[tag("**", untagged=False)])), candidates) == [2]
    # excludes: the flag excludes them too (Harbor: an untagged artifact passes excludes iff not untagged).
    assert run(policy(rule("always", tags=[tag("x", "excludes", untagged=True)])), candidates) == [2]
    assert run(policy(rule("always", tags=[tag("x", "excludes", untagged=False)])), candidates) == [1, 2]


def test_every_tag_selector_of_a_rule_must_select() -> None:
    candidates = [art(1, "v1.0"), art(2, "v1.0-rc1"), art(3, "v2.0")]
    selectors = [tag("v1.*"), tag("*-rc*", "excludes")]
    assert run(policy(rule("always", tags=selectors)), candidates) == [1]


def test_the_template_counts_only_the_candidates_the_tag_selectors_pass() -> None:
    candidates = [art(1, "v1", pushed=3), art(2, "dev", pushed=1), art(3, "v2", pushed=2), art(4, "v3", pushed=4)]
    assert run(policy(rule("latestPushedK", 2, tags=[tag("v*")])), candidates) == [1, 3]


# --- rules together ------------------------------------------------------------------------------------


def test_rules_are_ored_and_the_first_retaining_rule_is_the_reason() -> None:
    p = policy(
        rule("latestPushedK", 1, id=1, tags=[tag("dev-*")]),
        rule("always", id=2, tags=[tag("v*")]),
        rule("nDaysSinceLastPush", 3, id=3),
    )
    candidates = [art(1, "dev-1", pushed=5), art(2, "dev-2", pushed=4), art(3, "v1", pushed=30), art(4, "x", pushed=1)]
    decisions = evaluate(p, "app", candidates, NOW)
    assert [(d.candidate.id, d.retained, d.reason) for d in decisions] == [
        (1, False, "no rule retains it"),
        (2, True, "rule 1: the most recently pushed 1 artifacts"),
        (3, True, "rule 2: always"),
        (4, True, "rule 3: pushed within the last 3 days"),
    ]


def test_the_reason_names_the_first_rule_in_the_policy_order() -> None:
    p = policy(rule("always", id=7, tags=[tag("v*")]), rule("latestPushedK", 5, id=2))
    assert evaluate(p, "app", [art(1, "v1")], NOW)[0].reason == "rule 7: always"


def test_disabled_rules_are_ignored() -> None:
    p = policy(rule("always", id=1, disabled=True), rule("latestPushedK", 1, id=2))
    candidates = [art(1, "a", pushed=2), art(2, "b", pushed=1)]
    assert run(p, candidates) == [2]
    only_disabled = policy(rule("nothing", id=1, disabled=True))
    assert not applies(only_disabled, "app")
    assert {d.reason for d in evaluate(only_disabled, "app", candidates, NOW)} == {"no rule applies to the repository"}


def test_a_repository_is_judged_only_by_the_rules_that_select_it() -> None:
    p = policy(rule("always", id=1, repos=[repo("web")]), rule("latestPushedK", 1, id=2, repos=[repo("api")]))
    candidates = [art(1, "a", pushed=2), art(2, "b", pushed=1)]
    assert run(p, candidates, "web") == [1, 2]
    assert run(p, candidates, "api") == [2]


def test_decisions_keep_the_candidates_order() -> None:
    candidates = [art(5, "e", pushed=1), art(2, "b", pushed=9), art(9, "z", pushed=3)]
    decisions = evaluate(policy(rule("latestPushedK", 2)), "app", candidates, NOW)
    assert [d.candidate for d in decisions] == candidates
    assert [d.retained for d in decisions] == [True, False, True]


def test_display_text_puts_the_number_in() -> None:
    assert display_text(rule("latestPushedK", 10)) == "the most recently pushed 10 artifacts"
    assert display_text(rule("latestPulledN", 3)) == "the most recently pulled 3 artifacts"
    assert display_text(rule("nDaysSinceLastPush", 7)) == "pushed within the last 7 days"
    assert display_text(rule("nDaysSinceLastPull", 30)) == "pulled within the last 30 days"
    assert display_text(rule("always")) == "always"
    assert display_text(rule("nothing")) == "none"


# --- immutable -----------------------------------------------------------------------------------------


def test_immutable_artifacts_are_never_removed() -> None:
    candidates = [art(1, "v1", pushed=9, immutable=True), art(2, "v2", pushed=1), art(3, "v3", pushed=5)]
    decisions = evaluate(policy(rule("latestPushedK", 1, id=4)), "app", candidates, NOW)
    assert [(d.retained, d.reason) for d in decisions] == [
        (True, "immutable"),
        (True, "rule 4: the most recently pushed 1 artifacts"),
        (False, "no rule retains it"),
    ]
    assert kept(evaluate(policy(rule("nothing")), "app", candidates, NOW)) == [1]


def test_an_immutable_artifact_a_rule_retains_names_the_rule() -> None:
    # Harbor's retain performer asks about immutability only for what no rule retained.
    decisions = evaluate(policy(rule("always", id=3)), "app", [art(1, "v1", immutable=True)], NOW)
    assert decisions[0].reason == "rule 3: always"


def test_an_immutable_artifact_counts_against_latest_k() -> None:
    # The template sees every candidate its tag selectors pass, immutable or not, as Harbor's does.
    candidates = [art(1, "a", pushed=1, immutable=True), art(2, "b", pushed=2)]
    assert run(policy(rule("latestPushedK", 1)), candidates) == [1]


# --- repository scope ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "repository", "expected"),
    [
        ([repo("**")], "team/app", True),
        ([repo("*")], "team/app", False),
        ([repo("*")], "app", True),
        ([repo("team/**")], "team/app/web", True),
        ([repo("team/**")], "other/app", False),
        ([repo("**/web")], "web", True),
        ([repo("**/web")], "team/app/web", True),
        ([repo("{app,api}")], "api", True),
        ([repo("app", "repoExcludes")], "app", False),
        ([repo("app", "repoExcludes")], "api", True),
        ([repo("tmp/**", "repoExcludes")], "tmp/x/y", False),
        ([repo("tmp/**", "repoExcludes")], "team/tmp", True),
        ([repo("team/**"), repo("team/tmp*", "repoExcludes")], "team/app", True),
        ([repo("team/**"), repo("team/tmp*", "repoExcludes")], "team/tmp1", False),
    ],
)
def test_repository_scope(selectors: list[Selector], repository: str, expected: bool) -> None:
    p = policy(rule("nothing", repos=selectors))
    assert applies(p, repository) is expected


def test_a_repository_no_rule_selects_keeps_everything() -> None:
    p = policy(rule("nothing", repos=[repo("web/**")]))
    candidates = [art(1, "a"), art(2), art(3, "c", immutable=True)]
    decisions = evaluate(p, "api", candidates, NOW)
    assert [(d.retained, d.reason) for d in decisions] == [(True, "no rule applies to the repository")] * 3
    assert kept(evaluate(p, "web/x", candidates, NOW)) == [3]


def test_a_policy_without_rules_touches_nothing() -> None:
    p = policy()
    assert not applies(p, "app")
    assert kept(evaluate(p, "app", [art(1, "a")], NOW)) == [1]


# --- parse_policy --------------------------------------------------------------------------------------


def harbor_rule(**changes: Any) -> dict[str, Any]:
    """A rule as Harbor's UI sends it."""
    body: dict[str, Any] = {
        "priority": 0,
        "disabled": False,
        "action": "retain",
        "template": "latestPushedK",
        "params": {"latestPushedK": 10},
        "tag_selectors": [
            {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": '{"untagged":true}'}
        ],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    }
    body.update(changes)
    return body


def harbor_policy(*rules: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "algorithm": "or",
        "rules": list(rules) or [harbor_rule()],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}, "references": {}},
        "scope": {"level": "project", "ref": 3},
    }
    body.update(changes)
    return body


def test_parse_harbors_policy() -> None:
    p = parse_policy(
        harbor_policy(
            harbor_rule(),
            harbor_rule(
                id=9,
                priority=2,
                disabled=True,
                template="always",
                params={},
                tag_selectors=[{"kind": "doublestar", "decoration": "excludes", "pattern": "dev-*", "extras": ""}],
                scope_selectors={
                    "repository": [
                        {"kind": "doublestar", "decoration": "repoMatches", "pattern": "team/**"},
                        {"kind": "doublestar", "decoration": "repoExcludes", "pattern": "team/tmp", "extras": ""},
                    ]
                },
            ),
        )
    )
    assert p == Policy(
        algorithm="or",
        rules=(
            Rule(1, 0, False, "retain", "latestPushedK", {"latestPushedK": 10}, (tag(untagged=True),), (repo(),)),
            Rule(
                9,
                2,
                True,
                "retain",
                "always",
                {},
                (tag("dev-*", "excludes"),),
                (repo("team/**"), repo("team/tmp", "repoExcludes")),
            ),
        ),
        cron="0 0 0 * * *",
        project_id=3,
    )


def test_rule_ids_are_kept_or_assigned_in_order() -> None:
    assert [r.id for r in parse_policy(harbor_policy(harbor_rule(), harbor_rule(), harbor_rule())).rules] == [1, 2, 3]
    rules = [harbor_rule(id=2), harbor_rule(), harbor_rule(id=0), harbor_rule(id=5)]
    assert [r.id for r in parse_policy(harbor_policy(*rules)).rules] == [2, 1, 3, 5]


def test_untagged_defaults_as_harbors_when_extras_say_nothing() -> None:
    # Harbor's doublestar.New: matches keeps untagged artifacts unless told otherwise; excludes lets them through.
    selectors = [
        {"kind": "doublestar", "decoration": "matches", "pattern": "**"},
        {"kind": "doublestar", "decoration": "excludes", "pattern": "x", "extras": ""},
        {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": '{"untagged": false}'},
        {"kind": "doublestar", "decoration": "excludes", "pattern": "x", "extras": '{"untagged":true}'},
        {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{}"},
    ]
    p = parse_policy(harbor_policy(*(harbor_rule(tag_selectors=[s]) for s in selectors)))
    assert [r.tag_selectors[0].untagged for r in p.rules] == [True, False, False, True, False]
    untagged = art(1)
    assert [evaluate(Policy("or", (r,), None, 3), "app", [untagged], NOW)[0].retained for r in p.rules] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_schedule_trigger() -> None:
    assert parse_policy(harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": ""}})).cron is None
    assert parse_policy(harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": "  "}})).cron is None
    without_trigger = harbor_policy()
    del without_trigger["trigger"]
    assert parse_policy(without_trigger).cron is None
    assert parse_policy(harbor_policy(trigger=None)).cron is None
    weekly = {"kind": "Schedule", "settings": {"cron": "0  0 0 * * 0"}}
    assert parse_policy(harbor_policy(trigger=weekly)).cron == "0 0 0 * * 0"


def test_policy_id_and_unknown_keys_are_ignored_and_the_input_is_not_changed() -> None:
    data = harbor_policy(id=77, extra="x")
    data["rules"][0]["unknown"] = 1
    before = copy.deepcopy(data)
    assert parse_policy(data).project_id == 3
    assert data == before


def test_empty_rules_and_integral_numbers() -> None:
    assert parse_policy(harbor_policy(rules=[])).rules == ()
    p = parse_policy(harbor_policy(harbor_rule(params={"latestPushedK": 3.0}), scope={"level": "project", "ref": 4.0}))
    assert p.rules[0].params == {"latestPushedK": 3} and p.project_id == 4
    assert parse_policy(harbor_policy(harbor_rule(template="always", params=None))).rules[0].params == {}


def test_duplicate_rules_are_allowed() -> None:
    assert len(parse_policy(harbor_policy(harbor_rule(), harbor_rule())).rules) == 2


def test_up_to_max_rules() -> None:
    assert len(parse_policy(harbor_policy(*[harbor_rule()] * MAX_RULES)).rules) == MAX_RULES


def test_parameter_bounds_are_harbors() -> None:
    assert parse_policy(harbor_policy(harbor_rule(params={"latestPushedK": 32766}))).rules[0].params == {
        "latestPushedK": 32766
    }
    days = harbor_rule(template="nDaysSinceLastPull", params={"nDaysSinceLastPull": 20190904})
    assert parse_policy(harbor_policy(days)).rules[0].params == {"nDaysSinceLastPull": 20190904}


def selector(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "doublestar", "decoration": "matches", "pattern": "**"}
    body.update(changes)
    return body


def scope(**changes: Any) -> dict[str, Any]:
    return {"repository": [selector(decoration="repoMatches", **changes)]}


def without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


BAD_POLICIES: list[tuple[Any, str]] = [
    ([], "policy"),
    (harbor_policy(algorithm="and"), "algorithm"),
    (without(harbor_policy(), "algorithm"), "algorithm"),
    (harbor_policy(rules={"0": harbor_rule()}), "rules"),
    (harbor_policy(*[harbor_rule()] * (MAX_RULES + 1)), "rules"),
    (harbor_policy(rules=["x"]), "rules[0]"),
    (harbor_policy(harbor_rule(), harbor_rule(template="latestActiveK")), "rules[1].template"),
    (harbor_policy(harbor_rule(template=None)), "rules[0].template"),
    (harbor_policy(harbor_rule(action="delete")), "rules[0].action"),
    (harbor_policy(harbor_rule(action="immutable")), "rules[0].action"),
    (harbor_policy(harbor_rule(id="1")), "rules[0].id"),
    (harbor_policy(harbor_rule(id=-1)), "rules[0].id"),
    (harbor_policy(harbor_rule(id=2), harbor_rule(id=2)), "rules[1].id"),
    (harbor_policy(harbor_rule(priority="high")), "rules[0].priority"),
    (harbor_policy(harbor_rule(disabled="no")), "rules[0].disabled"),
    (harbor_policy(harbor_rule(params=[10])), "rules[0].params"),
    (harbor_policy(harbor_rule(params={})), "rules[0].params.latestPushedK"),
    (harbor_policy(harbor_rule(params=None)), "rules[0].params.latestPushedK"),
    (harbor_policy(harbor_rule(params={"latestPulledN": 10})), "rules[0].params.latestPulledN"),
    (harbor_policy(harbor_rule(params={"latestPushedK": 10, "n": 1})), "rules[0].params.n"),
    (harbor_policy(harbor_rule(template="always", params={"always": 1})), "rules[0].params.always"),
    (harbor_policy(harbor_rule(params={"latestPushedK": "10"})), "rules[0].params.latestPushedK"),
    (harbor_policy(harbor_rule(params={"latestPushedK": 1.5})), "rules[0].params.latestPushedK"),
    (harbor_policy(harbor_rule(params={"latestPushedK": True})), "rules[0].params.latestPushedK"),
    (harbor_policy(harbor_rule(params={"latestPushedK": None})), "rules[0].params.latestPushedK"),
    (harbor_policy(harbor_rule(params={"latestPushedK": -1})), "rules[0].params.latestPushedK"),
    (harbor_policy(harbor_rule(params={"latestPushedK": 32767})), "rules[0].params.latestPushedK"),
    (
        harbor_policy(harbor_rule(template="nDaysSinceLastPush", params={"nDaysSinceLastPush": 20190905})),
        "rules[0].params.nDaysSinceLastPush",
    ),
    (harbor_policy(harbor_rule(tag_selectors=[])), "rules[0].tag_selectors"),
    (harbor_policy(harbor_rule(tag_selectors=None)), "rules[0].tag_selectors"),
    (harbor_policy(harbor_rule(tag_selectors=selector())), "rules[0].tag_selectors"),
    (harbor_policy(harbor_rule(tag_selectors=["**"])), "rules[0].tag_selectors[0]"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(), selector(kind="regex")])), "rules[0].tag_selectors[1].kind"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(kind="label")])), "rules[0].tag_selectors[0].kind"),
    (
        harbor_policy(harbor_rule(tag_selectors=[selector(decoration="repoMatches")])),
        "rules[0].tag_selectors[0].decoration",
    ),
    (harbor_policy(harbor_rule(tag_selectors=[selector(decoration=None)])), "rules[0].tag_selectors[0].decoration"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(pattern="")])), "rules[0].tag_selectors[0].pattern"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(pattern=None)])), "rules[0].tag_selectors[0].pattern"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(pattern="x" * 257)])), "rules[0].tag_selectors[0].pattern"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(pattern="[abc")])), "rules[0].tag_selectors[0].pattern"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(pattern="{a,b")])), "rules[0].tag_selectors[0].pattern"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(pattern="a\\")])), "rules[0].tag_selectors[0].pattern"),
    # More brace expansions than wcmatch will make: matching it would raise later.
    (harbor_policy(harbor_rule(tag_selectors=[selector(pattern="{a,b}" * 10)])), "rules[0].tag_selectors[0].pattern"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(extras="untagged")])), "rules[0].tag_selectors[0].extras"),
    (harbor_policy(harbor_rule(tag_selectors=[selector(extras="[true]")])), "rules[0].tag_selectors[0].extras"),
    (
        harbor_policy(harbor_rule(tag_selectors=[selector(extras={"untagged": True})])),
        "rules[0].tag_selectors[0].extras",
    ),
    (
        harbor_policy(harbor_rule(tag_selectors=[selector(extras='{"untagged":"yes"}')])),
        "rules[0].tag_selectors[0].extras.untagged",
    ),
    (harbor_policy(harbor_rule(scope_selectors=None)), "rules[0].scope_selectors"),
    (harbor_policy(harbor_rule(scope_selectors={})), "rules[0].scope_selectors.repository"),
    (harbor_policy(harbor_rule(scope_selectors={"repository": []})), "rules[0].scope_selectors.repository"),
    (harbor_policy(harbor_rule(scope_selectors={**scope(), "project": []})), "rules[0].scope_selectors.project"),
    (harbor_policy(harbor_rule(scope_selectors=scope(kind="regex"))), "rules[0].scope_selectors.repository[0].kind"),
    (
        harbor_policy(harbor_rule(scope_selectors={"repository": [selector()]})),
        "rules[0].scope_selectors.repository[0].decoration",
    ),
    (
        harbor_policy(harbor_rule(scope_selectors={"repository": [selector(decoration="nsMatches")]})),
        "rules[0].scope_selectors.repository[0].decoration",
    ),
    (harbor_policy(harbor_rule(scope_selectors=scope(pattern=""))), "rules[0].scope_selectors.repository[0].pattern"),
    (harbor_policy(harbor_rule(scope_selectors=scope(pattern="a}"))), "rules[0].scope_selectors.repository[0].pattern"),
    (harbor_policy(harbor_rule(scope_selectors=scope(extras="{"))), "rules[0].scope_selectors.repository[0].extras"),
    (harbor_policy(harbor_rule(scope_selectors=scope(extras="1"))), "rules[0].scope_selectors.repository[0].extras"),
    (harbor_policy(trigger="Schedule"), "trigger"),
    (harbor_policy(trigger={"kind": "Event", "settings": {"cron": ""}}), "trigger.kind"),
    (harbor_policy(trigger={"kind": "Manual", "settings": {}}), "trigger.kind"),
    (harbor_policy(trigger={"settings": {"cron": ""}}), "trigger.kind"),
    (harbor_policy(trigger={"kind": "Schedule"}), "trigger.settings"),
    (harbor_policy(trigger={"kind": "Schedule", "settings": {}}), "trigger.settings.cron"),
    (harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": 5}}), "trigger.settings.cron"),
    (harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": "0 0 * * *"}}), "trigger.settings.cron"),
    (harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": "0 0 0 * * * *"}}), "trigger.settings.cron"),
    (harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": "0 0 25 * * *"}}), "trigger.settings.cron"),
    (harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": "@daily"}}), "trigger.settings.cron"),
    (without(harbor_policy(), "scope"), "scope"),
    (harbor_policy(scope={"level": "system", "ref": 0}), "scope.level"),
    (harbor_policy(scope={"level": "repository", "ref": 3}), "scope.level"),
    (harbor_policy(scope={"ref": 3}), "scope.level"),
    (harbor_policy(scope={"level": "project"}), "scope.ref"),
    (harbor_policy(scope={"level": "project", "ref": 0}), "scope.ref"),
    (harbor_policy(scope={"level": "project", "ref": -3}), "scope.ref"),
    (harbor_policy(scope={"level": "project", "ref": "3"}), "scope.ref"),
    (harbor_policy(scope={"level": "project", "ref": True}), "scope.ref"),
]


@pytest.mark.parametrize(("data", "field"), BAD_POLICIES)
def test_bad_policies_are_refused_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_policy(data)
    message = str(raised.value)
    assert message.startswith(field), message
    # The message names the field itself, not a longer one that starts the same ("rules" vs "rules[0]").
    assert message[len(field) : len(field) + 1] in ("", " ", ":"), message


def test_the_message_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"only 15 rules are allowed at most"):
        parse_policy(harbor_policy(*[harbor_rule()] * 16))
    with pytest.raises(ValueError, match=r"too large: at most 32766"):
        parse_policy(harbor_policy(harbor_rule(params={"latestPushedK": 40000})))
    with pytest.raises(ValueError, match=r"six fields, seconds first"):
        parse_policy(harbor_policy(trigger={"kind": "Schedule", "settings": {"cron": "0 0 * * *"}}))


# --- policy_json ---------------------------------------------------------------------------------------


def test_policy_json_is_harbors_shape() -> None:
    p = parse_policy(harbor_policy(harbor_rule(id=4)))
    assert policy_json(p, 12) == {
        "id": 12,
        "algorithm": "or",
        "rules": [
            {
                "id": 4,
                "priority": 0,
                "disabled": False,
                "action": "retain",
                "template": "latestPushedK",
                "params": {"latestPushedK": 10},
                "tag_selectors": [
                    {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": '{"untagged":true}'}
                ],
                "scope_selectors": {
                    "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**", "extras": ""}]
                },
            }
        ],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
        "scope": {"level": "project", "ref": 3},
    }
    unscheduled = policy_json(parse_policy(harbor_policy(trigger=None)), 1)
    assert unscheduled["trigger"] == {"kind": "Schedule", "settings": {"cron": ""}}


@pytest.mark.parametrize(
    "p",
    [
        policy(),
        policy(rule("always"), cron="0 30 2 * * *"),
        policy(
            rule("latestPushedK", 3, id=2, tags=[tag("v*"), tag("*-rc", "excludes", untagged=True)]),
            rule("latestPulledN", 0, id=1, disabled=True, tags=[tag("**")]),
            rule("nDaysSinceLastPush", 7, id=5, repos=[repo("team/**"), repo("team/tmp", "repoExcludes")]),
            rule("nDaysSinceLastPull", 30, id=6, tags=[tag("x", "excludes")]),
            rule("nothing", id=3),
            cron="0 0 * * * *",
        ),
    ],
)
def test_policy_json_round_trips(p: Policy) -> None:
    data = policy_json(p, 8)
    assert parse_policy(data) == p
    # And through the wire: JSON text, as the API stores and serves it.
    assert parse_policy(json.loads(json.dumps(data))) == p
    assert policy_json(parse_policy(data), 8) == data


def test_harbors_json_round_trips_through_policy_json() -> None:
    p = parse_policy(harbor_policy(harbor_rule(), harbor_rule(template="always", params={})))
    assert parse_policy(policy_json(p, 1)) == p


# --- METADATA ------------------------------------------------------------------------------------------


def test_metadata_is_harbors_retention_metadata() -> None:
    assert set(METADATA) == {"templates", "scope_selectors", "tag_selectors"}
    assert METADATA["templates"] == [
        {
            "rule_template": "latestPushedK",
            "display_text": "the most recently pushed # artifacts",
            "action": "retain",
            "params": [{"type": "int", "unit": "COUNT", "required": True}],
        },
        {
            "rule_template": "latestPulledN",
            "display_text": "the most recently pulled # artifacts",
            "action": "retain",
            "params": [{"type": "int", "unit": "COUNT", "required": True}],
        },
        {
            "rule_template": "nDaysSinceLastPush",
            "display_text": "pushed within the last # days",
            "action": "retain",
            "params": [{"type": "int", "unit": "DAYS", "required": True}],
        },
        {
            "rule_template": "nDaysSinceLastPull",
            "display_text": "pulled within the last # days",
            "action": "retain",
            "params": [{"type": "int", "unit": "DAYS", "required": True}],
        },
        {"rule_template": "always", "display_text": "always", "action": "retain", "params": []},
        {"rule_template": "nothing", "display_text": "none", "action": "retain", "params": []},
    ]
    assert METADATA["scope_selectors"] == [
        {"display_text": "Repositories", "kind": "doublestar", "decorations": ["repoMatches", "repoExcludes"]}
    ]
    assert METADATA["tag_selectors"] == [
        {"display_text": "Tags", "kind": "doublestar", "decorations": ["matches", "excludes"]}
    ]
    json.dumps(METADATA)  # serializable as it is


def test_templates_table() -> None:
    assert dict(TEMPLATES) == {
        "latestPushedK": "COUNT",
        "latestPulledN": "COUNT",
        "nDaysSinceLastPush": "DAYS",
        "nDaysSinceLastPull": "DAYS",
        "always": None,
        "nothing": None,
    }
    assert [t["rule_template"] for t in METADATA["templates"]] == list(TEMPLATES)
