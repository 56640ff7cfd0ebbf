from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase


@pytest.fixture(scope="module")
def core(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    """One core per test module, with its own database; tests keep apart by their own names."""
    proc = CoreProcess(tmp_path_factory.mktemp("core"), module_database)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
