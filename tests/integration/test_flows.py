"""The reporting flows: the daily overdue sweep records each deadline exactly once (plain
functions, on the test clock), and the cascade and the sweep as real Prefect flow runs on
both stores; a real Prefect server schedules the deployments, and `zhibao flows serve` refuses
to start without one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import httpx
import orjson
import pytest

from domain.base import SHANGHAI
from flows.deployments import deployments
from flows.reporting import cascade_flow, overdue_flow, previous_period
from infra.intake.service import Zhibao
from infra.reporting.reporter import open_views, sweep_overdue
from infra.settings import get_settings
from infra.store.summary import events_by_type
from tests.conftest import FakeClock, wait_for
from tests.support.brokers import free_port
from tests.support.builders import build_world
from tests.support.march_world import CITY, TOWN, March, at

ROOT = Path(__file__).resolve().parents[2]


def overdue_events(app: Zhibao) -> int:
    return events_by_type(app.recorder)["HazardBecameOverdue"]


def test_the_sweep_records_each_deadline_exactly_once(march: March, app: Zhibao,
                                                      clock: FakeClock) -> None:
    views = open_views(app)
    try:
        at(clock, "2021-04-05T10:00")  # H2 (due 03-25, extended on 04-02 to 04-30) is fine
        assert sweep_overdue(app, views) == 0
        at(clock, "2021-04-16T00:30")  # H3 was due 04-15
        assert sweep_overdue(app, views) == 1
        assert sweep_overdue(app, views) == 0  # the same day again: nothing new
        at(clock, "2021-05-01T00:30")  # H2's extended deadline has passed too
        assert sweep_overdue(app, views) == 1
        at(clock, "2021-05-02T00:30")
        assert sweep_overdue(app, views) == 0
    finally:
        views.close()
    assert overdue_events(app) == 2


def test_an_extension_granted_after_the_deadline_passed_is_swept_again(
        app: Zhibao, clock: FakeClock) -> None:
    """§6.5: once per deadline, and again after an extended deadline expires."""
    at(clock, "2021-03-01T09:00")
    world = build_world(app)
    hazard = uuid4()
    world.do("ReportHazard", "town", hazard_id=hazard, enterprise_id=world.enterprises["shop"],
             channel="supervisory_inspection", discovered_at="2021-03-01T08:00",
             description="消防通道堵塞", category="unsafe_condition")
    world.do("ConfirmHazard", "town", hazard_id=hazard, grade="general", treatment="deadline",
             deadline="2021-03-10")
    at(clock, "2021-03-09T10:00")
    world.do("RequestDeadlineExtension", "shop", hazard_id=hazard, new_deadline="2021-03-20",
             reason="待料", requested_at="2021-03-09T09:00")
    views = open_views(app)
    try:
        at(clock, "2021-03-11T00:30")  # the request is not decided yet: overdue
        assert sweep_overdue(app, views) == 1
        at(clock, "2021-03-12T10:00")
        world.do("DecideDeadlineExtension", "town", hazard_id=hazard, approve=True)
        at(clock, "2021-03-13T00:30")
        assert sweep_overdue(app, views) == 0
        at(clock, "2021-03-21T00:30")
        assert sweep_overdue(app, views) == 1
    finally:
        views.close()
    assert overdue_events(app) == 2


@pytest.mark.slow
def test_the_cascade_and_the_sweep_as_prefect_flow_runs(
        prefect_harness: None, march: March, app_env: Path, app: Zhibao) -> None:
    state = cascade_flow(period="2021-03", return_state=True)
    assert state.is_completed()
    done = state.result()
    assert [row["level"] for row in done] == ["village"] * 4 + ["town"] * 3 + ["county"] * 2 \
        + ["city"]
    assert {row["status"] for row in done} == {"submitted"}
    assert all(row["late"] for row in done)  # run years after the deadlines
    city = orjson.loads((app_env / "reports/2021-03" / CITY / "v1.json").read_bytes())
    assert [child["status"] for child in city["children"]] == ["late", "late"]
    assert (app_env / "reports/2021-03" / TOWN / "v1.xlsx").is_file()

    again = cascade_flow(period="2021-03")
    assert {row["status"] for row in again} == {"unchanged"}

    assert overdue_flow() == 2  # H2 and H3, long past their deadlines
    assert overdue_flow() == 0
    assert overdue_events(app) == 2


def test_the_deployments_run_on_the_configured_schedules(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIBAO_CASCADE_CRON", "0 6 4 * *")
    monkeypatch.setenv("ZHIBAO_EXPORT_CRON", "5 * * * *")
    get_settings.cache_clear()
    try:
        served = deployments()
    finally:
        get_settings.cache_clear()
    assert [(d.name, d.entrypoint, [s.schedule.cron for s in d.schedules]) for d in served] == [
        ("monthly", "flows.reporting.cascade_flow", ["0 6 4 * *"]),
        ("quarterly", "flows.reporting.cascade_flow", ["0 3 5 1,4,7,10 *"]),
        ("annual", "flows.reporting.cascade_flow", ["0 4 10 1 *"]),
        ("daily", "flows.reporting.overdue_flow", ["30 0 * * *"]),
        ("parquet-export", "flows.export.parquet_export", ["5 * * * *"]),
        ("store-audit", "flows.audit.store_audit", ["30 3 * * *"]),
    ]
    assert {s.schedule.timezone for d in served for s in d.schedules} == {"Asia/Shanghai"}
    assert {d.concurrency_limit for d in served} == {1}
    assert [d.parameters for d in served[:3]] == [{}, {"kind": "quarter"}, {"kind": "year"}]


def test_a_scheduled_cascade_reports_the_previous_month_quarter_or_year() -> None:
    from datetime import datetime

    from domain.base import SHANGHAI

    assert previous_period(datetime(2021, 4, 3, 2, tzinfo=SHANGHAI)) == "2021-03"
    assert previous_period(datetime(2022, 1, 3, 2, tzinfo=SHANGHAI)) == "2021-12"
    assert previous_period(datetime(2021, 7, 5, 3, tzinfo=SHANGHAI), "quarter") == "2021-Q2"
    assert previous_period(datetime(2022, 1, 5, 3, tzinfo=SHANGHAI), "quarter") == "2021-Q4"
    assert previous_period(datetime(2022, 1, 10, 4, tzinfo=SHANGHAI), "year") == "2021"


def test_serving_without_a_prefect_server_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    zhibao = Path(sys.executable).parent / "zhibao"
    done = subprocess.run([str(zhibao), "flows", "serve"], cwd=ROOT,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "prefect server start" in done.stderr and "PREFECT_API_URL" in done.stderr


def test_the_demo_reports_the_last_month(app: Zhibao, clock: FakeClock, tmp_path: Path) -> None:
    """What `zhibao demo` prints after its simulation: the files and the city's headlines."""
    from infra.reporting.headlines import HEADLINES, report_last_month
    from tests.support.reports_world import build_half_year

    build_half_year(app, clock)
    at(clock, "2021-07-02T09:00")
    paths, rows = report_last_month(app, "2021-06", tmp_path)
    assert paths[0] == tmp_path / "reports/2021-06" and paths[1].name == "v1.json"
    assert all(path.exists() for path in paths)
    assert [figure.split()[1] for figure, _ in rows] == list(HEADLINES)
    assert rows[0][0] == "安康市 A1 应报企业数" and rows[0][1] == "本月 4"


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[str]:
    """A real `prefect server start` (what `zhibao flows serve` needs), with its scheduler
    looking every second; yields its API URL."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host",
         "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(lambda: _healthy(url), timeout=90, what="the Prefect server", interval=0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_a_prefect_server_schedules_the_served_deployments(prefect_server: str) -> None:
    """What `zhibao flows serve` hands the server — each deployment, its cron schedule
    active, one run at a time — read back from the server's API, and what it relies on that
    Prefect's test harness does not run: the server's scheduler turning each cron into
    scheduled runs (a SQLAlchemy release once broke it without a word outside the server's
    log)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        served = deployments()
        for deployment in served:
            deployment.apply()
        with get_client(sync_client=True) as client:
            def scheduled() -> dict[str, list[datetime]]:
                names = {d.id: d.name for d in client.read_deployments()}
                runs: dict[str, list[datetime]] = {}
                for run in client.read_flow_runs(limit=200):
                    if run.state_type is not None and run.state_type.value == "SCHEDULED":
                        runs.setdefault(names[run.deployment_id], []).append(
                            run.expected_start_time)
                return runs

            registered = {d.name: d for d in client.read_deployments()}
            wait_for(lambda: len(scheduled()) == len(served), timeout=60,
                     what="scheduled runs of every deployment", interval=0.5)
            runs = scheduled()
    assert {name: [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules]
            for name, d in registered.items()} == {
        "monthly": [("0 2 3 * *", "Asia/Shanghai", True)],
        "quarterly": [("0 3 5 1,4,7,10 *", "Asia/Shanghai", True)],
        "annual": [("0 4 10 1 *", "Asia/Shanghai", True)],
        "daily": [("30 0 * * *", "Asia/Shanghai", True)],
        "parquet-export": [("15 * * * *", "Asia/Shanghai", True)],
        "store-audit": [("30 3 * * *", "Asia/Shanghai", True)],
    }
    assert {d.global_concurrency_limit.limit for d in registered.values()} == {1}
    monthly = min(runs["monthly"]).astimezone(SHANGHAI)
    assert (monthly.day, monthly.hour, monthly.minute) == (3, 2, 0)
    assert sorted(runs) == sorted(registered)
