"""The city-wide cascade's statistics — every unit's statistical table for one period —
from the views, vs the same figures recomputed independently from the raw events (the
recomputation the test suite checks the views against: plain SQL on the store's table,
DuckDB over its JSON), at ≥ 1M events. Target: ≥ 10× faster.

The whole cascade — every unit's submission assembled level by level with its lists,
canonical JSON and workbook, and recorded as an event — is reported beside it, against the
same recomputation. It runs on a throwaway copy of the store, since it records events.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg

from bench.bench_projection import big_store
from bench.harness import PG_BENCH_URL, Result, timed
from domain.base import SHANGHAI
from infra.intake.service import Zhibao
from infra.reporting.reporter import Reporter, catch_up, open_views
from infra.settings import Settings
from projections.fold import micros
from projections.stats import Window, figures, tally
from projections.store import ViewStore
from projections.tree import UnitTree
from tests.integration.test_reports_independent import When, independent, load_events

PERIOD = "2021-12"
CUT_OFF = datetime(2022, 1, 3, 9, tzinfo=SHANGHAI)  # the demo's data end in December


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
    return [result for kind in stores for result in _measure(kind)]


def _measure(kind: str) -> list[Result]:
    with store_copy(big_store(kind)) as url:
        app = Zhibao(Settings(database_url=url, output_dir=Path(tempfile.mkdtemp())))
        views = open_views(app)
        try:
            events = catch_up(app, views).position
            (units, seconds), (_, seconds_again) = (timed(lambda: statistics_from_views(
                views, app)) for _ in range(2))
            recomputed, raw_seconds = timed(lambda: recomputed_from_raw_events(app))
            assert recomputed == units, (recomputed, units)
            app.clock = lambda: CUT_OFF
            submissions, cascade_seconds = timed(lambda: Reporter(app, views).cascade(PERIOD))
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
        Result(f"whole cascade, files and events [{kind}]", len(submissions) / cascade_seconds,
               "units/s", units / raw_seconds, "independent recomputation from raw events",
               None, note=f"{len(submissions)} submissions in {cascade_seconds:.1f} s"),
    ]
