"""Bitemporal replay: one county's submission for one period rebuilt as known at a moment
(`zhibao audit as-of`: the events recorded up to then folded into throwaway views, then
assembled), against a full rebuild of that county — every event folded, its twelve monthly
submissions assembled as known now. Reported, no target: the ratio is the as-of rebuild's
time over the full rebuild's.

The demo store has no reporting periods of its own; each month is opened on the 1st of the
next (on the simulated clock) before the timings.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bench.bench_export import demo_store
from bench.harness import Result, timed
from domain.base import SHANGHAI
from domain.reports import period_bounds
from infra.audit.as_of import Replay, submission_as_of
from infra.intake.service import Zhibao
from infra.reporting.reporter import open_period
from infra.settings import Settings
from projections.store import ViewStore

COUNTY = "610902"
PERIOD = "2021-06"
KNOWN_AT = datetime(2021, 7, 10, 10, tzinfo=SHANGHAI)  # after the county deadline (8 July)
PERIODS = [f"2021-{month:02d}" for month in range(1, 13)]


def open_periods(app: Zhibao) -> None:
    """Each month opened on the 1st of the next, as the scheduler would have."""
    real_clock = app.clock
    views = ViewStore.in_memory()  # nothing open in it: the command ids keep this idempotent
    try:
        for period in PERIODS:
            opened = period_bounds(period)[1] + timedelta(hours=9)
            app.clock = lambda opened=opened: opened
            open_period(app, views, period)
    finally:
        app.clock = real_clock
        views.close()


def full_rebuild(app: Zhibao) -> list[str]:
    replay = Replay(app)
    try:
        replay.advance(app.clock())
        return [replay.submission(COUNTY, period).sha256 for period in PERIODS]
    finally:
        replay.close()


def run(stores: list[str]) -> list[Result]:
    return [_measure(kind) for kind in stores]


def _measure(kind: str) -> Result:
    app = Zhibao(Settings(database_url=demo_store(kind)))
    try:
        open_periods(app)
        as_of, seconds = timed(lambda: submission_as_of(app, KNOWN_AT, COUNTY, PERIOD))
        full, full_seconds = timed(lambda: full_rebuild(app))  # once each: a minute or more
    finally:
        app.close()
    return Result(f"as-of rebuild of {COUNTY} {PERIOD} [{kind}]", seconds * 1000, "ms",
                  full_seconds * 1000, f"full rebuild of {COUNTY} (12 periods)", None,
                  note=f"as known at {KNOWN_AT:%Y-%m-%d %H:%M}, sha256 {as_of.sha256[:12]}…; "
                       f"full rebuild {len(full)} submissions")
