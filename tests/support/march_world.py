"""The month of March 2021 worked out by hand for the submission tests (`build_march`), the
clock setter they share and readers of a submission's files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson

from domain.base import SHANGHAI
from infra.intake.service import Zhibao
from tests.conftest import FakeClock
from tests.support.builders import World, build_world

CUT_OFF_1 = datetime(2021, 4, 3, 10, tzinfo=SHANGHAI)
CUT_OFF_2 = datetime(2021, 5, 3, 10, tzinfo=SHANGHAI)
TOWN, COUNTY, OTHER_COUNTY, CITY = "610902101000", "610902", "610921", "610900"


def at(clock: FakeClock, when: str) -> None:
    clock.now = datetime.fromisoformat(when).replace(tzinfo=SHANGHAI)


@dataclass
class March:
    world: World
    hazards: dict[str, UUID]


def build_march(app: Zhibao, clock: FakeClock) -> March:
    """March 2021 in the small world (tests/builders), as the module docstring of each
    test relies on it:

    H1 chem, general, closed 03-16 · H2 shop, general, due 03-25, extended on 04-02 to 04-30
    · H3 chem, major, due 04-15, listed by the county · H4 shop, found 03-28, recorded only
    on 04-05 · H5 voided · H6 mine (other county), rectified on the spot. Self-inspections by
    chem (signed) and mine; a town inspection visits chem and shop, a county enforcement
    inspection chem; a case against shop with a 2万元 fine."""
    at(clock, "2021-03-01T09:00")
    world = build_world(app)
    h = {name: uuid4() for name in ("H1", "H2", "H3", "H4", "H5", "H6")}
    ent = world.enterprises

    def report(name: str, by: str, enterprise: str, found: str, grade: str = "general") -> None:
        world.do("ReportHazard", by, hazard_id=h[name], enterprise_id=ent[enterprise],
                 channel="supervisory_inspection", discovered_at=found, description=name,
                 category="unsafe_condition", proposed_grade=grade)

    at(clock, "2021-03-05T11:00")
    report("H1", "town", "chem", "2021-03-05T10:00")
    world.do("ConfirmHazard", "town", hazard_id=h["H1"], grade="general", treatment="deadline",
             deadline="2021-03-20", occurred_at="2021-03-05T10:30")
    world.do("SubmitRectificationPlan", "chem", hazard_id=h["H1"], plan={"measures": "清理"},
             occurred_at="2021-03-05T10:40")
    at(clock, "2021-03-16T12:00")
    world.do("DeclareRectified", "chem", hazard_id=h["H1"], completed_at="2021-03-15T10:00")
    world.do("VerifyHazard", "town", hazard_id=h["H1"], passed=True,
             verified_at="2021-03-16T10:00")
    world.do("CloseHazard", "town", hazard_id=h["H1"], closed_at="2021-03-16T11:00")

    at(clock, "2021-03-10T10:00")
    report("H2", "town", "shop", "2021-03-10T09:00")
    world.do("ConfirmHazard", "town", hazard_id=h["H2"], grade="general", treatment="deadline",
             deadline="2021-03-25", occurred_at="2021-03-10T09:30")
    at(clock, "2021-03-24T11:00")
    world.do("RequestDeadlineExtension", "shop", hazard_id=h["H2"], new_deadline="2021-04-30",
             reason="设备未到", requested_at="2021-03-24T10:00", occurred_at="2021-03-24T10:00")
    at(clock, "2021-04-02T11:00")
    world.do("DecideDeadlineExtension", "town", hazard_id=h["H2"], approve=True,
             occurred_at="2021-04-02T10:00")

    at(clock, "2021-03-13T12:00")
    report("H3", "county_chem", "chem", "2021-03-12T09:00", "major")
    world.do("ConfirmHazard", "county_chem", hazard_id=h["H3"], grade="major",
             treatment="deadline", deadline="2021-04-15", criteria_ref="判定标准 第6项",
             occurred_at="2021-03-12T15:00")
    world.do("ListHazard", "county_gov", hazard_id=h["H3"], level="county",
             deadline="2021-04-15", occurred_at="2021-03-13T09:00")

    at(clock, "2021-03-19T12:00")
    report("H5", "town", "chem", "2021-03-18T09:00")
    world.do("VoidHazard", "town", hazard_id=h["H5"], reason="重复录入",
             occurred_at="2021-03-19T10:00")
    at(clock, "2021-03-20T12:00")
    report("H6", "other_county_ema", "mine", "2021-03-20T10:00")
    world.do("RectifyHazardOnSpot", "mine", hazard_id=h["H6"], rectified_at="2021-03-20T11:00")

    at(clock, "2021-03-29T10:00")
    world.do("SubmitSelfInspection", "chem", enterprise_id=ent["chem"], period="2021-03",
             submitted_at="2021-03-28T15:00", signed_by_principal=True)
    world.do("SubmitSelfInspection", "mine", enterprise_id=ent["mine"], period="2021-03",
             submitted_at="2021-03-29T09:00", signed_by_principal=False)
    team = [{"person_id": "a", "name": "甲", "role": "supervisor", "rank": "staff"}]
    town_check, county_check = uuid4(), uuid4()
    world.do("PlanInspection", "town", inspection_id=town_check, inspection_type="supervisory",
             team=team, targets=[ent["chem"], ent["shop"]], date_from="2021-03-01",
             date_to="2021-03-31")
    world.do("PlanInspection", "county_ema", inspection_id=county_check,
             inspection_type="enforcement", team=team, targets=[ent["chem"]],
             date_from="2021-03-01", date_to="2021-03-31")
    world.do("RecordInspectionVisit", "town", inspection_id=town_check,
             enterprise_id=ent["chem"], visited_at="2021-03-08T10:00")
    world.do("RecordInspectionVisit", "town", inspection_id=town_check,
             enterprise_id=ent["shop"], visited_at="2021-03-09T10:00")
    world.do("RecordInspectionVisit", "county_ema", inspection_id=county_check,
             enterprise_id=ent["chem"], visited_at="2021-03-11T10:00")
    case = uuid4()
    world.do("OpenEnforcementCase", "county_ema", case_id=case, enterprise_id=ent["shop"],
             case_no="罚1", opened_on="2021-03-22")
    world.do("ImposeFine", "county_ema", case_id=case, amount="2万元", decided_on="2021-03-23")
    return March(world, h)


def record_late_hazard(march: March, clock: FakeClock, when: str = "2021-04-05T10:00") -> None:
    """H4: found on 03-28, recorded on 04-05 (or `when`) — after the first cut-off."""
    at(clock, when)
    march.world.do("ReportHazard", "town", hazard_id=march.hazards["H4"],
                   enterprise_id=march.world.enterprises["shop"],
                   channel="supervisory_inspection", discovered_at="2021-03-28T14:00",
                   description="H4", category="unsafe_condition")


def figures(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["code"]: {k: row[k] for k in ("month", "cumulative", "at_end") if k in row}
            for row in document["statistics"]}


def read(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes())


def file(done: Any, suffix: str) -> Path:
    """One of a submission's files by its suffix (.json, .xlsx, .pdf, .diff.json, .sha256)."""
    found = [path for path in done.files if path.name.endswith(suffix)
             and not (suffix == ".json" and path.name.endswith(".diff.json"))]
    assert len(found) == 1, (suffix, done.files)
    return found[0]
