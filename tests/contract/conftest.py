"""Contract-test plumbing: the hostile-input suite's case counter and the summary line it prints."""

from __future__ import annotations

from collections import Counter

import pytest

# Each hostile case a test tries, by family ("sigv4", "webhook", "malformed", ...); printed at the end.
HOSTILE_CASES: Counter = Counter()


@pytest.fixture
def hostile_cases() -> Counter:
    return HOSTILE_CASES


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not HOSTILE_CASES:
        return
    families = ", ".join(f"{family} {count}" for family, count in sorted(HOSTILE_CASES.items()))
    terminalreporter.write_line(
        f"hostile-input suite: {sum(HOSTILE_CASES.values())} hostile cases tried ({families})"
    )


# The conformance sweep's shape checker (test_conformance_sweep.py): its counts close the session.
from .shape_check import ShapeChecker  # noqa: E402

SWEEP = ShapeChecker(region="us-west-2")


class _SweepSummary:
    """A plugin of its own, so the sweep's line sits beside the hostile-input line without touching it."""

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter):
        if SWEEP.operations:
            terminalreporter.write_line(SWEEP.summary())


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("moorage-sweep-summary"):
        config.pluginmanager.register(_SweepSummary(), "moorage-sweep-summary")
