"""Users as the REST API shows them (never a password hash or any other secret column), and Harbor's
rules for what a new account may be called and what a password must contain."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from services.common.identity.models import AuthSource
from services.core.listing import ListKeys

MAX_USERNAME = 255
# The sysadmin's users list: q username/email (exact or =~), sorted by username or creation time.
USER_LIST = ListKeys(filters={"username": "str", "email": "str"}, sorts=frozenset({"username", "creation_time"}))
MAX_EMAIL = 255
MAX_REALNAME = 255
MAX_COMMENT = 30  # Harbor's limit for the user comment
MIN_PASSWORD, MAX_PASSWORD = 8, 128
# Harbor's illegal characters for user and real names; ':' too, because Basic credentials split at the
# first ':' and such an account could never log in; control characters are never a name.
ILLEGAL_NAME_CHARS = frozenset(",~#$%")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True, slots=True)
class UserView:
    """A live (not deleted) account, without its password hash."""

    id: int
    username: str
    email: str | None
    realname: str
    comment: str
    sysadmin: bool
    auth_source: AuthSource
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class UserRef:
    """What any logged-in user may learn about another: the id and the name (Harbor's search result)."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    password: str
    email: str | None
    realname: str
    comment: str
    sysadmin: bool


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """None: unchanged. An empty e-mail removes it."""

    email: str | None
    realname: str | None
    comment: str | None


def username_problem(name: str) -> str | None:
    if not name or len(name) > MAX_USERNAME:
        return f"username must be 1 to {MAX_USERNAME} characters"
    if any(c in ILLEGAL_NAME_CHARS or c == ":" or not c.isprintable() for c in name) or name != name.strip():
        return "username must not contain , ~ # $ % : control characters, or surrounding spaces"
    return None


def realname_problem(name: str) -> str | None:
    if len(name) > MAX_REALNAME:
        return f"realname must be at most {MAX_REALNAME} characters"
    if any(c in ILLEGAL_NAME_CHARS or not c.isprintable() for c in name):
        return "realname must not contain , ~ # $ % or control characters"
    return None


def email_problem(email: str) -> str | None:
    if len(email) > MAX_EMAIL or EMAIL.fullmatch(email) is None:
        return f"email must be an e-mail address of at most {MAX_EMAIL} characters"
    return None


def password_problem(password: str) -> str | None:
    """Harbor's policy: 8 to 128 characters with at least one upper-case letter, one lower-case, one digit."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
    if not (
        any(c.isupper() for c in password) and any(c.islower() for c in password) and any(c.isdigit() for c in password)
    ):
        return "the password must contain at least one upper-case letter, one lower-case letter and one digit"
    return None


def profile_problem(email: str | None, realname: str | None, comment: str | None) -> str | None:
    """The first thing wrong with these profile fields (None: not given, not checked)."""
    if email and (problem := email_problem(email)):
        return problem
    if realname is not None and (problem := realname_problem(realname)):
        return problem
    if comment is not None and len(comment) > MAX_COMMENT:
        return f"comment must be at most {MAX_COMMENT} characters"
    return None
