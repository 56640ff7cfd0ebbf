"""Berth's OpenAPI document (services/core/api/spec/berth-api.yaml) against core's router: the spec describes
exactly the operations core serves under /api/v2.0, so neither can change without the other; its references
all resolve; and, where Harbor's spec is at hand (a developer's checkout, beside ../shared), the checked-in
file is what the generator makes of it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from services.common.settings import Settings
from services.core.api.spec import HTTP_METHODS, load_spec, operation_key, router_operations, spec_operations
from services.core.app import create_app
from services.core.spec_generator import HARBOR_SPEC
from services.core.spec_generator import main as generate


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in spec["paths"].values() for method, op in item.items() if method in HTTP_METHODS]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_the_spec_describes_exactly_what_the_router_serves() -> None:
    served = router_operations(create_app(Settings()).router.routes())
    described = spec_operations(load_spec())
    assert sorted(served - described) == [], "served but not in the spec: run python -m services.core.spec_generator"
    assert sorted(described - served) == [], "in the spec but not served"
    assert ("GET", "/api/v2.0/swagger.json") in described


def test_implicit_heads_and_slash_aliases_are_not_operations_of_their_own() -> None:
    served = router_operations(create_app(Settings()).router.routes())
    # web.get's own HEAD is not an operation; Harbor's headProject (web.head) is.
    assert ("HEAD", "/api/v2.0/projects") in served
    assert ("HEAD", "/api/v2.0/systeminfo") not in served
    # /metadatas and /metadatas/ are one operation, Harbor's.
    assert operation_key("GET", "/api/v2.0/projects/{p}/metadatas/") == operation_key(
        "GET", "/api/v2.0/projects/{x}/metadatas"
    )


def test_operation_ids_are_unique_and_every_reference_resolves() -> None:
    spec = load_spec()
    ids = Counter(op["operationId"] for op in operations(spec))
    assert [name for name, n in ids.items() if n > 1] == []
    for ref in refs(spec):
        section, name = ref.removeprefix("#/").split("/", 1)
        assert name in spec.get(section, {}), f"{ref} does not resolve"
    assert spec["swagger"] == "2.0" and spec["basePath"] == "/api/v2.0"


def test_the_checked_in_spec_is_what_the_generator_makes() -> None:
    if not HARBOR_SPEC.is_file():
        pytest.skip(f"Harbor's spec is not at {HARBOR_SPEC} (a checkout without ../shared)")
    assert generate(["--check"]) == 0, "run python -m services.core.spec_generator"
