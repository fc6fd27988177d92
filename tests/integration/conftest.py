"""Fixtures the submission tests share: the month worked out by hand and a reporter on the
app's views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.intake.service import Zhibao
from infra.reporting.reporter import Reporter, open_views
from tests.conftest import FakeClock
from tests.support.march_world import March, build_march


@pytest.fixture
def march(app: Zhibao, clock: FakeClock) -> March:
    return build_march(app, clock)


@pytest.fixture
def reporter(app: Zhibao, tmp_path: Path) -> Iterator[Reporter]:
    views = open_views(app)
    yield Reporter(app, views, tmp_path / "out")
    views.close()
