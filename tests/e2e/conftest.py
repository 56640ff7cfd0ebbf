"""The client e2e tests (docker, podman, oras) run against the whole stack, as `make run` starts it: the
launcher supervising every service behind nginx, reached only through the proxy's port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.plugin import RegistryEndpoint
from tests.harness.stack import StackProcess, fresh_stack


# One stack per module: the modules make the same user names, and a fresh stack is ~10 s.
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    with fresh_stack(tmp_path_factory.mktemp("stack")) as proc:
        yield proc


@pytest.fixture(scope="module")
def registry_endpoint(stack: StackProcess) -> RegistryEndpoint:
    assert stack.database is not None
    return RegistryEndpoint(stack.url.removeprefix("http://"), f"{stack.url}/service/token", stack.database)
