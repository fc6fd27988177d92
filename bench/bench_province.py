"""A province-year, end to end on PostgreSQL: the demo's generator at `--scale N` cities
(`python -m bench province --scale N`, default 10, all of Shaanxi's) in the province's shape
(`--shape province`, the default: 10 county-level units a city, 8 towns a county, 20 villages
a town — 8.3M events and 16,911 units at ten cities) recorded through the application
service, then every derived stage measured from that store, each in a process of its own so
its peak RSS is its own:

| stage | figure | ratio to |
| --- | --- | --- |
| build (bulk import of the demo) | events/s | raw log read of the result (reported) |
| projection rebuild, worker processes | events/s | raw notification-log read: ≥ 0.5 |
| cascade of every unit, files and events | units/s | 100 units/s: ≥ 1 |
| relay of the log's last `RELAY_TAIL` events (noida) | events/s | raw producer: ≥ 0.5 |
| one county's consumer | events/s | raw fetch of its topics: ≥ 0.4 |
| Parquet export | events/s | raw notification-log read (reported; `bench export` has its peer) |
| audit verify | events/s | raw notification-log read: ≥ 0.3 |
| projection + cascade + export + verify | s | 15 minutes: ≥ 1 (limit / ours) |

Building takes most of an hour at full size, so `--keep` builds the store once into a
schema named by its size (`province_<shape>_<scale>`) and later runs reuse it, with the
build's figures as first measured; the derived stages then run on a fresh copy of its
events (the cascade, relay and audit record what they did), dropped afterwards. The raw
producer, the relay's peer, sends the messages the relay sends (held in memory).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_cascade import store_copy
from bench.bench_kafka import codes, encoded_messages, raw_fetch, raw_produce, resident_peak_mb
from bench.bench_projection import postgres_copy, raw_read
from bench.harness import PG_BENCH_URL, Result, scratch_schema, timed
from infra.demo import REPORTING_STARTS, build_demo
from infra.demo.world import SHAPES
from infra.intake.service import Zhibao
from infra.settings import Settings
from tests.support.brokers import Broker

PERIOD = "2021-12"
UNITS_PER_SECOND = 100
TOTAL_LIMIT_SECONDS = 15 * 60
RELAY_TAIL = 200_000
"""The relay publishes the log's last 200,000 events (its router folds the units before
them), and the raw producer the same messages to topics of its own: at a broker's raw rate
of a few thousand a second, all of a province-year would take an hour, and the rate per
event does not depend on how deep the log is. (The producer sent the log's first 200,000
until 2026-12-07: at the province mostly the registrations of units, orgs, persons and
enterprises, not what the relay sends.)"""


def scale() -> int:
    """Cities: `python -m bench province --scale N` (BENCH_SCALE), default 10."""
    return int(os.environ.get("BENCH_SCALE", "10"))


def shape_name() -> str:
    """Units under each city: `--shape demo|province` (BENCH_SHAPE), default province."""
    return os.environ.get("BENCH_SHAPE", "province")


STAGES = ("projection", "verify", "relay", "cascade", "export")


def chosen() -> tuple[str, ...]:
    """The derived stages to measure: `--stages a,b` (BENCH_STAGES), default all of
    `STAGES` (relay includes the consumer of one county)."""
    text = os.environ.get("BENCH_STAGES")
    return tuple(text.split(",")) if text else STAGES


def run(stores: list[str]) -> list[Result]:
    if "postgres" not in stores:
        return []
    with tempfile.TemporaryDirectory(prefix="zhibao-province-") as directory:
        work = Path(directory)
        broker = Broker("noida", work).start()
        try:
            if os.environ.get("BENCH_KEEP"):
                return _measure_kept(work, broker)
            with scratch_schema(PG_BENCH_URL, "province") as url:
                build = built(stage(_build, Settings(database_url=url), scale(),
                                    shape_name()))
                return _measure(url, build, work, broker)
        finally:
            broker.stop()


def _measure_kept(work: Path, broker: Broker) -> list[Result]:
    """Build once and keep: the demo recorded into an SQLite file (its bulk import is
    several times PostgreSQL's on this machine, and a province-year is long), then copied
    with COPY into a kept PostgreSQL schema, the build's figures kept beside it; the derived
    stages run on a fresh copy of its events."""
    schema = f"province_{shape_name()}_{scale()}"
    url = f"{PG_BENCH_URL}?schema={schema}"
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".bench_build '
                     "(count bigint, seconds float8, rss float8)")
        kept = conn.execute(f'SELECT count, seconds, rss FROM "{schema}".bench_build').fetchone()
    if kept is None:
        file = Path(tempfile.gettempdir()) / "zhibao-province" / f"{schema}.db"
        file.parent.mkdir(exist_ok=True)
        file.unlink(missing_ok=True)
        build = built(stage(_build, Settings(database_url=f"sqlite:///{file}"), scale(),
                            shape_name()))
        postgres_copy(file, schema)
        file.unlink()
        with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
            conn.execute(f'INSERT INTO "{schema}".bench_build VALUES (%s, %s, %s)',
                         (build["count"], build["seconds"], build["rss"]))
    else:
        build = dict(zip(("count", "seconds", "rss"), kept, strict=True))
    build["store"] = "SQLite"
    with store_copy(url) as copy:
        return _measure(copy, build, work, broker)


def _measure(url: str, build: dict[str, Any], work: Path, broker: Broker) -> list[Result]:
    """The chosen stages (`chosen()`), those with targets first: the views' rebuild,
    verify, relay and a consumer, then the cascade from the rebuilt views and the export (it
    snapshots the cascade's submissions) — the longest two. Each result is also printed to
    stderr as it comes, since the whole run takes long. The raw read is timed once, right
    after the copy wrote the table (a second, warming read of 10M events costs minutes)."""
    settings = Settings(database_url=url, output_dir=work / "out",
                        audit_signing_key=None, kafka_bootstrap_servers=broker.bootstrap,
                        kafka_topic_prefix="province")
    events, wanted = build["count"], chosen()
    relay_start = max(0, events - RELAY_TAIL)
    app = Zhibao(settings)
    try:
        _, raw_seconds = timed(lambda: raw_read(app))
        messages = (encoded_messages(app, "raw", limit=RELAY_TAIL, after=relay_start)
                    if "relay" in wanted else [])
    finally:
        app.close()
    raw_rate = events / raw_seconds
    results: list[Result] = []

    def measured(name: str, done: dict[str, Any], unit: str, peer: float, peer_name: str,
                 target: float | None) -> dict[str, Any]:
        if "error" in done:
            result = Result(f"province {name} [postgres]", 0, unit, peer, peer_name,
                            target or 1, note=f"failed: {done['error']}")
            done = {"seconds": float("nan")}
        else:
            result = Result(f"province {name} [postgres]", done["count"] / done["seconds"],
                            unit, peer, peer_name, target,
                            note=f"{done['count']:,} in {done['seconds']:.1f} s, peak RSS "
                                 f"{done['rss']:.0f} MB")
        results.append(result)
        print(result.line(), file=sys.stderr, flush=True)
        return done

    measured(f"build on {build.get('store', 'PostgreSQL')}, {scale()} cities of "
             f"{shape_name()} shape", build, "events/s", raw_rate, "raw notification-log read",
             None)
    spent: list[dict[str, Any]] = []
    if "projection" in wanted:
        spent.append(measured("projection rebuild", stage(_project, settings), "events/s",
                              raw_rate, "raw notification-log read", 0.5))
    if "verify" in wanted:
        spent.append(measured("audit verify", stage(_verify, settings), "events/s", raw_rate,
                              "raw notification-log read", 0.3))
    if "relay" in wanted:
        relay = stage(_relay, settings, relay_start)
        _, produce_seconds = timed(lambda: raw_produce(settings, messages))
        measured(f"relay to noida, the log's last {RELAY_TAIL:,}", relay, "events/s",
                 len(messages) / produce_seconds, "raw kafka-python producer", 0.5)
        county = next(code for code in codes(settings) if not code.endswith("00"))
        consumer = stage(_consume, settings, county, str(work / "county.db"))
        fetched, fetch_seconds = timed(lambda: raw_fetch(
            settings, [f"province.events.{county}", "province.events.system"]))
        measured(f"consumer of county {county}", consumer, "events/s",
                 fetched / fetch_seconds, "raw fetch of its topics", 0.4)
    if "cascade" in wanted:
        spent.append(measured(f"cascade {PERIOD}, every unit with files",
                              stage(_cascade, settings), "units/s", UNITS_PER_SECOND,
                              "the limit", 1))
    if "export" in wanted:
        spent.append(measured("Parquet export", stage(_export, settings, str(work / "parquet")),
                              "events/s", raw_rate, "raw notification-log read",
                              None))  # its peer, a bare pyarrow export, is `bench export`'s
    if len(spent) < 4:
        return results
    total = sum(done["seconds"] for done in spent)
    results.append(Result(
        "province projection + cascade + export + verify [postgres]", TOTAL_LIMIT_SECONDS, "s",
        total, "ours", 1, note=f"{events:,} events: {total:.0f} s of the "
                               f"{TOTAL_LIMIT_SECONDS} s limit"))
    return results


def stage(target: Callable[..., int], *args: Any) -> dict[str, Any]:
    """Run `target(*args)` in a fresh process: what it counted, its seconds, its peak RSS —
    or the error it ended with, so one failed stage does not cost the others' figures."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_timed_in_process, args=(target, args, queue))
    process.start()
    done = queue.get()
    process.join()
    return done


def built(done: dict[str, Any]) -> dict[str, Any]:
    """The build's figures; without a store there is nothing to measure."""
    if "error" in done:
        raise RuntimeError(f"build: {done['error']}")
    return done


def _timed_in_process(target: Callable[..., int], args: tuple[Any, ...], queue: Any) -> None:
    try:
        started = time.perf_counter()
        count = target(*args)
        queue.put({"count": count, "seconds": time.perf_counter() - started,
                   "rss": resident_peak_mb()})
    except Exception as e:  # reported by the parent, naming the stage
        queue.put({"error": f"{type(e).__name__}: {e}"})


def _build(settings: Settings, cities: int, shape: str) -> int:
    app = Zhibao(settings)
    try:
        return build_demo(app, scale=cities, shape=SHAPES[shape]).events
    finally:
        app.close()


def _project(settings: Settings) -> int:
    from infra.reporting.reporter import catch_up, open_views

    app = Zhibao(settings)
    views = open_views(app)
    try:
        views.reset()
        return catch_up(app, views).position
    finally:
        views.close()
        app.close()


def _cascade(settings: Settings) -> int:
    from infra.reporting.reporter import Reporter, open_views

    app = Zhibao(settings)
    views = open_views(app)
    app.clock = lambda: REPORTING_STARTS
    try:
        return len(Reporter(app, views).cascade(PERIOD))
    finally:
        views.close()
        app.close()


def _relay(settings: Settings, start: int) -> int:
    from infra.kafka.relay import Relay

    app = Zhibao(settings)
    try:
        relay = Relay(app, settings)
        relay.positions.save(start)
        return relay.run().published
    finally:
        app.close()


def _consume(settings: Settings, county: str, views_path: str) -> int:
    from infra.kafka.consumer import CountyConsumer

    consumer = CountyConsumer(county, f"sqlite:///{views_path}", settings)
    try:
        return consumer.run().applied
    finally:
        consumer.close()


def _export(settings: Settings, directory: str) -> int:
    """The export, printing how far it got every minute: the longest stage, a partial
    figure is still a figure if the run must stop."""
    from infra.export.parquet import export_parquet

    started, last = time.perf_counter(), [time.perf_counter()]

    def progress(position: int) -> None:
        if time.perf_counter() - last[0] >= 60:
            last[0] = time.perf_counter()
            print(f"  export at position {position:,} after {last[0] - started:.0f} s",
                  file=sys.stderr, flush=True)

    app = Zhibao(settings)
    try:
        return export_parquet(app, Path(directory), progress).events
    finally:
        app.close()
        shutil.rmtree(directory, ignore_errors=True)


def _verify(settings: Settings) -> int:
    from infra.audit.integrity import verify

    app = Zhibao(settings)
    try:
        verification = verify(app)
        assert verification.ok, verification
        return verification.events
    finally:
        app.close()
