"""A demo-like half-year for the report tests: the small world of tests/builders, and from
January to June 2021 monthly self-inspections, town and county inspections with visits,
hazards through every path of their lifecycle (on the spot, closed, voided, extended,
listed, overdue, eliminated by closure), enforcement, interviews, measures and a task list.

Commands are applied in system-time order on the test clock; a fact is often recorded days
after it happened (so some cross a month end after the cut-off), and one village is recoded
in May. Seeded: the same seed always records the same events.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.base import SHANGHAI, DomainError
from domain.codes import complete_uscc
from tests.conftest import FakeClock
from tests.support.builders import ADMIN, World, build_world

START = datetime(2021, 1, 1, 8, tzinfo=SHANGHAI)
END = datetime(2021, 7, 5, tzinfo=SHANGHAI)
TOWN_OF = {"chem": "town", "shop": "town", "mine": "other_county_ema"}
RECODED = ("610902102201", "610902102202")  # 三村 is recoded in May


@dataclass
class Scenario:
    world: World
    clock: FakeClock
    rng: random.Random
    queue: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]
    hazards: list[UUID] = field(default_factory=list)
    mine_hazards: list[UUID] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def at(self, recorded: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (recorded, next(self.seq), action))

    def fact(self, business: datetime, action: Callable[[], None]) -> datetime:
        """Record a fact some time after it happened; mostly hours, sometimes days."""
        lag = timedelta(days=self.rng.uniform(1, 6)) if self.rng.random() < 0.15 \
            else timedelta(minutes=self.rng.uniform(5, 300))
        self.at(business + lag, action)
        return business + lag

    def do(self, command: str, by: str | UUID, **fields: Any) -> None:
        try:
            self.world.do(command, by, **fields)
        except DomainError as e:  # a step overtaken by another (e.g. enterprise closed)
            self.rejected.append(f"{command}: {e}")

    def run(self) -> None:
        while self.queue:
            recorded, _, action = heapq.heappop(self.queue)
            self.clock.now = max(self.clock.now, recorded)
            action()


def day_in(rng: random.Random, month: int, hour: float = 10) -> datetime:
    return datetime(2021, month, rng.randint(1, 28), tzinfo=SHANGHAI) + timedelta(hours=hour)


def build_half_year(app: Any, clock: FakeClock, seed: int = 7) -> Scenario:
    clock.now = START - timedelta(days=30)
    scenario = Scenario(build_world(app), clock, random.Random(seed))
    world = scenario.world
    late = world.enterprises["late"] = uuid4()  # known now, registered when it is; its
    world.persons["late"] = uuid4()  # principal acts for it no sooner than that
    scenario.at(datetime(2021, 3, 10, 9, tzinfo=SHANGHAI), lambda: world.register_enterprise(
        "late", "610902102201", ("industry_trade",), complete_uscc("91610902MA0LATE00"),
        enterprise_id=late, registered_on="2021-03-10", flags={"above_designated_size": True}))
    TOWN_OF["late"] = "other_town"
    scenario.at(datetime(2021, 5, 3, 9, tzinfo=SHANGHAI), lambda: scenario.do(
        "RecodeAdminUnit", ADMIN, code=RECODED[0], new_code=RECODED[1],
        valid_from="2021-05-01"))
    for month in range(1, 7):
        _month(scenario, month)
    _measures_and_tasks(scenario)
    _close_mine(scenario)
    scenario.run()
    return scenario


def _close_mine(s: Scenario) -> None:
    """The mine is closed in June; whatever it still has open is eliminated with it."""
    closed = datetime(2021, 6, 20, 9, tzinfo=SHANGHAI)
    s.at(closed, lambda: s.do("CloseEnterprise", "other_county_ema",
                              enterprise_id=s.world.enterprises["mine"], on="2021-06-20",
                              reason="关闭取缔"))
    for hid in s.mine_hazards:
        s.at(closed + timedelta(hours=2), lambda hid=hid: s.do(
            "EliminateHazardByClosure", "other_county_ema", hazard_id=hid,
            occurred_at=closed + timedelta(hours=1)))


def _month(s: Scenario, month: int) -> None:
    rng = s.rng
    for name in s.world.enterprises:
        if name == "late" and month < 4:
            continue
        if rng.random() < 0.8:
            submitted = datetime(2021, month, 25, 15, tzinfo=SHANGHAI)
            signed = rng.random() < 0.7
            s.fact(submitted, lambda name=name, period=f"2021-{month:02d}", at=submitted,
                   signed=signed: s.do(
                "SubmitSelfInspection", name,
                enterprise_id=s.world.enterprises[name], period=period, submitted_at=at,
                signed_by_principal=signed))
    _inspection(s, "town", "supervisory", ["chem", "shop"], month)
    _inspection(s, "county_ema", "enforcement", ["chem", "shop"], month)
    _inspection(s, "other_county_ema", "enforcement", ["mine"], month)
    for _ in range(rng.randint(6, 10)):
        _hazard(s, rng.choice(list(s.world.enterprises)), day_in(rng, month, rng.uniform(8, 17)))
    if month in (2, 4):
        _case(s, month)
    if month == 3:
        s.fact(day_in(rng, 3), lambda: s.do(
            "HoldInterview", "county_ema", unit_code="610902", target_type="enterprise",
            target_name="shop", enterprise_id=s.world.enterprises["shop"], held_on="2021-03-20"))


def _inspection(s: Scenario, org: str, kind: str, targets: list[str], month: int) -> None:
    inspection_id = uuid4()
    first = date(2021, month, 5)
    team = [{"person_id": "l", "name": "领导", "role": "leader", "rank": "county_level"},
            {"person_id": "a", "name": "甲", "role": "supervisor", "rank": "staff"},
            {"person_id": "b", "name": "乙", "role": "supervisor", "rank": "staff"},
            {"person_id": "e", "name": "专家", "role": "expert", "rank": "staff"}]
    if s.rng.random() < 0.5:
        team = team[1:2]
    start = datetime.combine(first, datetime.min.time(), SHANGHAI)
    s.at(start - timedelta(days=2), lambda: s.do(
        "PlanInspection", org, inspection_id=inspection_id, inspection_type=kind, team=team,
        targets=[s.world.enterprises[t] for t in targets], date_from=first,
        date_to=first + timedelta(days=20)))
    for name in targets:
        if s.rng.random() < 0.85:
            visited = start + timedelta(days=s.rng.randint(0, 20), hours=10)
            s.fact(visited, lambda name=name, at=visited: s.do(
                "RecordInspectionVisit", org, inspection_id=inspection_id,
                enterprise_id=s.world.enterprises[name], visited_at=at))


def _hazard(s: Scenario, enterprise: str, found: datetime) -> None:
    """One hazard and its planned lifecycle, each step recorded after the previous one."""
    rng, hid = s.rng, uuid4()
    major = enterprise in ("chem", "mine") and rng.random() < 0.3
    reporter = "county_chem" if enterprise == "chem" and major else TOWN_OF[enterprise]
    if enterprise == "mine":
        reporter = "other_county_ema"
    s.hazards.append(hid)
    if enterprise == "mine":
        s.mine_hazards.append(hid)
    steps: list[tuple[datetime, Callable[[], None]]] = [(found, lambda: s.do(
        "ReportHazard", reporter, hazard_id=hid, enterprise_id=s.world.enterprises[enterprise],
        channel=rng.choice(["supervisory_inspection", "self_inspection", "covert_visit"]),
        discovered_at=found, description="隐患", category="unsafe_condition",
        proposed_grade="major" if major else "general"))]
    fate = rng.random()
    owner = enterprise
    confirmer = reporter if major or reporter != "county_chem" else "town"
    if enterprise == "mine":
        confirmer = "other_county_ema"
    if not major and fate < 0.25:
        steps.append((found + timedelta(hours=1), lambda: s.do(
            "RectifyHazardOnSpot", owner, hazard_id=hid, rectified_at=found + timedelta(hours=1))))
    elif fate < 0.3:
        steps.append((found + timedelta(days=1), lambda: s.do(
            "VoidHazard", reporter, hazard_id=hid, reason="重复录入")))
    else:
        _treatment(s, steps, hid, found, major, confirmer, owner, enterprise)
    previous = found
    for business, action in sorted(steps, key=lambda step: step[0]):
        recorded = max(business, previous) + timedelta(minutes=rng.uniform(5, 600))
        if rng.random() < 0.1:
            recorded += timedelta(days=rng.uniform(1, 5))
        s.at(recorded, action)
        previous = recorded


def _treatment(s: Scenario, steps: list[tuple[datetime, Callable[[], None]]], hid: UUID,
               found: datetime, major: bool, confirmer: str, owner: dict[str, str],
               enterprise: str) -> None:
    rng = s.rng
    confirmed = found + timedelta(days=rng.randint(1, 3))
    deadline = (found + timedelta(days=rng.randint(10, 45))).date()
    steps.append((confirmed, lambda: s.do(
        "ConfirmHazard", confirmer, hazard_id=hid, grade="major" if major else "general",
        treatment="deadline", deadline=deadline, criteria_ref="判定标准 第4条" if major else None,
        occurred_at=confirmed)))
    plan = {"measures": "整改", "responsible_org": "企业", "responsible_person": "负责人",
            "funds": f"{rng.randint(1, 90) * 100}元", "funds_source": "自筹",
            "deadline": deadline.isoformat(), "contingency_plan": "停产"}
    if not major and rng.random() < 0.5:  # a general plan need not state all of 五到位
        plan = {"measures": "整改", "responsible_person": "负责人"}
    steps.append((confirmed + timedelta(hours=2), lambda: s.do(
        "SubmitRectificationPlan", owner, hazard_id=hid, plan=plan,
        occurred_at=confirmed + timedelta(hours=2))))
    listed = major and enterprise == "chem" and rng.random() < 0.6
    if major:  # approved hours or days later: across a month end it awaits approval
        approved = confirmed + timedelta(hours=rng.uniform(4, 120))
        steps.append((approved, lambda: s.do(
            "ReviewRectificationPlan", confirmer, hazard_id=hid, approve=True,
            occurred_at=approved)))
    if listed:
        lister, level = ("city_office", "city") if rng.random() < 0.3 else ("county_gov",
                                                                            "county")
        steps.append((confirmed + timedelta(hours=5), lambda: s.do(
            "ListHazard", lister, hazard_id=hid, level=level, deadline=deadline,
            occurred_at=confirmed + timedelta(hours=5))))
    done = found + timedelta(days=rng.randint(5, 60))
    if rng.random() < 0.3:  # more time, asked before the deadline, decided later
        asked = datetime.combine(deadline, datetime.min.time(), SHANGHAI) - timedelta(days=1)
        longer = deadline + timedelta(days=rng.randint(10, 30))
        steps.append((asked, lambda: s.do(
            "RequestDeadlineExtension", owner, hazard_id=hid, new_deadline=longer,
            reason="资金", requested_at=asked, occurred_at=asked)))
        decided = asked + timedelta(days=rng.randint(1, 10))
        steps.append((decided, lambda: s.do(
            "DecideDeadlineExtension", "county_gov" if listed else confirmer, hazard_id=hid,
            approve=True, occurred_at=decided)))
    if enterprise == "mine" and rng.random() < 0.2:
        return  # left open: overdue at later month ends
    steps.append((done, lambda: s.do("DeclareRectified", owner, hazard_id=hid, completed_at=done)))
    verifier = "county_ema" if major else confirmer
    if verifier == "county_chem":
        verifier = "county_ema"
    if major and enterprise == "mine":
        verifier = "other_county_ema"
    checked = done + timedelta(days=2)
    if rng.random() < 0.15:
        steps.append((checked, lambda: s.do(
            "VerifyHazard", verifier, hazard_id=hid, passed=False, opinion="未整改到位",
            verified_at=checked)))
        return
    steps.append((checked, lambda: s.do(
        "VerifyHazard", verifier, hazard_id=hid, passed=True, verified_at=checked)))
    if listed:
        steps.append((checked + timedelta(hours=1), lambda: s.do(
            "DelistHazard", "county_gov", hazard_id=hid,
            occurred_at=checked + timedelta(hours=1))))
    steps.append((checked + timedelta(hours=2), lambda: s.do(
        "CloseHazard", verifier, hazard_id=hid, closed_at=checked + timedelta(hours=2))))


def _case(s: Scenario, month: int) -> None:
    case_id = uuid4()
    opened = day_in(s.rng, month)
    recorded = s.fact(opened, lambda: s.do(
        "OpenEnforcementCase", "county_ema", case_id=case_id,
        enterprise_id=s.world.enterprises["shop"], case_no=f"罚{month}", opened_on=opened.date()))
    fined = opened + timedelta(days=2)
    s.at(max(recorded, fined) + timedelta(days=1), lambda: s.do(
        "ImposeFine", "county_ema", case_id=case_id, decided_on=fined.date(),
        amount=f"{month}.5万元"))
    if month == 4:
        s.at(max(recorded, fined) + timedelta(days=2), lambda: s.do(
            "OrderSuspension", "county_ema", case_id=case_id, scope="full",
            decided_on=fined.date()))


def _measures_and_tasks(s: Scenario) -> None:
    for n, org in enumerate(("county_gov", "town")):
        measure_id = uuid4()
        planned = datetime(2021, 2, 10 + n, 10, tzinfo=SHANGHAI)
        s.at(planned, lambda org=org, measure_id=measure_id, planned=planned, n=n: s.do(
            "PlanMeasure", org, measure_id=measure_id, title=f"制度{n}", kind="work_mechanism",
            planned_date="2021-05-31", occurred_at=planned))
        s.at(datetime(2021, 3, 15, tzinfo=SHANGHAI),
             lambda org=org, measure_id=measure_id, n=n: s.do(
                 "IssueMeasure", org, measure_id=measure_id, doc_no=f"文{n}",
                 issued_on="2021-03-15"))
        if n == 0:
            s.at(datetime(2021, 4, 20, tzinfo=SHANGHAI), lambda org=org, measure_id=measure_id:
                 s.do("CompleteMeasure", org, measure_id=measure_id, completed_on="2021-04-20"))
    list_id, task_id = uuid4(), uuid4()
    s.at(datetime(2021, 1, 20, tzinfo=SHANGHAI), lambda: s.do(
        "PublishTaskList", "city_office", list_id=list_id, doc_no="安委办发〔2021〕3号",
        title="任务清单", issuer="市安委办", issued_on="2021-01-18"))
    s.at(datetime(2021, 1, 21, tzinfo=SHANGHAI), lambda: s.do(
        "DefineTask", "city_office", task_id=task_id, task_list_id=list_id, task_no=1,
        requirement="制定清单", responsible_units=["市安委办", "各县区"],
        deadline_text="3月31日前"))
    s.at(datetime(2021, 3, 2, tzinfo=SHANGHAI), lambda: s.do(
        "ReportTaskProgress", "city_office", task_id=task_id, responsible_unit="市安委办",
        text="已完成初稿"))
    s.at(datetime(2021, 3, 20, tzinfo=SHANGHAI), lambda: s.do(
        "CompleteTaskForUnit", "city_office", task_id=task_id, responsible_unit="市安委办"))
