"""Parquet export vs the bare minimum: the same rows read from the same store, then
`pyarrow.Table.from_pylist` + `pyarrow.parquet.write_table` per event type (one untyped,
unpartitioned file each, default settings). Target: the export reaches ≥ 0.5 of its speed
while adding types, partitions, zstd, the manifest and atomic renames.

The demo store (`infra.demo.build_demo`, scale `SCALE`) is built once per process and
shared with the verify and as-of benchmarks.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from bench.harness import Result, fresh_store, peak_rss_mb, timed
from infra.demo import build_demo
from infra.export.parquet import export_parquet
from infra.intake.service import Zhibao
from infra.settings import Settings
from infra.store.log import log_range
from infra.store.records import event_type, unpack_record

SCALE = 1
ROUNDS = 3

_stores: dict[str, str] = {}
_cleanup = ExitStack()
atexit.register(_cleanup.close)


def demo_store(kind: str) -> str:
    """URL of a `kind` store holding the demo, built on first use and removed at exit."""
    if kind not in _stores:
        url = _cleanup.enter_context(fresh_store(kind))
        app = Zhibao(Settings(database_url=url))
        try:
            build_demo(app, scale=SCALE)
        finally:
            app.close()
        _stores[kind] = url
    return _stores[kind]


def best_of(*works: Callable[[], Any]) -> list[tuple[Any, float]]:
    """Each work's result and its best time over `ROUNDS` rounds, the works taking turns so
    a busy spell on the machine falls on both sides alike."""
    runs = [[timed(work) for work in works] for _ in range(ROUNDS)]
    return [min((run[i] for run in runs), key=lambda result: result[1])
            for i in range(len(works))]


def bare_export(app: Zhibao, directory: Path) -> int:
    """The same rows, the simplest way: JSON fields and envelope as dicts, one file a type."""
    rows: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for page in log_range(app.recorder, 0):
        for notification in page:
            prev, digest, payload = unpack_record(notification.state)
            row = orjson.loads(payload)
            row.update(position=notification.id, aggregate_id=str(notification.originator_id),
                       version=notification.originator_version, prev_hash=prev, hash=digest)
            rows[event_type(notification.topic)].append(row)
    for name, typed_rows in rows.items():
        pq.write_table(pa.Table.from_pylist(typed_rows), directory / f"{name}.parquet")
    return sum(len(typed_rows) for typed_rows in rows.values())


def _fresh_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="zhibao-bench-export-"))
    _cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
    return directory


def run(stores: list[str]) -> list[Result]:
    return [_measure(kind) for kind in stores]


def _measure(kind: str) -> Result:
    app = Zhibao(Settings(database_url=demo_store(kind)))
    try:
        sum(len(page) for page in log_range(app.recorder, 0))  # warm the caches for both sides
        (bare_rows, bare_seconds), (exported, seconds) = best_of(
            lambda: bare_export(app, _fresh_directory()),
            lambda: export_parquet(app, _fresh_directory()))
    finally:
        app.close()
    assert exported.events == bare_rows
    return Result(
        f"parquet export [{kind}]", exported.events / seconds, "events/s",
        bare_rows / bare_seconds, "bare from_pylist+write_table", 0.5,
        note=f"{exported.events:,} events → {len(exported.files)} files, {seconds:.1f} s vs "
             f"{bare_seconds:.1f} s; peak RSS {peak_rss_mb():.0f} MB")
