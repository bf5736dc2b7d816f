"""Shared test configuration: the real-server fixtures live in tests/infra.py."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.infra"]

# The tests, like the dev stack, opt in to the published development secrets; the tests of
# the settings themselves pass their values explicitly.
os.environ.setdefault("ALLOW_DEVELOPMENT_SECRETS", "true")
# The abuse limits count requests per client address, and every test comes from one: they
# are off unless a test turns them on (tests of the limits do, with limits of their own).
os.environ.setdefault("RATE_LIMITS_ENABLED", "false")


E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/e2e is end to end: `-m e2e` runs it, `-m "not e2e"` leaves it.
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)
