"""Health and lag, read from real stores, a real broker and a real county consumer: each stage
shows how far behind it is and since when; `zhibao status --check` fails exactly while a
stage is stalled; the last cascade per level carries its submitted / 迟报 / 漏报 counts; and
`/metrics` and `/healthz`, served over HTTP, say the same."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from infra.cli.main import main
from infra.intake.service import Zhibao
from infra.kafka.consumer import APPLIED_VERSIONS, CountyConsumer
from infra.kafka.relay import Relay
from infra.ops.health import ALL_COUNTIES, Probe
from infra.ops.metrics import health_app, metrics_app
from infra.reporting.reporter import Reporter, catch_up, open_views
from infra.settings import Settings, get_settings
from projections.store import TABLES, ViewStore
from tests.conftest import FakeClock
from tests.integration.test_kafka_consumer import COUNTY
from tests.integration.test_kafka_relay import kafka_settings
from tests.support.brokers import free_port
from tests.support.builders import build_world
from tests.support.kafka_world import hazard_traffic, varied_history
from tests.support.march_world import TOWN, at, build_march


@pytest.fixture
def env(app: Zhibao, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command line pointed at the test's store, with every wait counting as a stall."""
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", app.settings.database_url)
    monkeypatch.setenv("ZHIBAO_STATUS_STALL_SECONDS", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def project(app: Zhibao) -> None:
    views = open_views(app)
    try:
        catch_up(app, views)
    finally:
        views.close()


def views_stage(settings: Settings) -> tuple[int, int, float | None]:
    probe = Probe(settings)
    try:
        views = next(s for s in probe.read().stages if s.stage == "views")
    finally:
        probe.close()
    return views.position, views.behind, views.oldest_seconds


def test_views_behind_are_stalled_until_caught_up(app: Zhibao, env: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    build_world(app)
    head = app.recorder.max_notification_id()
    settings = get_settings()
    position, behind, waited = views_stage(settings)
    assert (position, behind) == (0, head)
    assert waited is not None and waited > 0  # the first event was recorded in 2021
    assert main(["status", "--check"]) == 1
    assert "stalled: views all" in capsys.readouterr().err
    probe = Probe(settings)
    try:
        by_county = {s.scope: s.behind for s in probe.read().stages
                     if s.stage == "views" and s.scope != ALL_COUNTIES}
    finally:
        probe.close()
    assert sum(by_county.values()) == head  # every waiting event, each counted once …
    assert set(by_county) == {"610000", "610900", "610902", "610921"}  # … where it routes
    assert by_county["610902"] > by_county["610921"] > 0
    assert main(["status"]) == 0  # without --check it only reports
    capsys.readouterr()

    project(app)
    assert views_stage(settings) == (head, 0, None)
    assert main(["status", "--check"]) == 0
    assert "stalled" not in capsys.readouterr().err


def test_the_last_cascade_per_level_with_late_and_missing(
        app: Zhibao, clock: FakeClock, tmp_path: Path) -> None:
    build_march(app, clock)
    views = open_views(app)
    reporter = Reporter(app, views, tmp_path / "out")
    at(clock, "2021-04-05T10:00")  # the villages' deadline (04-03) has passed: 漏报 below
    reporter.report(TOWN, "2021-03")
    at(clock, "2021-04-06T10:00")  # villages (04-03) and towns (04-05) are late
    done = reporter.cascade("2021-03")
    catch_up(app, views)
    with views.snapshot() as tx:
        missing = dict(tx.rows("SELECT u.level, COUNT(*) FROM view_missing m JOIN view_units u "
                               "ON u.code = m.unit_code GROUP BY u.level"))
    views.close()

    probe = Probe(app.settings)
    try:
        runs = {run.level: run for run in probe.read().cascades}
    finally:
        probe.close()
    for level in ("village", "town", "county", "city"):
        ours = [d for d in done if d.level.value == level]
        run = runs[level]
        assert (run.period, run.submitted, run.late, run.missing) == (
            "2021-03", len(ours), sum(d.late for d in ours), missing.get(level, 0)), level
    assert runs["village"].missing == 2 and runs["village"].late == 4
    assert runs["city"].late == 0


class Served:
    """An ASGI app served by uvicorn on a free port, in a thread."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.kafka
def test_relay_and_a_county_consumer_behind_over_http(app: Zhibao, clock: FakeClock,
                                                      kafka_broker, tmp_path: Path) -> None:
    world = build_world(app)
    varied_history(world)
    hazard_traffic(world, 30)
    settings = kafka_settings(app, kafka_broker)
    Relay(app, settings).run()
    county_views = f"sqlite:///{tmp_path}/county-views.db"
    ViewStore(county_views, (*TABLES, APPLIED_VERSIONS)).close()
    settings = settings.model_copy(update={"status_consumers": {COUNTY: county_views},
                                           "status_stall_seconds": 0})
    project(app)

    def stages() -> dict[tuple[str, str], object]:
        probe = Probe(settings)
        try:
            return {(s.stage, s.scope): s for s in probe.read().stages}
        finally:
            probe.close()

    before = stages()
    head = app.recorder.max_notification_id()
    assert before["relay", ALL_COUNTIES].behind == 0
    assert before["relay", ALL_COUNTIES].position == head
    waiting = before["consumer", COUNTY]
    assert waiting.position == 0 and waiting.behind > 0
    assert waiting.oldest_seconds is not None and waiting.oldest_seconds >= 0
    assert waiting.stalled(0)

    consumer = CountyConsumer(COUNTY, county_views, settings)
    consumer.run()
    consumer.close()
    caught_up = stages()["consumer", COUNTY]
    assert caught_up.behind == 0 and caught_up.position == waiting.head
    assert caught_up.oldest_seconds is None

    hazard_traffic(world, 4)
    after = stages()
    assert after["relay", ALL_COUNTIES].behind == app.recorder.max_notification_id() - head
    assert after["relay", "610902"].behind == after["relay", "610921"].behind == 6  # 2 hazards
    assert after["views", "610902"].behind == 6  # each, 3 events apiece
    Relay(app, settings).run()
    project(app)
    assert stages()["consumer", COUNTY].behind > 0

    with Served(metrics_app(settings)) as url:
        text = httpx.get(url, timeout=30).text
    got = samples(text)
    assert got["zhibao_store_head", ()] == app.recorder.max_notification_id()
    assert got["zhibao_stage_events_behind", (("county", "*"), ("stage", "relay"))] == 0
    assert got["zhibao_stage_events_behind", (("county", COUNTY), ("stage", "consumer"))] > 0
    assert got["zhibao_stage_stalled", (("county", COUNTY), ("stage", "consumer"))] == 1
    with Served(health_app(settings)) as url:
        answer = httpx.get(url, timeout=30)
    assert answer.status_code == 503
    assert answer.json()["status"] == "stalled"
    assert [(s["stage"], s["scope"]) for s in answer.json()["stages"] if s["stalled"]] == [
        ("consumer", COUNTY)]


def test_an_unreachable_broker_is_a_stalled_consumer(app: Zhibao) -> None:
    build_world(app)
    project(app)
    settings = app.settings.model_copy(update={
        "status_consumers": {COUNTY: "sqlite:///unused.db"},
        "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    probe = Probe(settings)
    try:
        health = probe.read()
    finally:
        probe.close()
    [consumer] = [s for s in health.stages if s.stage == "consumer"]
    assert consumer.scope == COUNTY and consumer.error.startswith("broker unreachable")
    assert health.stalled == [consumer]
