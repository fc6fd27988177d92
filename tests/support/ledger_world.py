"""A small world with history: hazards through their lifecycle (plans with funds, a listed
major hazard), an enforcement case with a fine, an enterprise's flags changed and an issued
measure — enough
aggregates of several versions, money, dates and nested values for the audit and export
tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID, uuid4

from tests.conftest import FakeClock
from tests.support.builders import World, build_world


@dataclass
class Ledger:
    world: World
    hazards: list[UUID] = field(default_factory=list)
    major_hazard: UUID | None = None
    case: UUID | None = None
    measure: UUID | None = None


def general_hazard(world: World, clock: FakeClock, enterprise: str, day: int,
                   close: bool = True) -> UUID:
    """A general hazard reported on 2021-03-`day`, rectified and (optionally) closed."""
    hazard_id = uuid4()
    world.do("ReportHazard", "town", hazard_id=hazard_id,
             enterprise_id=world.enterprises[enterprise], channel="supervisory_inspection",
             discovered_at=f"2021-03-{day:02d}T08:30", description=f"消防通道堵塞 {day}",
             category="unsafe_condition")
    world.do("ConfirmHazard", "town", hazard_id=hazard_id, grade="general",
             treatment="deadline", deadline=f"2021-03-{day + 10:02d}")
    world.do("SubmitRectificationPlan", enterprise, hazard_id=hazard_id,
             plan={"measures": "清理通道", "funds": "1234.56元",
                   "deadline": f"2021-03-{day + 8:02d}"})
    if close:
        clock.advance(hours=6)
        world.do("DeclareRectified", enterprise, hazard_id=hazard_id, completed_at=clock.now)
        clock.advance(hours=1)
        world.do("VerifyHazard", "town", hazard_id=hazard_id, passed=True, verified_at=clock.now)
        world.do("CloseHazard", "town", hazard_id=hazard_id, closed_at=clock.now)
    return hazard_id


def major_hazard(world: World) -> UUID:
    hazard_id = uuid4()
    world.do("ReportHazard", "county_chem", hazard_id=hazard_id,
             enterprise_id=world.enterprises["chem"], channel="supervisory_inspection",
             discovered_at="2021-03-02T10:00", description="储罐区可燃气体报警器失效",
             category="unsafe_condition", proposed_grade="major")
    world.do("ConfirmHazard", "county_chem", hazard_id=hazard_id, grade="major",
             treatment="deadline", deadline="2021-04-30", criteria_ref="AQ 3035 4.2")
    world.do("SubmitRectificationPlan", "chem", hazard_id=hazard_id, plan={
        "measures": "更换报警器", "responsible_org": "设备部", "responsible_person": "王工",
        "funds": "2.5万元", "funds_source": "企业自筹", "deadline": "2021-04-20",
        "contingency_plan": "停用储罐"})
    world.do("ListHazard", "county_gov", hazard_id=hazard_id, level="county",
             deadline="2021-04-30", supervising_org="县应急管理局", notice_no="汉滨安委〔2021〕3号")
    return hazard_id


def build_ledger(app, clock: FakeClock, general: int = 6) -> Ledger:  # type: ignore[no-untyped-def]
    ledger = Ledger(build_world(app))
    world = ledger.world
    for day in range(1, general + 1):
        clock.advance(days=1)
        enterprise = "chem" if day % 2 else "shop"
        ledger.hazards.append(general_hazard(world, clock, enterprise, day, close=day % 3 != 0))
    clock.advance(days=1)
    ledger.major_hazard = major_hazard(world)
    ledger.case = uuid4()
    world.do("OpenEnforcementCase", "county_ema", case_id=ledger.case,
             enterprise_id=world.enterprises["shop"], case_no="汉滨应急罚〔2021〕7号",
             opened_on=clock.now.date())
    world.do("ImposeFine", "county_ema", case_id=ledger.case, decided_on=clock.now.date(),
             amount="1.5万元", decision_no="罚字7号")
    world.do("ChangeEnterpriseFlags", "county_ema", enterprise_id=world.enterprises["shop"],
             flags={"crowded_place": True, "small_venue_9": True})
    ledger.measure = uuid4()
    world.do("PlanMeasure", "county_ema", measure_id=ledger.measure, title="危化品专项整治方案",
             kind="plan", sector="hazchem", partners=["县消防救援大队"],
             planned_date=(clock.now.date() + timedelta(days=20)).isoformat(),
             related_hazard_ids=[ledger.major_hazard])
    world.do("IssueMeasure", "county_ema", measure_id=ledger.measure,
             doc_no="汉滨安委发〔2021〕5号", issued_on=clock.now.date().isoformat())
    return ledger
