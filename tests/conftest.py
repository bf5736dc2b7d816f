"""Shared test configuration: the real-server fixtures live in tests/infra.py."""

pytest_plugins = ["tests.infra"]
