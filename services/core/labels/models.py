"""A label as the REST API shows it, and Harbor's rules for its fields."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from services.core.errors import NotFound
from services.core.listing import ListKeys

Scope = Literal["g", "p"]
GLOBAL: Scope = "g"
PROJECT: Scope = "p"

# Harbor's label table holds a name of at most 128 characters (varchar(128)).
MAX_NAME = 128
MAX_DESCRIPTION = 1024
# Harbor stores the colour the UI's palette picked (varchar(16), e.g. "#0065AB") and checks nothing;
# Berth accepts the empty string or a CSS hex colour, so the UI can always draw what it reads back.
COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# Harbor's intersection list in `q` (labels=(1 2 3)): bounded, as every id is one EXISTS in the query.
MAX_LABELS_IN_FILTER = 10
# The labels list: q name, sorted by id, name or times.
LABEL_LIST = ListKeys(filters={"name": "str"}, sorts=frozenset({"id", "name", "creation_time", "update_time"}))


class LabelNotFound(NotFound):
    default_message = "label not found"


@dataclass(frozen=True, slots=True)
class LabelView:
    id: int
    name: str
    description: str
    color: str
    scope: Scope
    project_id: int | None  # None for a global label (Harbor shows 0)
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LabelFields:
    """What a create or an update sets (an update replaces all three, as Harbor's PUT does)."""

    name: str
    description: str
    color: str


@dataclass(frozen=True, slots=True)
class LabelFilter:
    scope: Scope
    project_id: int | None
    name_contains: str | None


def field_problem(fields: LabelFields) -> str | None:
    """Why Harbor (or Berth, for the colour) would refuse these fields; None when they are fine."""
    if not fields.name.strip():
        return "name is required"
    if len(fields.name) > MAX_NAME:
        return f"name is too long: at most {MAX_NAME} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in fields.name):
        return "name must not contain control characters"
    if len(fields.description) > MAX_DESCRIPTION:
        return f"description is too long: at most {MAX_DESCRIPTION} characters"
    if fields.color and COLOR.fullmatch(fields.color) is None:
        return "color must be empty or a hex colour such as #0065AB"
    return None
