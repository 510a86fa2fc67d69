"""Fixtures shared by the integration tests."""

from tests.integration.unprivileged import nobody_python  # noqa: F401 - a fixture
