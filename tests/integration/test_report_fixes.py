"""Regression tests for what an independent check of the submissions found (issue 13):
inspections counted when carried out, a major hazard awaiting approval of its plan, the
cascade's printed table, task responsibilities as whole units, and quarterly and annual
periods."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from pypdf import PdfReader

from domain.base import SHANGHAI
from domain.codes import complete_uscc
from domain.tasks import split_responsible_units
from infra.cli.common import console
from infra.cli.main import main
from infra.intake.service import Zhibao
from infra.intake.taskcsv import ANKANG_2021, task_list_commands
from infra.reporting.reporter import Reporter, catch_up, open_views
from infra.store.records import event_payload
from projections.stats import Window, hazards_sql
from tests.conftest import FakeClock
from tests.support.builders import ADMIN, World, build_world
from tests.support.march_world import TOWN, at, build_march, figures, file, read
from tests.support.reports_world import build_half_year

VILLAGE, COUNTY, CITY = "610902101201", "610902", "610900"
TASKS = Path(__file__).resolve().parents[2] / "infra/demo/data/tasks_2021_ankang.csv"
TEAM = [{"person_id": "a", "name": "甲", "role": "leader", "rank": "county_level"}]


def more_enterprises(world: World, count: int) -> list[UUID]:
    found = []
    for serial in range(count):
        enterprise = uuid4()
        world.do("RegisterEnterprise", ADMIN, enterprise_id=enterprise,
                 uscc=complete_uscc(f"91610902MA0E{serial:04d}X0"[:17]), name=f"企业{serial}",
                 unit_code=VILLAGE, sectors=["industry_trade"], registered_on="2021-01-01")
        found.append(enterprise)
    return found


def test_an_inspection_counts_in_the_period_its_visits_happened(
        app: Zhibao, clock: FakeClock, reporter: Reporter) -> None:
    """Planned on 05-29 and carried out in June: June's. Planned on 06-28 and carried out
    on 07-01: July's. F2 counts the enterprises actually visited, not the targets."""
    at(clock, "2021-05-01T09:00")
    world = build_world(app)
    ent = world.enterprises
    five = [ent["chem"], ent["shop"], *more_enterprises(world, 3)]

    def plan(when: str, targets: list[UUID], until: str) -> UUID:
        at(clock, when)
        inspection = uuid4()
        world.do("PlanInspection", "town", inspection_id=inspection,
                 inspection_type="supervisory", team=TEAM, targets=targets,
                 date_from=when[:10], date_to=until)
        return inspection

    def visit(inspection: UUID, enterprise: UUID, when: str) -> None:
        at(clock, when)
        world.do("RecordInspectionVisit", "town", inspection_id=inspection,
                 enterprise_id=enterprise, visited_at=when)

    may = plan("2021-05-29T09:00", five[:2], "2021-06-30")
    half = plan("2021-06-01T09:00", five, "2021-06-30")  # 5 targets, 3 visited
    full = plan("2021-06-01T09:30", five, "2021-06-30")  # 5 targets, 5 visited
    late = plan("2021-06-28T09:00", five[:1], "2021-07-05")
    visit(may, five[0], "2021-06-02T10:00")
    visit(may, five[1], "2021-06-05T10:00")
    for n, enterprise in enumerate(five):
        if n < 3:
            visit(half, enterprise, f"2021-06-1{n}T10:00")
        visit(full, enterprise, f"2021-06-2{n}T10:00")
    visit(late, five[0], "2021-07-01T10:00")

    def month(period: str, report_at: str) -> dict[str, dict[str, Any]]:
        at(clock, report_at)
        return figures(read(reporter.report(TOWN, period).files[0]))

    may_figures = month("2021-05", "2021-06-03T10:00")
    june = month("2021-06", "2021-07-02T10:00")
    july = month("2021-07", "2021-08-02T10:00")
    assert [m["A7"]["month"] for m in (may_figures, june, july)] == [0, 3, 1]
    assert [m["F1"]["month"] for m in (may_figures, june, july)] == [0, 3, 1]
    assert (june["F2"]["month"], june["F6"]["month"], july["A7"]["cumulative"]) == (1, 3, 4)
    assert june["A6"]["month"] == 10 and july["A6"]["month"] == 1  # visits, as before


def test_a_major_hazard_awaiting_approval_of_its_plan_is_confirmed_not_rectifying(
        app: Zhibao, clock: FakeClock, reporter: Reporter) -> None:
    """Confirmed 06-28, listed 06-29, plan submitted 06-30, approved 07-03: 已确认 in the
    June lists of its village, town, county and city; 整改中 in July's."""
    at(clock, "2021-06-28T09:00")
    world = build_world(app)
    hazard = uuid4()
    world.do("ReportHazard", "county_chem", hazard_id=hazard,
             enterprise_id=world.enterprises["chem"], channel="supervisory_inspection",
             discovered_at="2021-06-28T08:00", description="储罐区重大隐患",
             category="unsafe_condition", proposed_grade="major")
    world.do("ConfirmHazard", "county_chem", hazard_id=hazard, grade="major",
             treatment="deadline", deadline="2021-08-31", criteria_ref="判定标准 第6项")
    at(clock, "2021-06-29T09:00")
    world.do("ListHazard", "county_gov", hazard_id=hazard, level="county",
             deadline="2021-08-31")
    at(clock, "2021-06-30T09:00")
    world.do("SubmitRectificationPlan", "chem", hazard_id=hazard, plan={
        "measures": "更换储罐", "responsible_org": "化工厂", "responsible_person": "王五",
        "funds": "5万元", "funds_source": "自筹", "deadline": "2021-08-20",
        "contingency_plan": "停用储罐区"})
    at(clock, "2021-07-03T09:00")
    world.do("ReviewRectificationPlan", "county_chem", hazard_id=hazard, approve=True)

    def states(period: str) -> list[str]:
        return [read(reporter.report(code, period).files[0])["hazard_list"][0]["state"]
                for code in (VILLAGE, TOWN, COUNTY, CITY)]

    assert states("2021-06") == ["confirmed"] * 4
    at(clock, "2021-08-03T09:00")
    assert states("2021-07") == ["rectifying"] * 4
    june = read(reporter.report(CITY, "2021-06").files[0])["national_table"]["total"]
    july = read(reporter.report(CITY, "2021-07").files[0])["national_table"]["total"]
    assert (june["major_found"], june["major_planned"], june["major_listed"]) == (1, 0, 1)
    assert (july["major_planned"], july["major_five_in_place"], july["funds_fen"]) == (
        1, 1, 5_000_000)
    assert june["funds_fen"] == 0  # a major's plan is in force only once approved


def test_the_ankang_task_units_are_kept_whole(app: Zhibao, clock: FakeClock,
                                              reporter: Reporter) -> None:
    """Tasks 9 and 17: "各县区(开发区)党委、政府" is one responsible unit, not two."""
    text = {9: "各县区(开发区)党委、政府",
            32: "市级各专委会办公室、市生态环境局,各县区(开发区)安委会"}
    assert split_responsible_units(text[9]) == ("各县区(开发区)党委、政府",)
    assert split_responsible_units(text[32]) == ("市级各专委会办公室", "市生态环境局",
                                                 "各县区(开发区)安委会")
    at(clock, "2021-01-19T09:00")
    world = build_world(app)
    for command in task_list_commands(TASKS, ANKANG_2021):
        app.execute(command, world.issuer("city_office"))
    at(clock, "2021-02-03T09:00")
    tasks = read(reporter.report(CITY, "2021-01").files[0])["tasks"]
    for number in (9, 17):
        assert [t["responsible_unit"] for t in tasks if t["task_no"] == number] == [
            "各县区(开发区)党委、政府"]
    assert not [t for t in tasks if t["responsible_unit"] == "政府"]


@pytest.mark.slow
def test_the_cascade_prints_each_units_status_as_recorded(
        prefect_harness: None, app: Zhibao, clock: FakeClock, app_env: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A town reported before its villages (漏报 both), then the cascade: villages
    submitted, the town amended (its children are no longer missing) — each 迟报 as the
    views record it (the CLI runs on the real clock, years after every deadline)."""
    monkeypatch.setattr(console, "width", 200)  # a wide terminal: one line per unit
    march = build_march(app, clock)
    assert main(["report", "--unit", TOWN, "--period", "2021-03",
                 "--as", str(march.world.persons["town"])]) == 0
    first = " ".join(capsys.readouterr().err.split())
    assert "(迟报 late)" in first and first.count("漏报 missing") == 2
    assert main(["flows", "run", "cascade", "--period", "2021-03"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().err.splitlines()]
    town = next(line for line in lines if f"│ {TOWN} " in line)
    assert "amended" in town and "迟报" in town and "│ 2 │" in town
    village = next(line for line in lines if f"│ {VILLAGE} " in line)
    assert "submitted" in village and "迟报" in village
    assert any("10 units; 10 迟报 (late); 0 children 漏报 (missing)" in line
               for line in lines), "\n".join(lines[-8:])


@pytest.mark.parametrize("period, first, last, label, deadline", [
    ("2021-Q1", "2021-01-01", "2021-03-31", "2021年第一季度", "2021-04-08"),
    ("2021", "2021-01-01", "2021-12-31", "2021年度", "2022-01-15"),
])
def test_quarterly_and_annual_periods(app: Zhibao, clock: FakeClock, reporter: Reporter,
                                      period: str, first: str, last: str, label: str,
                                      deadline: str) -> None:
    """The same statistics over a quarter or a year (本期 = the period's window), with
    their own deadlines (DOMAIN §7.3): a town's quarter is due on the 8th of the next
    month, its year on 15 January."""
    build_march(app, clock)
    at(clock, "2021-04-07T10:00")
    done = reporter.report(TOWN, period, draft=period == "2021")
    document = read(done.files[0])
    assert (document["period"], document["first_day"], document["last_day"]) == (
        period, first, last)
    town = figures(document)
    assert town["B1"]["month"] == 3 and town["A2"]["month"] == 1  # March's, in the window
    assert done.files[0].parent == reporter.output_dir / "reports" / period / TOWN
    assert label in "".join(p.extract_text() for p in PdfReader(file(done, ".pdf")).pages[:1])
    with reporter.views.snapshot() as tx:
        (deadlines,), = tx.rows("SELECT deadlines FROM view_periods WHERE period = ?",
                                (period,))
    assert orjson.loads(deadlines)["town"] == deadline
    assert not done.late


def test_a_period_is_refused_unless_month_quarter_or_year(
        app: Zhibao, clock: FakeClock, app_env: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    build_march(app, clock)
    before = app.recorder.max_notification_id()
    for wrong in ("2021-Q5", "2021-13", "21-Q1", "2021Q1"):
        assert main(["report", "--unit", TOWN, "--period", wrong]) == 2
        assert "period:" in capsys.readouterr().err
    assert app.recorder.max_notification_id() == before
    assert not app_env.exists()


def test_the_views_judge_state_and_overdue_as_the_domain_does(
        app: Zhibao, clock: FakeClock) -> None:
    """The hazard conditions are defined once for the views (projections.catalogue) and
    the domain keeps the same rules for one aggregate (Hazard.is_overdue, its state):
    every hazard of the half-year, at the 10th of every month, as the overdue sweep
    evaluates it then, agrees with the aggregate as it stood then."""
    build_half_year(app, clock)
    views = open_views(app)
    judged: Counter[tuple[str, bool]] = Counter()
    states = {"ELIMINATED_BY_CLOSURE": "eliminated"}
    try:
        catch_up(app, views)
        for month in range(2, 8):
            moment = datetime(2021, month, 10, 12, tzinfo=SHANGHAI)
            window = Window.now(moment, app.settings.programme_start,
                                app.settings.stock_cutoff)
            with views.snapshot() as tx:
                rows = tx.rows(f"SELECT hazard_id, state_at, is_overdue FROM "
                               f"({hazards_sql(tx.dialect, state=True)}) f", window.params())
            for hazard_id, state, overdue in rows:
                recorded = [datetime.fromisoformat(event_payload(stored.state)["timestamp"])
                            for stored in app.recorder.select_events(UUID(hazard_id))]
                hazard = app.repository.get(UUID(hazard_id), version=sum(
                    at <= moment for at in recorded))
                assert state == states.get(hazard.state.value, hazard.state.value.lower()), (
                    hazard_id, moment)
                assert bool(overdue) == hazard.is_overdue(moment.date()), (hazard_id, moment)
                judged[state, bool(overdue)] += 1
    finally:
        views.close()
    assert len(judged) >= 7 and judged["confirmed", True] + judged["rectifying", True] > 0
