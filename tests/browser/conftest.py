"""Browser tests: say where the screenshots went."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import SHOTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = sorted(SHOTS.glob("*.png")) if SHOTS.is_dir() else []
    if shots:
        terminalreporter.write_line(f"UI screenshots ({len(shots)}): {SHOTS}")
