from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.harness.plugin import TestDatabase
from tests.harness.token import TokenServiceProcess


@pytest.fixture(scope="module")
def token_service(
    module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenServiceProcess]:
    """One token service per test module; tests keep apart by using their own project and user names."""
    proc = TokenServiceProcess(tmp_path_factory.mktemp("token"), module_database)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
