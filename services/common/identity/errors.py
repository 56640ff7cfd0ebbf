"""Failures of the identity stores a client can see."""

from __future__ import annotations

import asyncpg

from services.common.errors import BerthError


class Conflict(BerthError):
    code, status, default_message = "CONFLICT", 409, "the resource already exists"


def clash(kind: str, exc: asyncpg.UniqueViolationError) -> str:
    constraint = getattr(exc, "constraint_name", None) or ""
    column = constraint.removeprefix(f"{kind}s_").removeprefix("user_groups_").removesuffix("_key")
    return f"a {kind} with this {column or 'name'} already exists"
