"""LDAP filters built from what clients send: every metacharacter is escaped, nothing widens a search."""

from __future__ import annotations

import pytest
from ldap3.operation.search import parse_filter

from services.common.ldap.ldap3_directory import member_filter, substring_filter, user_filter


def _parses(text: str) -> None:
    parse_filter(text, None, auto_escape=False, auto_encode=False, validator=None, check_names=False)


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("alice", "(uid=alice)"),
        ("*", "(uid=\\2a)"),
        (")(uid=*", "(uid=\\29\\28uid=\\2a)"),
        ("admin)(|(uid=*", "(uid=admin\\29\\28|\\28uid=\\2a)"),
        ("back\\slash", "(uid=back\\5cslash)"),
        ("nul\x00", "(uid=nul\\00)"),
    ],
)
def test_user_filter_escapes_the_name(username: str, expected: str) -> None:
    assert user_filter("", "uid", username) == expected
    _parses(expected)


def test_the_configured_filter_is_anded() -> None:
    flt = user_filter("(objectClass=person)", "uid", "a*")
    assert flt == "(&(objectClass=person)(uid=a\\2a))"
    _parses(flt)


def test_substring_search_escapes_the_query() -> None:
    assert substring_filter("", "uid", "") == "(uid=*)"
    assert substring_filter("", "uid", "*") == "(uid=*\\2a*)"
    assert (
        substring_filter("(objectClass=groupOfNames)", "cn", "a)(b") == "(&(objectClass=groupOfNames)(cn=*a\\29\\28b*))"
    )


def test_member_filter_escapes_the_dn() -> None:
    flt = member_filter("", "cn=a\\,b (x),dc=test")
    assert flt == "(|(member=cn=a\\5c,b \\28x\\29,dc=test)(uniqueMember=cn=a\\5c,b \\28x\\29,dc=test))"
    _parses(flt)
