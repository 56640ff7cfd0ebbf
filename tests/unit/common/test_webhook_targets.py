"""The webhook SSRF guard: what a target may be, and which internal addresses the allowlist lets through."""

from __future__ import annotations

import pytest

from services.common.webhooks import TargetRefused, check_target, parse_allowlist, target_host

NOTHING = parse_allowlist("")


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("", "http or https URL"),
        ("ftp://example.com/hook", "must use http or https, not ftp"),
        ("example.com/hook", "must use http or https, not no scheme"),
        ("http:///hook", "names no host"),
        ("http://example.com:99999/", "does not parse"),
        ("http://user:secret@example.com/", "must not hold credentials"),
    ],
)
def test_addresses_that_are_no_target(address: str, said: str) -> None:
    with pytest.raises(TargetRefused, match=said):
        target_host(address)


def test_a_target_names_its_host_and_port() -> None:
    assert target_host("https://hooks.example.com/x") == ("hooks.example.com", 443)
    assert target_host("http://[::1]:8080/x") == ("::1", 8080)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("http://127.0.0.1:9000/", "loopback"),
        ("http://localhost:9000/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
    ],
)
async def test_internal_addresses_are_refused_naming_the_key(address: str, kind: str) -> None:
    with pytest.raises(TargetRefused, match=rf"\({kind}.*\): add it to webhook_target_allowlist"):
        await check_target(address, NOTHING)


async def test_the_allowlist_lets_hosts_addresses_and_ranges_through() -> None:
    allowed = parse_allowlist("127.0.0.1, 10.0.0.0/8 localhost")
    assert await check_target("http://127.0.0.1:9000/", allowed) == ["127.0.0.1"]
    assert await check_target("http://10.200.0.7/", allowed) == ["10.200.0.7"]
    assert "127.0.0.1" in await check_target("http://localhost:9000/", allowed)
    # A range allows what is in it, nothing else.
    with pytest.raises(TargetRefused, match=r"169\.254\.169\.254"):
        await check_target("http://169.254.169.254/", allowed)


async def test_a_public_address_needs_no_allowlist() -> None:
    assert await check_target("https://93.184.216.34/hook", NOTHING) == ["93.184.216.34"]


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_target("http://no-such-host.invalid/", NOTHING)


@pytest.mark.parametrize("text", ["http://x", "10.0.0.0/33", "bad_host!"])
def test_an_allowlist_entry_that_is_none_of_the_three_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="no host name, address or CIDR range"):
        parse_allowlist(text)
