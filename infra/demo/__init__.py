"""`zhibao demo`: a realistic synthetic city-year, recorded through the application service
exactly as real commands would be (same validation, same batches, each issued by a
registered person with the role it needs — or, for what only zhibao records, by zhibao),
on a simulated clock so business time and recorded time look like a year of real use.

Default size: 1 city, 4 county-level units (one a development zone) × 6 towns × 10 villages,
about 3,000 enterprises, the year 2021. `scale` (up to 10) is the number of Shaanxi's cities;
`shape` the units under each (`PROVINCE_SHAPE`: a real province's density, ≈ 0.8M events a city).
The same seed and scale always give the same store contents (ids, events, times).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from domain.commands import Command
from infra.demo.world import DEMO_SHAPE, Shape, WorldBuilder
from infra.demo.year import YEAR, YEAR_END, Year
from infra.intake.service import BatchResult, Numbered, Zhibao
from infra.intake.unit_of_work import Issuer

YEAR_START = datetime(YEAR - 1, 12, 1, tzinfo=YEAR_END.tzinfo)
REPORTING_STARTS = datetime(YEAR + 1, 1, 3, 9, 0, tzinfo=YEAR_END.tzinfo)
"""When the simulated offices assemble it: early January, before the villages' deadline."""


@dataclass(frozen=True)
class DemoSpan:
    """How much of the year the demo simulates: its first `months` (a short demo for a quick
    look or an install check), then the cascade of its last month, assembled on the 3rd of
    the month after, before the villages' deadline."""

    months: int = 12

    @property
    def until(self) -> datetime | None:
        if self.months == 12:
            return None
        return datetime(YEAR, self.months + 1, 1, tzinfo=YEAR_END.tzinfo)

    @property
    def period(self) -> str:
        return f"{YEAR}-{self.months:02d}"

    @property
    def reporting_starts(self) -> datetime:
        return self.until.replace(day=3, hour=9) if self.until else REPORTING_STARTS


@dataclass
class DemoResult:
    commands: int = 0
    events: int = 0
    totals: BatchResult = field(default_factory=BatchResult)
    simulated_until: datetime = YEAR_START


def demo_commands(seed: int = 2021, scale: int = 1, until: datetime | None = None,
                  shape: Shape = DEMO_SHAPE) -> Iterator[tuple[datetime, Issuer, Command]]:
    """The demo's commands with the simulated system time each is recorded at and who
    issues it; a shorter history when `until` cuts the year (tests use a few months)."""
    rng = random.Random(f"zhibao-demo/{seed}/{scale}")
    return Year(rng, WorldBuilder(rng, scale, shape)).commands(until)


def build_demo(app: Zhibao, seed: int = 2021, scale: int = 1, batch_size: int = 2000,
               progress: Callable[[float], None] | None = None,
               until: datetime | None = None, shape: Shape = DEMO_SHAPE) -> DemoResult:
    """Record the demo into `app`'s store. `progress` receives the fraction of the simulated
    year done. The application's clock follows the simulation while this runs."""
    result = DemoResult()
    real_clock = app.clock

    def numbered() -> Iterator[Numbered]:
        for number, (recorded_at, issuer, command) in enumerate(
                demo_commands(seed, scale, until, shape), start=1):
            result.simulated_until = recorded_at
            yield number, issuer, command

    app.clock = lambda: result.simulated_until
    try:
        for batch in app.execute_batch(numbered(), batch_size, internal=True):
            result.totals.merge(batch)
            if progress is not None:
                progress(_fraction(result.simulated_until, until or YEAR_END))
    finally:
        app.clock = real_clock
    result.commands = result.totals.applied + len(result.totals.rejections)
    result.events = result.totals.events
    return result


def _fraction(at: datetime, end: datetime) -> float:
    return min(1.0, max(0.0, (at - YEAR_START) / (end - YEAR_START)))
