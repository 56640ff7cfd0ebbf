from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.registry.helpers import assert_api_version


@pytest.fixture(autouse=True)
def _api_version_on_every_response(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every answer of the distribution API carries `Docker-Distribution-API-Version: registry/2.0`."""
    if "registry" not in request.fixturenames:
        yield
        return
    client = request.getfixturevalue("registry")
    client.event_hooks["response"].append(assert_api_version)
    yield
    client.event_hooks["response"].remove(assert_api_version)
