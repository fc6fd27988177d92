"""Projection catch-up vs the raw notification-log read of the same store (the pages of
notifications the projector reads, nothing done with them), at ≥ 1M events: target ≥ 0.5
(issue 14; 0.3 before).
Peak memory is measured a quarter of the way through the log and at its end: folding in
pages of constant size, it must not grow with the number of events (target: the quarter
mark at least 0.8 of the end).

The store is the demo (`infra.demo.build_demo`) at scale `SCALE` (cities), ≥ 1M events.
Building it takes a while, so it is kept between runs in `CACHE` (keyed by the demo and
domain sources); PostgreSQL gets a copy of the same stored events, positions included.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg

from bench.harness import PG_BENCH_URL, Result, fresh_store, timed
from infra.intake.service import Zhibao
from infra.settings import Settings
from infra.store.log import log_range

SCALE = 8
MIN_EVENTS = 1_000_000
CACHE = Path(tempfile.gettempdir()) / "zhibao-bench-cache"
ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _sources_key() -> str:
    """Changes when the demo or the domain changes, so a stale store is never reused."""
    digest = hashlib.sha256(f"scale={SCALE}".encode())
    for folder in ("infra/demo", "domain"):
        for path in sorted((ROOT / folder).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def big_store(kind: str) -> str:
    """URL of a store of `kind` holding ≥ 1M demo events, built on first use and kept."""
    sqlite_path = CACHE / f"demo-{_sources_key()}.db"
    if not sqlite_path.exists():
        _forget_stale_stores()
        _build_sqlite(sqlite_path)
    if kind == "sqlite":
        return f"sqlite:///{sqlite_path}"
    return postgres_copy(sqlite_path)


def _forget_stale_stores() -> None:
    """Stores built from older sources are never read again: a gigabyte each, removed."""
    for stale in CACHE.glob("demo-*.db"):
        stale.unlink()
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        for (schema,) in conn.execute("SELECT nspname FROM pg_namespace "
                                      "WHERE nspname LIKE 'bench\\_cache\\_%'").fetchall():
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _build_sqlite(path: Path) -> None:
    from infra.demo import build_demo

    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    print(f"building the demo at scale {SCALE} into {path} (once; kept between runs)",
          file=sys.stderr, flush=True)
    app = Zhibao(Settings(database_url=f"sqlite:///{building}"))
    try:
        result = build_demo(app, scale=SCALE)
    finally:
        app.close()
    assert result.events >= MIN_EVENTS, f"only {result.events} events at scale {SCALE}"
    with sqlite3.connect(building) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    building.rename(path)
    for leftover in (Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)


def postgres_copy(sqlite_path: Path, schema: str | None = None) -> str:
    """A schema holding the same stored events (same positions), copied once and kept."""
    schema = schema or f"bench_cache_{sqlite_path.stem.removeprefix('demo-')}"
    url = f"{PG_BENCH_URL}?schema={schema}"
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    app = Zhibao(Settings(database_url=url))
    try:
        if app.recorder.max_notification_id():
            return url
        table = f'"{schema}".{app.recorder.events_table_name}'  # type: ignore[attr-defined]
    finally:
        app.close()
    source = sqlite3.connect(sqlite_path)
    with psycopg.connect(PG_BENCH_URL) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY {table} (notification_id, originator_id, originator_version, "
                         "topic, state) FROM STDIN") as copy:
            for row in source.execute("SELECT rowid, originator_id, originator_version, "
                                      "topic, state FROM stored_events ORDER BY rowid"):
                copy.write_row((row[0], uuid.UUID(row[1]), row[2], row[3], row[4]))
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'notification_id'), "
                       f"(SELECT max(notification_id) FROM {table}))")
        cursor.execute(f"ANALYZE {table}")  # as after any bulk load: see recorder.analyze
    source.close()
    return url


PROJECT = """
import json, resource, sys, time
from infra.intake.service import Zhibao
from infra.settings import Settings
from projections.runner import Projector
from projections.store import ViewStore
app = Zhibao(Settings(database_url=sys.argv[1]))
views = ViewStore(sys.argv[2])
head = app.recorder.max_notification_id()
quarter = []
def progress(position, _):
    if not quarter and position >= head // 4:
        quarter.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
started = time.perf_counter()
done = Projector(app.recorder, views, database_url=sys.argv[1]).catch_up(progress)
seconds = time.perf_counter() - started
cpu = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
          for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"events": done.position, "seconds": seconds, "cpu": cpu,
                  "rss_quarter": quarter[0],
                  "rss_end": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_workers": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def project_in_a_process(store_url: str, kind: str) -> dict[str, float]:
    """Fold the whole log into fresh views in a process of its own (its memory is the
    projector's alone)."""
    with fresh_store(kind, "views.db") as views_url:
        done = subprocess.run([sys.executable, "-c", PROJECT, store_url, views_url], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                              capture_output=True, text=True)
    return json.loads(done.stdout)


def raw_read(app: Zhibao) -> int:
    return sum(len(page) for page in log_range(app.recorder, 0))


def best_raw_read_around(app: Zhibao, work: Callable[[], T]) -> tuple[int, float, T]:
    """The raw read timed before and after `work` (a busy spell falls on both sides), the
    better of the two kept."""
    (events, before), (result, _) = timed(lambda: raw_read(app)), timed(work)
    after = timed(lambda: raw_read(app))[1]
    return events, min(before, after), result


def run(stores: list[str]) -> list[Result]:
    return [result for kind in stores for result in _measure(kind)]


def _measure(kind: str) -> list[Result]:
    url = big_store(kind)
    app = Zhibao(Settings(database_url=url))
    try:
        raw_read(app)  # warm the caches for both sides
        events, raw_seconds, projected = best_raw_read_around(
            app, lambda: project_in_a_process(url, kind))
    finally:
        app.close()
    assert projected["events"] == events >= MIN_EVENTS, (projected, events)
    seconds = projected["seconds"]
    return [
        Result(f"projection catch-up [{kind}]", events / seconds, "events/s",
               events / raw_seconds, "raw notification-log read", 0.5,
               note=f"{events:,} events in {seconds:.1f} s vs {raw_seconds:.1f} s; "
                    f"{projected['cpu']:.0f} s CPU in the projector and its workers"),
        Result(f"projection peak RSS at 1/4 vs end [{kind}]", projected["rss_quarter"], "MB",
               projected["rss_end"], "peak RSS at the end of the log", 0.8,
               note=f"largest worker process: {projected['rss_workers']:.0f} MB"),
    ]
