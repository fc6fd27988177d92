"""A cascade's process and its render workers run the collector less often
(`infra.collector`); the process's thresholds are its own again once the cascade ends."""

from __future__ import annotations

import gc

from infra.collector import FEWER
from infra.reporting.forms import FormSettings
from infra.reporting.pdf import font_path
from infra.reporting.render import IN_WORKERS, Renderer
from infra.reporting.reporter import Reporter, Submitted
from infra.settings import Settings
from tests.conftest import FakeClock
from tests.support.march_world import March, at


def collector_state() -> tuple[tuple[int, int, int], int]:
    """A worker's thresholds and the number of objects it set aside."""
    return gc.get_threshold(), gc.get_freeze_count()


def test_the_cascade_collects_less_until_it_ends(march: March, reporter: Reporter,
                                                 clock: FakeClock) -> None:
    at(clock, "2021-04-06T10:00")
    before = gc.get_threshold()
    during: set[tuple[int, int, int]] = set()

    def note(_: Submitted) -> None:
        during.add(gc.get_threshold())

    done = reporter.cascade("2021-03", progress=note)
    assert done and during == {FEWER}
    assert gc.get_threshold() == before


def test_a_render_worker_sets_aside_what_it_loaded_and_collects_less() -> None:
    settings = Settings()
    renderer = Renderer(FormSettings(settings.form_no, settings.form_authority,
                                     settings.form_approval_no, settings.form_valid_until),
                        font_path(settings.pdf_font), 2)
    try:
        renderer.warm(IN_WORKERS)
        states = {renderer._started().submit(collector_state).result() for _ in range(4)}
    finally:
        renderer.close()
    assert {threshold for threshold, _ in states} == {FEWER}
    assert all(frozen > 1000 for _, frozen in states)  # ReportLab and the font, at least
