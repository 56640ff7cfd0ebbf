"""Harbor's rules for a registry endpoint's fields, and what each type's RegistryInfo offers."""

from __future__ import annotations

import pytest

from services.common.secret import Secret
from services.core.registries.models import RegistryFields, field_problem, info_of, normalize_url


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("registry.example.com:5000", "http://registry.example.com:5000"),
        (" https://r.example.com/ ", "https://r.example.com"),
        ("http://[::1]:5000//", "http://[::1]:5000"),
        ("https://r.example.com/prefix", "https://r.example.com/prefix"),
    ],
)
def test_urls_are_normalized_as_harbor_does(given: str, url: str) -> None:
    assert normalize_url(given) == url


@pytest.mark.parametrize("given", ["", "  /", "ftp://r.example.com", "http://", "http://r:port", "http://r/?q=1"])
def test_urls_that_are_not_http_ones_are_refused(given: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(given)


def fields(**changes: object) -> RegistryFields:
    base: dict[str, object] = {"name": "remote", "url": "http://r", "type": "docker-registry"}
    return RegistryFields(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({}, None),
        ({"name": " "}, "name cannot be empty"),
        ({"name": "x" * 65}, "max length of name is 64"),
        ({"name": "a\nb"}, "control characters"),
        ({"type": "ecr"}, "type must be one of"),
        ({"credential_type": "oauth"}, "credential.type must be basic"),
        ({"access_secret": Secret("pw")}, "needs an access_key"),
        ({"ca_certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}, "PEM certificates"),
    ],
)
def test_field_problems(changes: dict[str, object], problem: str | None) -> None:
    found = field_problem(fields(**changes))
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_only_harbor_endpoints_filter_by_label_and_copy_by_chunk() -> None:
    harbor = info_of("harbor", ("release",))
    assert [f.type for f in harbor.filters] == ["name", "tag", "label", "resource"]
    assert harbor.filters[2].values == ("release",) and harbor.copy_by_chunk
    plain = info_of("docker-registry")
    assert [f.type for f in plain.filters] == ["name", "tag", "resource"] and not plain.copy_by_chunk
    assert plain.filters[-1].values == ("image",)
    assert info_of("harbor", local=True).triggers == ("manual", "scheduled", "event_based")
