"""Shared test configuration: the real-server fixtures live in tests/infra.py."""

import os

pytest_plugins = ["tests.infra"]

# The tests, like the dev stack, opt in to the published development secrets; the tests of
# the settings themselves pass their values explicitly.
os.environ.setdefault("ALLOW_DEVELOPMENT_SECRETS", "true")
# The abuse limits count requests per client address, and every test comes from one: they
# are off unless a test turns them on (tests of the limits do, with limits of their own).
os.environ.setdefault("RATE_LIMITS_ENABLED", "false")
