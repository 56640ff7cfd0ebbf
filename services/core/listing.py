"""Harbor's list parameters, parsed against a whitelist: `q`, `sort`, `page`, `page_size`.

`q` is Harbor's query syntax, comma-separated `key=value` (exact) or `key=~value` (substring) terms, and
for time keys the range `key=[low~high]` (either end may be empty). Of the set forms, only Harbor's
intersection list of integers `key=(1 2 3)` is read, and only for keys whitelisted as "int_all" (the
artifacts list's `labels`); the union form `{a b}` and sets of anything else are refused. `sort` is
comma-separated keys, `-` for descending. Unknown keys are a 400, so nothing a caller types reaches SQL
except as a parameter. Pure: no aiohttp, no SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.core.errors import BadRequest

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
MAX_PARAM_LENGTH = 1024

# "int_all": Harbor's intersection list of integers, `(1 2 3)`, and nothing else.
ValueType = Literal["str", "bool", "int", "time", "int_all"]
MAX_SET_SIZE = 10


@dataclass(frozen=True, slots=True)
class Term:
    key: str
    op: Literal["eq", "like", "range", "all"]
    # A range is (low, high), either end None when open: Harbor's k=[low~high]; "all" is the integers of
    # Harbor's intersection list k=(v1 v2), for the store to match every one of.
    value: str | bool | int | dt.datetime | tuple[dt.datetime | None, dt.datetime | None] | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ListKeys:
    """What one list accepts: its `q` keys with their value types, and its `sort` keys. Each domain's models
    declare theirs (what a list offers is a rule of the domain, read by the API); its store maps every key
    to a column with `column_map`."""

    filters: Mapping[str, ValueType]
    sorts: frozenset[str]


@dataclass(frozen=True, slots=True)
class SortKey:
    key: str
    descending: bool


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def parse_bool(text: str, what: str) -> bool:
    """Go's strconv.ParseBool, which Harbor uses for its "true"/"false" strings."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise BadRequest(f"{what} must be true or false, not {text[:50]!r}")


def clean_text(text: str, what: str) -> str:
    """`text` as PostgreSQL can hold it: no NUL, valid UTF-8 (a 400 otherwise, never a driver error)."""
    if "\x00" in text:
        raise BadRequest(f"{what} must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None
    return text


def parse_time(text: str, key: str) -> dt.datetime:
    """Harbor's "2020-04-09 02:36:00" (UTC), or ISO 8601 with an offset."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(f"{key} must be a time such as 2020-04-09 02:36:00, not {text[:50]!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _range(text: str, key: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    low, sep, high = text[1:-1].partition("~")
    if not text.endswith("]") or not sep:
        raise BadRequest(f"q key {key!r}: a range is [low~high], not {text[:50]!r}")
    bounds = tuple(parse_time(b.strip().strip("'\""), key) if b.strip() else None for b in (low, high))
    return bounds[0], bounds[1]


def _int_all(text: str, key: str) -> tuple[int, ...]:
    """Harbor's `(v1 v2 ...)`: whitespace-separated integers, at least one, at most MAX_SET_SIZE."""
    if not (text.startswith("(") and text.endswith(")")):
        raise BadRequest(
            f"q key {key!r} takes an intersection list of integers such as ({key}=(1 2)), not {text[:50]!r}"
        )
    items = text[1:-1].split()
    if not items or len(items) > MAX_SET_SIZE:
        raise BadRequest(f"q key {key!r}: the list must hold 1 to {MAX_SET_SIZE} integers")
    if not all(i.isascii() and i.isdigit() and len(i) <= 18 for i in items):
        raise BadRequest(f"q key {key!r}: the list must hold integers only, not {text[:50]!r}")
    return tuple(dict.fromkeys(int(i) for i in items))


def _value(kind: ValueType, text: str, key: str) -> str | bool | int | dt.datetime:
    text = clean_text(text, key)
    if kind == "time":
        return parse_time(text, key)
    if kind == "bool":
        return parse_bool(text, key)
    if kind == "int":
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise BadRequest(f"{key} must be an integer, not {text[:50]!r}")
        return int(text)
    return text


def parse_q(q: str | None, allowed: Mapping[str, ValueType]) -> list[Term]:
    if not q:
        return []
    if len(q) > MAX_PARAM_LENGTH:
        raise BadRequest("the q parameter is too long")
    terms = []
    for item in q.split(","):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise BadRequest(f"q term {item[:50]!r} is not key=value or key=~value")
        if key not in allowed:
            raise BadRequest(f"unknown q key {key[:50]!r}; known: {', '.join(sorted(allowed))}")
        op: Literal["eq", "like", "range", "all"] = "eq"
        if raw.startswith("~"):
            op, raw = "like", raw[1:]
            if allowed[key] != "str":
                raise BadRequest(f"q key {key!r} does not support =~")
        if raw.startswith("[") and allowed[key] == "time":
            terms.append(Term(key, "range", _range(clean_text(raw, key), key)))
            continue
        if allowed[key] == "int_all":
            terms.append(Term(key, "all", _int_all(clean_text(raw, key).strip(), key)))
            continue
        if raw[:1] in ("[", "{", "("):
            raise BadRequest(f"q key {key!r}: ranges and sets are not supported")
        terms.append(Term(key, op, _value(allowed[key], raw, key)))
    return terms


def parse_sort(sort: str | None, allowed: frozenset[str]) -> list[SortKey]:
    if not sort:
        return []
    if len(sort) > MAX_PARAM_LENGTH:
        raise BadRequest("the sort parameter is too long")
    keys = []
    for item in sort.split(","):
        item = item.strip()
        descending = item.startswith("-")
        key = item.removeprefix("-")
        if key not in allowed:
            raise BadRequest(f"unknown sort key {key[:50]!r}; known: {', '.join(sorted(allowed))}")
        keys.append(SortKey(key, descending))
    return keys


def parse_page(page: str | None, page_size: str | None) -> Page:
    number = _positive(page, "page", 1)
    size = _positive(page_size, "page_size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise BadRequest(f"page_size must be at most {MAX_PAGE_SIZE}")
    if number > 1_000_000_000:
        raise BadRequest("page is too large")
    return Page(number, size)


def _positive(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) < 1:
        raise BadRequest(f"{name} must be a positive integer, not {text[:50]!r}")
    return int(text)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where_clause(base: str, terms: Sequence[Term], columns: Mapping[str, str], args: list[Any]) -> str:
    """` WHERE <base> AND ...` for the filter terms, each value a $n parameter appended to `args`;
    `columns` maps the (already allow-listed) term keys to SQL columns."""
    clauses = [base]
    for term in terms:
        column = columns[term.key]
        if term.op == "range":
            assert isinstance(term.value, tuple)
            low, high = term.value
            if low is not None:
                args.append(low)
                clauses.append(f"{column} >= ${len(args)}")
            if high is not None:
                args.append(high)
                clauses.append(f"{column} <= ${len(args)}")
        elif term.op == "all":
            raise ValueError(f"q key {term.key!r}: an intersection list is matched by its store, not a column")
        elif term.op == "like":
            args.append(like_pattern(str(term.value)))
            clauses.append(f"{column} LIKE ${len(args)} ESCAPE '\\'")
        else:
            args.append(term.value)
            clauses.append(f"{column} = ${len(args)}")
    return " WHERE " + " AND ".join(clauses)


def column_map(keys: Iterable[str], columns: Mapping[str, str], *, own: Iterable[str] = ()) -> Mapping[str, str]:
    """`columns`, checked to map exactly `keys` but those the store matches with clauses of its `own`: a key
    a model offers without a column (or a column for a key no model offers) fails at import, not at a
    request."""
    expected = set(keys) - set(own)
    if set(columns) != expected:
        raise ValueError(f"columns for {sorted(columns)} do not match the keys {sorted(expected)}")
    return columns


def order_by(sort: Sequence[SortKey], columns: Mapping[str, str], default: Sequence[str], tie: str) -> str:
    """The ORDER BY list for `sort` (keys already allow-listed), `default` when it is empty, and `tie` last:
    a total order, so pages never overlap."""
    order = [f"{columns[k.key]} {'DESC' if k.descending else 'ASC'}" for k in sort] or list(default)
    order.append(tie)
    return ", ".join(order)
