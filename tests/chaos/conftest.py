"""The chaos suite's figures, printed at the end of a session that ran it."""

from __future__ import annotations

import pytest

from tests.chaos._scenario import LONG, TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the chaos runs did (always in the long form; with -v in the quick one)."""
    if not (LONG or terminalreporter.config.getoption("verbose") > 0):
        return
    lines = TALLY.lines()
    if lines:
        terminalreporter.section("chaos figures")
        for line in lines:
            terminalreporter.write_line(line)
