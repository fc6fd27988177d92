"""Each test's outcome, on its item, so a fixture can tell whether the test failed (the
browser tests keep a screenshot then)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.call_failed = report.failed  # type: ignore[attr-defined]
