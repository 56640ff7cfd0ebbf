"""Harbor's tag immutability rules, as core (the rules API, tag and artifact deletes, copies) and the
registry (pushes and deletes) both apply them: pure functions, no I/O. The SQL that reads a project's
rules is `services.common.immutable_store`.

A tag is immutable when any enabled rule's repository selector and tag selector both select it (Harbor's
`src/pkg/immutable/match/rule`: only the first selector of each kind counts). Repository patterns match
the repository's name *without* the project (`app/web` for `library/app/web`), as Harbor's
`ParseRepository` cuts it. Patterns are doublestar globs as Harbor's `bmatcuk/doublestar`: `*` and `?` stay
inside one path segment, `**` crosses them, `[...]` and `{a,b}` as in a shell, dot names not special."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wcmatch import glob

# Harbor's UI offers at most 15 immutability rules per project; Berth enforces it in the service.
MAX_RULES_PER_PROJECT = 15
ACTION = "immutable"
TEMPLATE = "immutable_template"
KIND = "doublestar"
TAG_DECORATIONS = frozenset({"matches", "excludes"})
REPOSITORY_DECORATIONS = frozenset({"repoMatches", "repoExcludes"})
REPOSITORY_SCOPE = "repository"
MAX_PATTERN_LENGTH = 256
# GLOBSTAR: `**` crosses "/"; BRACE: {a,b}; DOTGLOB: `*` matches a leading dot (doublestar has no dot
# rule); FORCEUNIX: "/" is the only separator and "\" escapes, on every platform.
_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB | glob.FORCEUNIX


@dataclass(frozen=True, slots=True)
class Selector:
    kind: str
    decoration: str
    pattern: str


@dataclass(frozen=True, slots=True)
class ImmutableRule:
    id: int
    project_id: int
    priority: int
    disabled: bool
    tag_selectors: tuple[Selector, ...]
    scope_selectors: Mapping[str, tuple[Selector, ...]]
    action: str = ACTION
    template: str = TEMPLATE
    params: Mapping[str, Any] = field(default_factory=dict)


def pattern_problem(pattern: str) -> str | None:
    """Why doublestar would refuse the pattern (or Berth: empty, too long, control characters); None when
    it is fine. doublestar's ErrBadPattern is an unclosed `[` or `{`, or a dangling escape; wcmatch would
    read those literally, so they are refused here before any matching."""
    if not pattern:
        return "must not be empty"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is too long: at most {MAX_PATTERN_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        return "must not contain control characters"
    brackets = braces = 0
    escaped = False
    for c in pattern:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif brackets:
            brackets = 0 if c == "]" else brackets
        elif c == "[":
            brackets = 1
        elif c == "{":
            braces += 1
        elif c == "}":
            if braces == 0:
                return "has a '}' without its '{'"
            braces -= 1
    if escaped:
        return "ends with an escaping backslash"
    if brackets:
        return "has a '[' without its ']'"
    if braces:
        return "has a '{' without its '}'"
    return None


def glob_match(pattern: str, value: str) -> bool:
    # Harbor's doublestar selector: an empty pattern selects everything (the API refuses one anyway).
    return not pattern or glob.globmatch(value, pattern, flags=_FLAGS)


def selects(selector: Selector, value: str) -> bool:
    matched = glob_match(selector.pattern, value)
    return not matched if selector.decoration in ("excludes", "repoExcludes") else matched


def rule_applies(rule: ImmutableRule, repository: str, tag: str) -> bool:
    """`repository` without its project (Harbor's candidate Repository)."""
    if rule.disabled:
        return False
    repositories = rule.scope_selectors.get(REPOSITORY_SCOPE, ())
    if not repositories or not rule.tag_selectors:
        return False
    return selects(repositories[0], repository) and selects(rule.tag_selectors[0], tag)


def protecting_rule(rules: Iterable[ImmutableRule], repository: str, tag: str) -> ImmutableRule | None:
    """The first enabled rule (by priority, then id) that makes `repository:tag` immutable, or None."""
    for rule in sorted(rules, key=lambda r: (r.priority, r.id)):
        if rule_applies(rule, repository, tag):
            return rule
    return None


def split_repository(full_name: str) -> tuple[str, str]:
    """("library", "app/web") for "library/app/web"; Berth's repositories always have a project."""
    project, _, rest = full_name.partition("/")
    return project, rest


def immutable_message(repository: str, tag: str, rule: ImmutableRule) -> str:
    """Harbor's ErrImmutable text (src/server/middleware/immutable/error.go), naming the rule besides."""
    return (
        f"Failed to process request due to '{repository}:{tag}' configured as immutable. (immutable tag rule {rule.id})"
    )
