"""Harbor's tag retention policies (`src/pkg/retention`): the policy JSON the retention API takes and returns,
and which of a repository's artifacts a policy keeps. Pure functions, no I/O: the API validates with
`parse_policy` and serializes with `policy_json`; the retention job feeds `evaluate` one repository's
artifacts and deletes what it does not retain.

How Harbor evaluates a policy, which this module follows:

- The launcher hands a repository only the enabled rules whose repository selectors all select it
  (`repoMatches` / `repoExcludes`, doublestar patterns on the path inside the project, `app/web` for
  `library/app/web`: the same matching as `services.common.immutable`). A repository no rule selects is not
  touched at all.
- The `or` algorithm: each such rule filters the artifacts through all its tag selectors, then its template
  picks the ones it retains; an artifact is retained if any rule retains it, and every other artifact is
  deleted.
- A tag selector selects a tagged artifact when one of its tags is selected: for `matches` a tag matching
  the pattern, for `excludes` a tag *not* matching it (`src/lib/selector/selectors/doublestar`). The
  `untagged` flag (extras `{"untagged":true}`) says whether untagged artifacts count as matching: `matches`
  selects them when it is set, `excludes` when it is not. Without extras Harbor sets it for `matches` and
  clears it for `excludes`, so by default both keep untagged artifacts in play.
- An artifact no rule retains but that an immutability rule protects is not deleted (Harbor's retain
  performer reports it as an ImmutableError instead).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from services.common.immutable import (
    KIND,
    REPOSITORY_DECORATIONS,
    REPOSITORY_SCOPE,
    TAG_DECORATIONS,
    glob_match,
    pattern_problem,
)
from services.common.jobs.cron import check_cron

ALGORITHM = "or"
ACTION = "retain"
TRIGGER_KIND = "Schedule"
SCOPE_LEVEL = "project"
# Harbor's handler refuses a policy with more than 15 rules ("only 15 rules are allowed at most").
MAX_RULES = 15

COUNT = "COUNT"
DAYS = "DAYS"
# Template → the unit of its one parameter (whose key is the template's name), or None for no parameter.
TEMPLATES: Mapping[str, str | None] = MappingProxyType(
    {
        "latestPushedK": COUNT,
        "latestPulledN": COUNT,
        "nDaysSinceLastPush": DAYS,
        "nDaysSinceLastPull": DAYS,
        "always": None,
        "nothing": None,
    }
)
# Harbor's Valid functions: counts must stay below math.MaxInt16, days at most 20190904.
MAX_PARAM: Mapping[str, int] = MappingProxyType({COUNT: 2**15 - 2, DAYS: 20190904})
# Harbor's display texts (the retention handler's metadata payload); "#" stands for the parameter.
_DISPLAY_TEXT: Mapping[str, str] = MappingProxyType(
    {
        "latestPushedK": "the most recently pushed # artifacts",
        "latestPulledN": "the most recently pulled # artifacts",
        "nDaysSinceLastPush": "pushed within the last # days",
        "nDaysSinceLastPull": "pulled within the last # days",
        "always": "always",
        "nothing": "none",
    }
)

# The body of GET /api/v2.0/retentions/metadatas (Harbor's RetentionMetadata). Read-only by convention:
# handlers serialize it and never change it.
METADATA: dict[str, Any] = {
    "templates": [
        {
            "rule_template": template,
            "display_text": _DISPLAY_TEXT[template],
            "action": ACTION,
            "params": [] if unit is None else [{"type": "int", "unit": unit, "required": True}],
        }
        for template, unit in TEMPLATES.items()
    ],
    "scope_selectors": [{"display_text": "Repositories", "kind": KIND, "decorations": ["repoMatches", "repoExcludes"]}],
    "tag_selectors": [{"display_text": "Tags", "kind": KIND, "decorations": ["matches", "excludes"]}],
}

NO_RULE_APPLIES = "no rule applies to the repository"
NOT_RETAINED = "no rule retains it"
IMMUTABLE = "immutable"


@dataclass(frozen=True, slots=True)
class Selector:
    """`untagged` is Harbor's extras flag: whether an untagged artifact counts as matching the pattern
    (tag selectors only; repository selectors ignore it)."""

    kind: str
    decoration: str
    pattern: str
    untagged: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    priority: int
    disabled: bool
    action: str
    template: str
    params: Mapping[str, int]
    tag_selectors: tuple[Selector, ...]
    # Harbor's scope_selectors["repository"], the only scope a project-level policy has.
    scope_selectors: tuple[Selector, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    algorithm: str
    rules: tuple[Rule, ...]
    # Harbor's trigger {"kind": "Schedule", "settings": {"cron": ...}}; None when it has no schedule.
    cron: str | None
    # Harbor's scope {"level": "project", "ref": project_id}.
    project_id: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """One artifact of the repository. `pushed_at`, `pulled_at` and `evaluate`'s `now` must all be aware
    or all be naive."""

    id: int
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    pulled_at: datetime | None
    # An immutability rule protects one of its tags (services.common.immutable).
    immutable: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    candidate: Candidate
    retained: bool
    reason: str


# --- parsing -------------------------------------------------------------------------------------------


def _brief(value: Any) -> str:
    return repr(value)[:60]


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object")
    return value


def _int(value: Any, where: str) -> int:
    # bool is an int in Python but not in JSON; an integral float is what a JSON number may decode to.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be an integer, not {_brief(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{where} must be an integer, not {_brief(value)}")
        return int(value)
    return value


def _pattern_problem(pattern: str) -> str | None:
    if problem := pattern_problem(pattern):
        return problem
    try:
        glob_match(pattern, "")
    # wcmatch raises its PatternLimitException (a private class) when brace expansion runs past its limit;
    # whatever it raises here, matching this pattern later would raise the same.
    except Exception as exc:
        return f"is refused by the matcher: {exc}"
    return None


def _selector(data: Any, where: str, decorations: frozenset[str], *, tags: bool) -> Selector:
    data = _object(data, where)
    kind, decoration, pattern = data.get("kind"), data.get("decoration"), data.get("pattern")
    if kind != KIND:
        raise ValueError(f"{where}.kind must be {KIND!r}, not {_brief(kind)}")
    if decoration not in decorations:
        raise ValueError(
            f"{where}.decoration must be one of {', '.join(sorted(decorations))}, not {_brief(decoration)}"
        )
    if not isinstance(pattern, str):
        raise ValueError(f"{where}.pattern must be a string, not {_brief(pattern)}")
    if problem := _pattern_problem(pattern):
        raise ValueError(f"{where}.pattern {problem}")
    extras = data.get("extras")
    if extras is None or extras == "":
        # Harbor's default, kept for policies written before the flag: untagged artifacts stay in play.
        untagged = decoration == "matches"
    else:
        if not isinstance(extras, str):
            raise ValueError(f"{where}.extras must be a string holding a JSON object, not {_brief(extras)}")
        try:
            parsed = json.loads(extras)
        except ValueError:
            raise ValueError(f"{where}.extras is not JSON: {_brief(extras)}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"{where}.extras must be a JSON object, not {_brief(extras)}")
        flag = parsed.get("untagged", False)
        if not isinstance(flag, bool):
            raise ValueError(f"{where}.extras.untagged must be true or false, not {_brief(flag)}")
        untagged = flag
    return Selector(kind=KIND, decoration=decoration, pattern=pattern, untagged=untagged if tags else False)


def _selectors(data: Any, where: str, decorations: frozenset[str], *, tags: bool) -> tuple[Selector, ...]:
    # Harbor's UI sends one selector per list; the API takes several, and a rule needs all of them to select.
    if not isinstance(data, list) or not data:
        raise ValueError(f"{where} must be a list of at least one selector")
    return tuple(_selector(item, f"{where}[{i}]", decorations, tags=tags) for i, item in enumerate(data))


def _params(data: Any, where: str, template: str) -> dict[str, int]:
    data = {} if data is None else _object(data, where)
    unit = TEMPLATES[template]
    for key in data:
        if key != template or unit is None:
            raise ValueError(f"{where}.{str(key)[:40]} is not a parameter of template {template}")
    if unit is None:
        return {}
    if template not in data:
        raise ValueError(f"{where}.{template} is required for template {template}")
    value = _int(data[template], f"{where}.{template}")
    if value < 0:
        raise ValueError(f"{where}.{template} must not be negative")
    if value > MAX_PARAM[unit]:
        raise ValueError(f"{where}.{template} is too large: at most {MAX_PARAM[unit]}")
    return {template: value}


def _rule(data: Any, where: str, rule_id: int) -> Rule:
    data = _object(data, where)
    priority = _int(data.get("priority", 0), f"{where}.priority")
    disabled = data.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ValueError(f"{where}.disabled must be true or false, not {_brief(disabled)}")
    action = data.get("action")
    if action != ACTION:
        raise ValueError(f"{where}.action must be {ACTION!r}, not {_brief(action)}")
    template = data.get("template")
    if template not in TEMPLATES:
        raise ValueError(f"{where}.template must be one of {', '.join(TEMPLATES)}, not {_brief(template)}")
    params = _params(data.get("params"), f"{where}.params", template)
    tag_selectors = _selectors(data.get("tag_selectors"), f"{where}.tag_selectors", TAG_DECORATIONS, tags=True)
    scopes = _object(data.get("scope_selectors"), f"{where}.scope_selectors")
    for scope in scopes:
        if scope != REPOSITORY_SCOPE:
            raise ValueError(f"{where}.scope_selectors.{str(scope)[:40]} is not a scope: only {REPOSITORY_SCOPE} is")
    scope_selectors = _selectors(
        scopes.get(REPOSITORY_SCOPE), f"{where}.scope_selectors.{REPOSITORY_SCOPE}", REPOSITORY_DECORATIONS, tags=False
    )
    return Rule(
        id=rule_id,
        priority=priority,
        disabled=disabled,
        action=ACTION,
        template=template,
        params=params,
        tag_selectors=tag_selectors,
        scope_selectors=scope_selectors,
    )


def _rule_ids(rules: list[Any]) -> list[int]:
    """The given ids (positive, distinct); rules without one (absent or 0, as a client adding a rule sends)
    get the smallest ids not taken, in order, so a fresh policy's rules are 1..n."""
    given: list[int | None] = []
    for i, data in enumerate(rules):
        value = data.get("id") if isinstance(data, Mapping) else None
        rule_id = None if value is None else _int(value, f"rules[{i}].id")
        if rule_id is not None and rule_id < 0:
            raise ValueError(f"rules[{i}].id must be a positive integer, not {rule_id}")
        if rule_id and rule_id in given:
            raise ValueError(f"rules[{i}].id {rule_id} is already the id of rules[{given.index(rule_id)}]")
        given.append(rule_id or None)
    taken = {rule_id for rule_id in given if rule_id is not None}
    ids, next_id = [], 1
    for rule_id in given:
        if rule_id is None:
            while next_id in taken:
                next_id += 1
            rule_id = next_id
            taken.add(rule_id)
        ids.append(rule_id)
    return ids


def _cron(data: Any) -> str | None:
    if data is None:
        return None
    trigger = _object(data, "trigger")
    kind = trigger.get("kind")
    if kind != TRIGGER_KIND:
        raise ValueError(f"trigger.kind must be {TRIGGER_KIND!r}, not {_brief(kind)}")
    # Harbor refuses a Schedule trigger without settings.cron; an empty cron is the UI's "no schedule".
    settings = _object(trigger.get("settings"), "trigger.settings")
    if "cron" not in settings:
        raise ValueError("trigger.settings.cron is required (an empty string for no schedule)")
    cron = settings["cron"]
    if not isinstance(cron, str):
        raise ValueError(f"trigger.settings.cron must be a string, not {_brief(cron)}")
    if not cron.strip():
        return None
    try:
        return check_cron(cron)
    except ValueError as exc:
        raise ValueError(f"trigger.settings.cron: {exc}") from None


def _project_id(data: Any) -> int:
    scope = _object(data, "scope")
    level = scope.get("level")
    if level != SCOPE_LEVEL:
        raise ValueError(f"scope.level must be {SCOPE_LEVEL!r}, not {_brief(level)}")
    ref = scope.get("ref")
    project_id = _int(ref, "scope.ref")
    if project_id <= 0:
        raise ValueError(f"scope.ref must be a positive project id, not {project_id}")
    return project_id


def parse_policy(data: Mapping[str, Any]) -> Policy:
    """Harbor's RetentionPolicy JSON → Policy. ValueError naming the field (`rules[2].params.latestPushedK`,
    `trigger.settings.cron`, …) for anything Harbor or Berth refuses. The policy's own `id` is ignored."""
    data = _object(data, "policy")
    algorithm = data.get("algorithm")
    if algorithm != ALGORITHM:
        raise ValueError(f"algorithm must be {ALGORITHM!r}, not {_brief(algorithm)}")
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise ValueError(f"rules must be a list, not {_brief(rules)}")
    if len(rules) > MAX_RULES:
        raise ValueError(f"rules: only {MAX_RULES} rules are allowed at most, not {len(rules)}")
    ids = _rule_ids(rules)
    return Policy(
        algorithm=ALGORITHM,
        rules=tuple(_rule(item, f"rules[{i}]", ids[i]) for i, item in enumerate(rules)),
        cron=_cron(data.get("trigger")),
        project_id=_project_id(data.get("scope")),
    )


def _selector_json(selector: Selector, *, tags: bool) -> dict[str, str]:
    # Tag selectors always state the flag, so what Harbor would default never has to be guessed again.
    extras = json.dumps({"untagged": selector.untagged}, separators=(",", ":")) if tags else ""
    return {"kind": selector.kind, "decoration": selector.decoration, "pattern": selector.pattern, "extras": extras}


def policy_json(policy: Policy, policy_id: int) -> dict[str, Any]:
    """Harbor's RetentionPolicy JSON, as GET /retentions/{id} returns it; parse_policy reads it back."""
    return {
        "id": policy_id,
        "algorithm": policy.algorithm,
        "rules": [
            {
                "id": rule.id,
                "priority": rule.priority,
                "disabled": rule.disabled,
                "action": rule.action,
                "template": rule.template,
                "params": dict(rule.params),
                "tag_selectors": [_selector_json(s, tags=True) for s in rule.tag_selectors],
                "scope_selectors": {REPOSITORY_SCOPE: [_selector_json(s, tags=False) for s in rule.scope_selectors]},
            }
            for rule in policy.rules
        ],
        "trigger": {"kind": TRIGGER_KIND, "settings": {"cron": policy.cron or ""}},
        "scope": {"level": SCOPE_LEVEL, "ref": policy.project_id},
    }


# --- evaluation ----------------------------------------------------------------------------------------


def display_text(rule: Rule) -> str:
    """Harbor's display text with the rule's number in it: "the most recently pushed 10 artifacts"."""
    text = _DISPLAY_TEXT[rule.template]
    if rule.template in rule.params:
        text = text.replace("#", str(rule.params[rule.template]))
    return text


def _repository_selected(rule: Rule, repository: str) -> bool:
    # Harbor's launcher filters the repositories through each selector in turn: all of them must select.
    return all(glob_match(s.pattern, repository) != (s.decoration == "repoExcludes") for s in rule.scope_selectors)


def _tag_selected(selector: Selector, tags: tuple[str, ...]) -> bool:
    excludes = selector.decoration == "excludes"
    if not tags:
        return selector.untagged != excludes
    return any(glob_match(selector.pattern, tag) != excludes for tag in tags)


def _at(candidates: Sequence[Candidate], indexes: list[int]) -> list[tuple[int, Candidate]]:
    return [(i, candidates[i]) for i in indexes]


def _retained(rule: Rule, candidates: Sequence[Candidate], now: datetime) -> list[int]:
    """Indexes of the candidates the rule retains (its tag selectors, then its template)."""
    passed = [i for i, c in enumerate(candidates) if all(_tag_selected(s, c.tags) for s in rule.tag_selectors)]
    n = rule.params.get(rule.template, 0)
    match rule.template:
        case "latestPushedK":
            return sorted(passed, key=lambda i: (candidates[i].pushed_at, candidates[i].id), reverse=True)[:n]
        case "latestPulledN":
            # As Harbor's latestpl: by pull time, newest first, and the never-pulled after all the pulled
            # ones, so they fill the count when fewer than N were pulled.
            pulled = sorted(
                ((t, c.id, i) for i, c in _at(candidates, passed) if (t := c.pulled_at) is not None), reverse=True
            )
            never = sorted(((c.id, i) for i, c in _at(candidates, passed) if c.pulled_at is None), reverse=True)
            return ([i for *_, i in pulled] + [i for _, i in never])[:n]
        case "nDaysSinceLastPush":
            return [i for i in passed if now - candidates[i].pushed_at <= timedelta(days=n)]
        case "nDaysSinceLastPull":
            return [i for i in passed if (t := candidates[i].pulled_at) is not None and now - t <= timedelta(days=n)]
        case "always":
            return passed
        case _:  # "nothing"
            return []


def applying_rules(policy: Policy, repository: str) -> tuple[Rule, ...]:
    """The enabled rules whose repository selectors select `repository` (the path inside the project)."""
    return tuple(r for r in policy.rules if not r.disabled and _repository_selected(r, repository))


def applies(policy: Policy, repository: str) -> bool:
    """Whether the policy touches `repository` (the path inside the project, "team/app") at all."""
    return bool(applying_rules(policy, repository))


def evaluate(policy: Policy, repository: str, candidates: Sequence[Candidate], now: datetime) -> list[Decision]:
    """One decision per candidate, in the candidates' order. A candidate some applying rule retains names
    the first such rule (in the policy's order); one no rule retains is kept only if it is immutable."""
    rules = applying_rules(policy, repository)
    if not rules:
        return [Decision(c, True, NO_RULE_APPLIES) for c in candidates]
    retained_by: dict[int, Rule] = {}
    for rule in rules:
        for i in _retained(rule, candidates, now):
            retained_by.setdefault(i, rule)
    decisions = []
    for i, c in enumerate(candidates):
        if (by := retained_by.get(i)) is not None:
            decisions.append(Decision(c, True, f"rule {by.id}: {display_text(by)}"))
        elif c.immutable:
            decisions.append(Decision(c, True, IMMUTABLE))
        else:
            decisions.append(Decision(c, False, NOT_RETAINED))
    return decisions
