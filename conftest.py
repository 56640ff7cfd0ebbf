"""The repository root's conftest: loads the test harness (tests/harness), which lives outside the
production wheel because it imports pytest and httpx."""

pytest_plugins = ["tests.harness.plugin"]
