"""The `ldap` settings: checked together at start, with the key named; TLS options built from them."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from services.common.ldap.directory import DirectoryConfigError
from services.common.ldap.ldap3_directory import Ldap3Directory, build_tls, normalize_filter, validate
from services.common.settings import LdapSettings, SettingsError, build

BASE = {"url": "ldap://127.0.0.1:3389", "base_dn": "ou=people,dc=berth,dc=test"}


def settings(**values: Any) -> LdapSettings:
    return build(LdapSettings, {**BASE, **values}, source="berth.yml", prefix="ldap.")


def test_defaults_follow_harbor() -> None:
    s = LdapSettings()
    assert (s.uid, s.scope, s.group_gid, s.group_membership_attribute) == ("uid", "subtree", "cn", "memberOf")
    assert (s.timeout, s.verify_cert, s.start_tls) == (5.0, True, False)
    assert "secret" not in repr(settings(search_password="secret"))


def test_a_scope_outside_the_choices_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match=r"ldap\.scope.*base, onelevel, subtree"):
        settings(scope="deep")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": ""}, r"ldap\.url"),
        ({"url": "http://x"}, r"ldap\.url"),
        ({"url": "ldap://x:notaport"}, r"ldap\.url"),
        ({"base_dn": ""}, r"ldap\.base_dn"),
        ({"url": "ldaps://x", "start_tls": True}, r"ldap\.start_tls"),
        ({"uid": "uid)(x=*"}, r"ldap\.uid"),
        ({"group_gid": "cn*"}, r"ldap\.group_gid"),
        ({"filter": "(objectClass=person"}, r"ldap\.filter"),
        ({"group_filter": "(&(a=b)"}, r"ldap\.group_filter"),
    ],
)
def test_settings_that_cannot_work_are_refused_naming_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(DirectoryConfigError, match=message):
        Ldap3Directory(settings(**values))


def test_ports_default_by_scheme() -> None:
    assert validate(settings(url="ldap://dir.example")).port == 389
    config = validate(settings(url="ldaps://dir.example"))
    assert (config.port, config.use_ssl) == (636, True)


def test_a_bare_filter_is_wrapped() -> None:
    assert normalize_filter("objectClass=person", "filter") == "(objectClass=person)"
    assert normalize_filter("  ", "filter") == ""


def test_plain_ldap_has_no_tls() -> None:
    assert build_tls(settings()) is None


def test_ldaps_verifies_the_certificate_by_default() -> None:
    tls = build_tls(settings(url="ldaps://dir.example"))
    assert tls is not None
    assert tls.validate == ssl.CERT_REQUIRED


def test_start_tls_without_verification_and_with_a_ca_file(tmp_path: Any) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    tls = build_tls(settings(start_tls=True, verify_cert=False, ca_file=str(ca)))
    assert tls is not None
    assert tls.validate == ssl.CERT_NONE
    assert tls.ca_certs_file == str(ca)


def test_a_missing_ca_file_is_refused_by_name() -> None:
    with pytest.raises(DirectoryConfigError, match=r"ldap\.ca_file"):
        build_tls(settings(start_tls=True, ca_file="/nonexistent/ca.pem"))
