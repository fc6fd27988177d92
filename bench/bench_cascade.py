"""The city-wide cascade's statistics — every unit's statistical table for one period —
from the views, vs the same figures recomputed independently from the raw events (the
recomputation the test suite checks the views against: plain SQL on the store's table,
DuckDB over its JSON), at ≥ 1M events. Target: ≥ 10× faster.

The whole cascade — every unit's submission assembled level by level with its lists,
recorded as an event and written as JSON, workbook and PDF — against a limit of 100 units/s
(issue 14). Then the store grows by 1 % (hazards reported by enterprises in the next month)
and the same month is cascaded again: only the units whose document changed are assembled,
recorded and written, the others are skipped — target ≤ 10 % of the first cascade's time
(shown as the inverse ratio, ≥ 10). Then by 1 % more, `LATE_SHARE` of it late records of
the reported month, which amend their units and every ancestor: reported. The cascade runs
on a throwaway copy of the store, since it records events. Last, the peak RSS of the
cascade's main process on the million-event store vs on the demo (148k events), each first
cascade in a fresh process whose views another process built: issue 14 wants it to grow
with the largest document (a county's lists), not with the province.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from bench.bench_export import demo_store
from bench.bench_kafka import in_process, resident_peak_mb
from bench.bench_projection import big_store
from bench.harness import PG_BENCH_URL, Result, files_folder, timed
from domain import commands as c
from domain.authority import Role
from domain.base import SHANGHAI, micros
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import Issuer
from infra.reporting.reporter import Reporter, catch_up, open_views
from infra.settings import Settings
from projections.stats import Window, figures, tally
from projections.store import ViewStore
from projections.tree import UnitTree
from tests.integration.test_reports_independent import When, independent, load_events

PERIOD = "2021-12"
CUT_OFF = datetime(2022, 1, 10, 9, tzinfo=SHANGHAI)  # after the demo's last record (3 Jan)
AGAIN = datetime(2022, 1, 12, 9, tzinfo=SHANGHAI)  # the second cascade, after more events
LATE_SHARE = 0.01  # of the new events, late records of December; the rest are January's
UNITS_PER_SECOND = 100


@contextmanager
def store_copy(url: str) -> Iterator[str]:
    """A private copy of a store (the cascade records its submissions into it)."""
    if url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="zhibao-bench-cascade-") as directory:
            shutil.copy(urlsplit(url).path, f"{directory}/zhibao.db")
            yield f"sqlite:///{directory}/zhibao.db"
        return
    source = parse_qs(urlsplit(url).query)["schema"][0]
    schema = f"bench_cascade_{uuid.uuid4().hex[:12]}"
    copy = f"{PG_BENCH_URL}?schema={schema}"
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    app = Zhibao(Settings(database_url=copy))  # creates the store's tables
    name = app.recorder.events_table_name  # type: ignore[attr-defined]
    app.close()
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{schema}".{name} SELECT * FROM "{source}".{name}')
        conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{schema}\".{name}', "
                     f"'notification_id'), (SELECT max(notification_id) FROM "
                     f'"{schema}".{name}))')
        conn.execute(f'ANALYZE "{schema}".{name}')  # as after any bulk load
    try:
        yield copy
    finally:
        with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def statistics_from_views(views: ViewStore, app: Zhibao) -> int:
    """Every unit's table for the period, as the cascade computes it; returns the units."""
    settings = app.settings
    window = Window(PERIOD, settings.programme_start, settings.stock_cutoff, CUT_OFF)
    with views.snapshot() as tx:
        tree = UnitTree.load(tx, window.last_day.isoformat(), micros(CUT_OFF))
        tallies = tally(tx, window, tree)
    for unit_id, unit in tree.units.items():
        figures(tallies[unit_id], unit.level)
    return len(tree.units)


def recomputed_from_raw_events(app: Zhibao) -> int:
    return len(independent(load_events(app), When(PERIOD, CUT_OFF)))


def run(stores: list[str]) -> list[Result]:
    return [result for kind in stores for result in _measure(kind)] + (
        memory() if "sqlite" in stores else [])


def memory() -> list[Result]:
    """Peak RSS of the cascade's main process: the million-event store vs the demo."""
    (small_units, small_mb), (big_units, big_mb) = (
        _cascade_rss(url) for url in (demo_store("sqlite"), big_store("sqlite")))
    return [Result(f"cascade's main process peak RSS, {big_units:,} units", big_mb, "MB",
                   small_mb, f"{small_units:,} units (the demo)", None,
                   note="sqlite; each first cascade in a fresh process")]


def _cascade_rss(url: str) -> tuple[int, float]:
    """(submissions, peak RSS in MB) of a first cascade in a fresh process, on a copy of
    the store whose views another fresh process built."""
    with store_copy(url) as copy:
        in_process(_project, copy)
        return in_process(_cascade, copy)


def _project(url: str, queue: Any) -> None:
    app = Zhibao(Settings(database_url=url))
    views = open_views(app)
    try:
        queue.put((catch_up(app, views).position, resident_peak_mb()))
    finally:
        views.close()
        app.close()


def _cascade(url: str, queue: Any) -> None:
    app = Zhibao(Settings(database_url=url, output_dir=files_folder("zhibao-bench-cascade-")))
    views = open_views(app)
    try:
        app.clock = lambda: CUT_OFF
        queue.put((len(Reporter(app, views).cascade(PERIOD)), resident_peak_mb()))
    finally:
        views.close()
        shutil.rmtree(app.settings.output_dir, ignore_errors=True)
        app.close()


def more_events(app: Zhibao, views: ViewStore, share: float, late: float) -> int:
    """`share` more events: hazards self-reported by enterprises spread over every city,
    discovered in January 2022 — or, `late` of them, on 31 December 2021 and recorded only
    now — recorded on 11 January. Returns how many events were recorded."""
    rng = random.Random(14 + int(late * 1000))
    app.refresh_directory()
    principals = {person.org_id: Issuer(person.person_id)  # each enterprise's 主要负责人
                  for person in app.directory.persons.values()
                  if Role.ENTERPRISE_PRINCIPAL in person.roles}
    enterprises = sorted(principals)
    wanted = int(app.recorder.max_notification_id() * share)
    commands = []
    for number in range(1, wanted + 1):
        found = (datetime(2021, 12, 31, 15, tzinfo=SHANGHAI) if rng.random() < late else
                 datetime(2022, 1, rng.randint(1, 9), 10, tzinfo=SHANGHAI))
        enterprise = rng.choice(enterprises)
        commands.append((number, principals[enterprise], c.ReportHazard(
            enterprise_id=enterprise, channel="self_inspection", discovered_at=found,
            description="消防通道堵塞", category="unsafe_condition")))
    app.clock = lambda: datetime(2022, 1, 11, 9, tzinfo=SHANGHAI)
    recorded = 0
    for result in app.execute_batch(commands, 2000):
        recorded += result.events  # (an enterprise closed meanwhile refuses its hazard)
    return recorded


def _measure(kind: str) -> list[Result]:
    with store_copy(big_store(kind)) as url:
        app = Zhibao(Settings(database_url=url, output_dir=files_folder("zhibao-bench-cascade-")))
        views = open_views(app)
        try:
            events = catch_up(app, views).position
            (units, seconds), (_, seconds_again) = (timed(lambda: statistics_from_views(
                views, app)) for _ in range(2))
            recomputed, raw_seconds = timed(lambda: recomputed_from_raw_events(app))
            assert recomputed == units, (recomputed, units)
            app.clock = lambda: CUT_OFF
            submissions, cascade_seconds = timed(lambda: Reporter(app, views).cascade(PERIOD))
            runs = []
            for late in (0, LATE_SHARE):
                added = more_events(app, views, 0.01, late)
                catch_up(app, views)
                app.clock = lambda: AGAIN
                again, again_seconds = timed(lambda: Reporter(app, views).cascade(PERIOD))
                runs.append((late, added, again, again_seconds))
        finally:
            views.close()
            shutil.rmtree(app.settings.output_dir, ignore_errors=True)
            app.close()
    fastest = min(seconds, seconds_again)
    return [
        Result(f"cascade statistics from views [{kind}]", units / fastest, "units/s",
               units / raw_seconds, "independent recomputation from raw events", 10,
               note=f"{units} units, {PERIOD}, {events:,} events: {fastest:.2f} s vs "
                    f"{raw_seconds:.1f} s"),
        Result(f"whole cascade, files (JSON, xlsx, PDF) and events [{kind}]",
               len(submissions) / cascade_seconds, "units/s", UNITS_PER_SECOND,
               "the limit", 1,
               note=f"{len(submissions)} submissions in {cascade_seconds:.1f} s"),
        *(Result(f"cascade again after 1 % more events, {late:.0%} of them late records of "
                 f"{PERIOD} [{kind}]: first's time / this one's", cascade_seconds, "s",
                 again_seconds, "this cascade", None if late else 10,
                 note=f"{added:,} events added; {sum(not d.unchanged for d in again)} of "
                      f"{len(again)} units amended in {again_seconds:.1f} s, the rest "
                      "skipped")
          for late, added, again, again_seconds in runs),
    ]
