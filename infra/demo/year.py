"""A simulated year (2021) of work-safety supervision, as commands in the order zhibao would
have received them.

Every activity is scheduled on one clock, the system time at which zhibao records it
(business time plus a realistic entry lag), and commands come out of a priority queue in
that order. A hazard's whole lifecycle is planned when it is found — on-the-spot fixes, deadlines,
plans, extensions, listing, late completion, failed verification, closure — and each step
checks the simulation's state when its time comes (an enterprise closed meanwhile turns the
remaining steps into elimination by closure). Deterministic for a given random generator.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

from domain import commands as c
from domain.base import SHANGHAI
from domain.commands import Command
from infra.demo.world import (
    Body,
    City,
    County,
    Enterprise,
    Issued,
    Town,
    Village,
    World,
    WorldBuilder,
)
from infra.intake.taskcsv import ANKANG_2021, task_list_commands
from infra.intake.unit_of_work import ZHIBAO, Issuer

YEAR = 2021
YEAR_END = datetime(YEAR, 12, 31, 23, 59, tzinfo=SHANGHAI)

GENERAL_FINDINGS = [  # description, category
    ("消防通道堵塞", "unsafe_condition"), ("灭火器过期失效", "unsafe_condition"),
    ("安全出口锁闭", "unsafe_condition"), ("电气线路私拉乱接", "unsafe_condition"),
    ("特种作业人员无证上岗", "unsafe_behaviour"), ("高处作业未系安全带", "unsafe_behaviour"),
    ("有限空间作业未审批", "management_defect"), ("安全培训记录缺失", "management_defect"),
    ("应急预案未演练", "management_defect"), ("设备防护装置缺失", "unsafe_condition"),
    ("粉尘清扫不及时", "unsafe_condition"), ("安全警示标志缺失", "unsafe_condition"),
]
MAJOR_FINDINGS = [  # description, criteria reference
    ("涉爆粉尘作业场所未设置泄爆装置", "工贸企业重大事故隐患判定标准 第十三条(一)"),
    ("有限空间作业未落实审批和检测", "工贸企业重大事故隐患判定标准 第四条(二)"),
    ("危险化学品重大危险源未实施监控",
     "化工和危险化学品生产经营单位重大生产安全事故隐患判定标准 第六项"),
    ("人员密集场所安全出口数量不足", "重大火灾隐患判定方法 第5.2条"),
    ("燃气管道严重腐蚀未更换", "城镇燃气经营安全重大隐患判定标准 第四条"),
]


TERMINAL_COMMANDS = (c.CloseHazard, c.VoidHazard, c.RectifyHazardOnSpot)


def by(issuer: Issuer, command: type[Command], **fields: object) -> Issued:
    """A command and who issues it."""
    return issuer, command(**fields)


def at_time(day: date, hour: float) -> datetime:
    return datetime.combine(day, time(), SHANGHAI) + timedelta(hours=hour)


@dataclass
class HazardPlan:
    """What the simulation knows of one hazard while its lifecycle unfolds."""

    hazard_id: UUID
    enterprise: Enterprise | None
    town: Town
    major: bool
    reported: bool = False
    finished: bool = False


Step = tuple[datetime, Callable[[], Issued | None]]
"""A command to record about a fact at its business time (made when its time comes)."""


class Year:
    def __init__(self, rng: random.Random, builder: WorldBuilder) -> None:
        self.rng = rng
        self.builder = builder
        self.world: World = builder.world
        self._queue: list[tuple[datetime, int, Callable[[], Issued | None]]] = []
        self._seq = itertools.count()
        self.last = datetime(YEAR - 1, 12, 1, tzinfo=SHANGHAI)

    # -- the clock ---------------------------------------------------------------------------

    def schedule(self, at: datetime, make: Callable[[], Issued | None]) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), make))

    def commands(self, until: datetime | None = None,
                 ) -> Iterator[tuple[datetime, Issuer, Command]]:
        """Reference data first (recorded in December 2020), then the year in system-time
        order — up to `until` (system time) when given — each with who issues it."""
        registered = self.last
        for issuer, command in self.builder.commands():
            registered += timedelta(seconds=2)
            yield registered, issuer, command
        for month in range(1, 13):
            self.schedule(at_time(date(YEAR, month, 1), 0), self._month_planner(month))
        self._schedule_task_list()
        while self._queue:
            at, _, make = heapq.heappop(self._queue)
            if until is not None and at > until:
                return
            issued = make()
            if issued is not None:
                self.last = max(self.last, at)
                yield self.last, *issued

    def lag(self, quick: bool = False) -> timedelta:
        """How long after the fact zhibao learns it: mostly minutes, sometimes days."""
        if not quick and self.rng.random() < 0.1:
            return timedelta(hours=self.rng.uniform(20, 72))
        return timedelta(minutes=self.rng.uniform(2, 180))

    def record(self, business: datetime, make: Callable[[], Issued | None]) -> datetime:
        """Schedule a command about a fact at business time `business`; return when it is
        recorded, so a follow-up step can be recorded after it."""
        recorded = business + self.lag()
        self.schedule(recorded, make)
        return recorded

    def chain(self, steps: list[Step]) -> datetime:
        """Steps of one aggregate in business-time order, each recorded after the previous
        one; what would happen after the simulated year is left out."""
        previous = datetime.min.replace(tzinfo=SHANGHAI)
        for business, make in sorted(steps, key=lambda step: step[0]):
            if business > YEAR_END:
                break
            recorded = max(business + self.lag(), previous + timedelta(seconds=30))
            self.schedule(recorded, make)
            previous = recorded
        return previous

    # -- monthly activity ---------------------------------------------------------------------

    def _month_planner(self, month: int) -> Callable[[], Issued | None]:
        def plan() -> Issued | None:
            """Schedules the month's activity; itself records nothing."""
            first = date(YEAR, month, 1)
            last = (first.replace(month=month % 12 + 1) if month < 12 else date(YEAR + 1, 1, 1)) \
                - timedelta(days=1)
            for enterprise in self.world.enterprises:
                if self.rng.random() < 0.85:
                    self._self_inspection(enterprise, first, last)
            for town in self.world.towns:
                for _ in range(self.rng.randint(2, 5)):
                    self._inspection(town.office, "town_officer", "supervisory",
                                     town.enterprises, first, last, town_level=True)
                for village in town.villages:
                    if village.enterprises and self.rng.random() < 0.3:
                        self._grid_report(village, first, last)
            for county in self.world.counties:
                self._county_month(county, first, last)
            for city in self.world.cities:
                self._city_month(city, first, last)
            if month <= 3:
                for enterprise in self.world.enterprises:
                    if self.rng.random() < 1 / 3:
                        self._risk_points(enterprise, first, last)
            if month == 2:
                self._measures()
            return None
        return plan

    def _day(self, first: date, last: date) -> date:
        return first + timedelta(days=self.rng.randint(0, (last - first).days))

    def _self_inspection(self, enterprise: Enterprise, first: date, last: date) -> None:
        submitted = at_time(max(first, last - timedelta(days=6)) + timedelta(
            days=self.rng.randint(0, min(6, (last - first).days))), self.rng.uniform(9, 18))
        found = self.rng.choices([0, 1, 2, 3], weights=[70, 22, 6, 2])[0]
        actor = enterprise.principal_issuer
        period = f"{first:%Y-%m}"
        signed = self.rng.random() < 0.8

        def submit() -> Issued | None:
            if enterprise.closed:
                return None
            return by(actor, c.SubmitSelfInspection, enterprise_id=enterprise.enterprise_id,
                      period=period, submitted_at=submitted, hazards_found=found,
                      signed_by_principal=signed,
                      published_on=submitted.date() if signed else None)
        self.record(submitted, submit)
        for _ in range(found):
            discovered = submitted - timedelta(hours=self.rng.uniform(1, 96))
            if discovered.date() >= first:
                self.hazard(enterprise, actor, "self_inspection", discovered, level="enterprise")

    def _grid_report(self, village: Village, first: date, last: date) -> None:
        """随手拍: the village's grid worker photographs a hazard at one of its enterprises."""
        enterprise = self.rng.choice(village.enterprises)
        if enterprise.closed:
            return
        found = at_time(self._day(first, last), self.rng.uniform(8, 18))
        self.hazard(enterprise, village.committee.someone(self.rng, "grid_worker"),
                    "photo_report", found, level="village")

    def _county_month(self, county: County, first: date, last: date) -> None:
        orgs = county.orgs
        enterprises = [e for e in county.enterprises]
        for _ in range(2):
            self._inspection(orgs["ema"], "enforcement_officer", "enforcement", enterprises,
                             first, last, team_121=self.rng.random() < 0.5)
        construction = [e for e in enterprises if e.sectors[0] in ("construction", "gas")]
        self._inspection(orgs["housing"], "sector_inspector", "supervisory", construction,
                         first, last)
        crowded = [e for e in enterprises if e.sectors[0] in ("fire", "culture_tourism",
                                                               "education", "health")]
        self._inspection(orgs["fire"], "sector_inspector", "double_random", crowded, first,
                         last)
        if first.month % 3 == 1:
            self._inspection(orgs["office"], "committee_staff", "covert", enterprises, first,
                             last)
        for _ in range(2):
            self._public_report(county, first, last)
        for _ in range(self.rng.randint(0, 2)):
            self._interview(county, first, last)
        self._exposure(county, first, last)

    def _city_month(self, city: City, first: date, last: date) -> None:
        enterprises = [e for county in city.counties for e in county.enterprises]
        self._inspection(city.orgs["office"], "committee_staff", "cross", enterprises, first,
                         last, team_121=True, city_level=True)
        if first.month % 2 == 0:
            self._inspection(city.orgs["ema"], "sector_inspector", "four_no_two_direct",
                             enterprises, first, last, team_121=self.rng.random() < 0.7,
                             city_level=True)

    # -- inspections ---------------------------------------------------------------------------

    def team(self, compliant: bool) -> list[dict[str, str]]:
        """A "121" team when compliant; otherwise a team one supervisor short."""
        members = [("leader", "county_level"), ("supervisor", "section_level")]
        if compliant:
            members.append(("supervisor", "section_level"))
        members += [("expert", "staff"), ("member", "staff")]
        return [{"person_id": f"P{self.rng.randint(10000, 99999)}", "name": self.builder.person(),
                 "role": role, "rank": rank} for role, rank in members]

    def _inspection(self, body: Body, role: str, kind: str, pool: list[Enterprise],
                    first: date, last: date, team_121: bool | None = None,
                    town_level: bool = False, city_level: bool = False) -> None:
        """An inspection organised by `body`, led in zhibao by one of its staff in `role`."""
        candidates = [e for e in pool if not e.closed]
        if not candidates:
            return
        size = self.rng.randint(5, 8) if self.rng.random() > 0.1 else self.rng.randint(2, 4)
        targets = self.rng.sample(candidates, min(size, len(candidates)))
        start = self._day(first, last - timedelta(days=2))
        end = start + timedelta(days=self.rng.randint(0, 2))
        inspection_id = self.builder.uuid()
        actor = body.someone(self.rng, role)
        team = self.team(team_121) if team_121 is not None else self.team(False)[2:]
        planned = at_time(start - timedelta(days=self.rng.randint(1, 5)), self.rng.uniform(9, 17))
        self.schedule(planned + self.lag(quick=True), lambda: by(
            actor, c.PlanInspection, inspection_id=inspection_id, inspection_type=kind,
            team=team, targets=tuple(e.enterprise_id for e in targets), date_from=start,
            date_to=end, programme="安全生产专项整治三年行动", occurred_at=planned))
        found: list[HazardPlan] = []
        visits: list[datetime] = []
        visited_count = [0]
        steps: list[Step] = []
        for enterprise in targets:
            visited = at_time(self._day(start, end), self.rng.uniform(9, 17))
            findings = self.rng.choices([0, 1, 2, 3], weights=[35, 35, 20, 10])[0]
            visits.append(visited)
            steps.append((visited, self._visit(actor, inspection_id, enterprise, visited,
                                               findings, visited_count)))
            channel = {"enforcement": "enforcement_inspection", "covert": "covert_visit",
                       "four_no_two_direct": "covert_visit"}.get(kind, "supervisory_inspection")
            level = "town" if town_level else ("city" if city_level else "county")
            for _ in range(findings):
                plan = self.hazard(enterprise, actor, channel,
                                   visited + timedelta(minutes=self.rng.uniform(1, 50)),
                                   level=level, inspection_id=inspection_id)
                if plan is not None:
                    found.append(plan)
            if kind == "enforcement" and findings >= 2 and self.rng.random() < 0.6:
                self._enforcement_case(body, enterprise, visited,
                                       [p.hazard_id for p in found[-findings:]])
        closed = max(at_time(end + timedelta(days=1), self.rng.uniform(9, 17)), max(visits))
        steps.append((closed, self._close_inspection(actor, inspection_id, closed, found,
                                                     visited_count)))
        self.chain(steps)

    def _visit(self, actor: Issuer, inspection_id: UUID, enterprise: Enterprise,
               visited: datetime, findings: int, visited_count: list[int],
               ) -> Callable[[], Issued | None]:
        def make() -> Issued | None:
            if enterprise.closed:
                return None
            visited_count[0] += 1
            return by(actor, c.RecordInspectionVisit, inspection_id=inspection_id,
                      enterprise_id=enterprise.enterprise_id, visited_at=visited,
                      findings_count=findings, opinion_doc=None,
                      signatures=("检查组长", "企业负责人", "陪同人员"))
        return make

    def _close_inspection(self, actor: Issuer, inspection_id: UUID, closed: datetime,
                          found: list[HazardPlan], visited_count: list[int],
                          ) -> Callable[[], Issued | None]:
        def make() -> Issued | None:
            if not visited_count[0]:
                return None
            return by(actor, c.CloseInspection, inspection_id=inspection_id, closed_at=closed,
                      hazard_ids=tuple(p.hazard_id for p in found if p.reported),
                      bulletin_id=f"通报{closed:%Y%m}")
        return make

    # -- hazards -------------------------------------------------------------------------------

    def hazard(self, enterprise: Enterprise, reporter: Issuer, channel: str,
               discovered: datetime, level: str, inspection_id: UUID | None = None,
               relapse_of: UUID | None = None) -> HazardPlan | None:
        """Plan a hazard's whole lifecycle from its discovery."""
        if discovered > YEAR_END:
            return None
        county = enterprise.village.town.county
        major_odds = {"enterprise": 0.01, "village": 0.01, "town": 0.02, "county": 0.05,
                      "city": 0.08}[level]
        if enterprise.high_risk:
            major_odds *= 2
        plan = HazardPlan(self.builder.uuid(), enterprise, enterprise.village.town,
                          self.rng.random() < major_odds)
        description, category = self.rng.choice(GENERAL_FINDINGS)
        criteria = None
        if plan.major:
            description, criteria = self.rng.choice(MAJOR_FINDINGS)
            category = "unsafe_condition"
        report = by(reporter, c.ReportHazard, hazard_id=plan.hazard_id,
                    enterprise_id=enterprise.enterprise_id, channel=channel,
                    discovered_at=discovered, description=description, category=category,
                    proposed_grade="major" if plan.major else "general",
                    inspection_id=inspection_id, relapse_of=relapse_of,
                    location_detail=f"{enterprise.name}厂区")
        steps: list[Step] = [
            (discovered, self._guard(plan, lambda: report))]
        self._lifecycle(plan, steps, reporter, county, discovered, criteria, level)
        self.chain(steps)
        return plan

    def _guard(self, plan: HazardPlan, make: Callable[[], Issued | None],
               ) -> Callable[[], Issued | None]:
        """A step that is replaced by elimination if the enterprise was closed meanwhile."""
        def step() -> Issued | None:
            if plan.finished:
                return None
            if plan.enterprise is not None and plan.enterprise.closed:
                plan.finished = True
                if not plan.reported:
                    return None
                enforcer = plan.town.county.orgs["ema"].someone(self.rng, "enforcement_officer")
                return by(enforcer, c.EliminateHazardByClosure, hazard_id=plan.hazard_id,
                          decision_no=f"关闭决定{plan.hazard_id.hex[:6]}", occurred_at=self.last)
            issued = make()
            plan.reported = True
            plan.finished = issued is not None and isinstance(issued[1], TERMINAL_COMMANDS)
            return issued
        return step

    def _lifecycle(self, plan: HazardPlan, steps: list[Step], reporter: Issuer, county: County,
                   t: datetime, criteria: str | None, level: str) -> None:
        rng = self.rng
        add = lambda at, make: steps.append((at, self._guard(plan, make)))  # noqa: E731
        hid = plan.hazard_id
        discovered_on = t.date()
        if rng.random() < 0.01:
            add(t + timedelta(hours=rng.uniform(1, 30)),
                lambda: by(reporter, c.VoidHazard, hazard_id=hid, reason="重复录入"))
            return
        on_spot_odds = 0.6 if level == "enterprise" else 0.45
        if not plan.major and rng.random() < on_spot_odds:
            fixed = min(t + timedelta(minutes=rng.uniform(10, 120)),
                        at_time(t.date(), 23.9))
            if fixed > t:
                add(fixed, lambda: by(reporter, c.RectifyHazardOnSpot, hazard_id=hid,
                                      rectified_at=fixed, evidence="现场整改照片"))
                return
        town_office = plan.town.office.someone(rng, "town_officer")
        county_ema = county.orgs["ema"].someone(rng, "regulator")
        if level == "city" and rng.random() < 0.1:
            t += timedelta(hours=rng.uniform(4, 30))
            add(t, lambda at=t: by(reporter, c.TransferHazard, hazard_id=hid,
                                   to_org_id=county.orgs["ema"].org_id,
                                   reason="移交属地监管部门", occurred_at=at))
        regulator = county_ema if plan.major or level in ("county", "city") else town_office
        t += timedelta(hours=rng.uniform(2, 48))
        deadline = discovered_on + timedelta(days=rng.randint(30, 120) if plan.major
                                              else rng.randint(7, 30))
        grade = "major" if plan.major else "general"
        add(t, lambda at=t, d=deadline: by(
            regulator, c.ConfirmHazard, hazard_id=hid, grade=grade, treatment="deadline",
            deadline=d, criteria_ref=criteria, notice_no=f"整改通知{hid.hex[:8]}", occurred_at=at))
        if not plan.major and level != "enterprise" and rng.random() < 0.01:
            t += timedelta(days=rng.uniform(1, 4))
            plan.major = True
            criteria = rng.choice(MAJOR_FINDINGS)[1]
            regulator = county_ema
            add(t, lambda at=t, ref=criteria: by(
                county_ema, c.RegradeHazard, hazard_id=hid, to_grade="major",
                reason="复核认定为重大隐患", criteria_ref=ref, occurred_at=at))
        listing = self._listing(plan, county) if plan.major and rng.random() < 0.3 else None
        if listing is not None:
            t += timedelta(days=rng.uniform(1, 5))
            lister, listing_level = listing
            add(t, lambda at=t, d=deadline: by(
                lister, c.ListHazard, hazard_id=hid, level=listing_level, deadline=d,
                supervising_org="安委会办公室", notice_no=f"挂牌{hid.hex[:6]}", occurred_at=at))
        owner = plan.enterprise.principal_issuer if plan.enterprise else regulator
        t += timedelta(days=rng.uniform(0.5, 4))
        add(t, lambda at=t, d=deadline: by(owner, c.SubmitRectificationPlan, hazard_id=hid,
                                           plan=self._plan(plan, d), occurred_at=at))
        if plan.major:
            t = self._review(add, hid, regulator, owner, plan, deadline, t)
        deadline, t = self._extension(add, hid, owner, regulator, listing, plan, deadline, t)
        late = rng.random() < 0.2
        completed = at_time(deadline + timedelta(days=rng.randint(1, 20) if late
                                                 else -rng.randint(0, 6)), rng.uniform(9, 17))
        completed = max(completed, t + timedelta(days=1))
        if completed.date() > deadline:
            overdue_at = at_time(deadline + timedelta(days=1), 1)
            add(overdue_at, lambda at=overdue_at: by(ZHIBAO, c.RecordHazardOverdue,
                                                     hazard_id=hid, occurred_at=at))
            if plan.major and plan.enterprise is not None:
                self._reminders(county, plan.enterprise, deadline)
        if plan.major:
            self._progress(add, hid, owner, t, completed)
        if completed > YEAR_END:
            return
        add(completed, lambda at=completed: by(owner, c.DeclareRectified, hazard_id=hid,
                                               completed_at=at, evidence="整改完成报告"))
        verifier = self._verifier(plan, listing, regulator, county)
        verified = completed + timedelta(days=rng.uniform(1, 5))
        if rng.random() < 0.05:
            add(verified, lambda at=verified: by(verifier, c.VerifyHazard, hazard_id=hid,
                                                 passed=False, verified_at=at,
                                                 opinion="整改不彻底，需重新整改"))
            completed = verified + timedelta(days=rng.uniform(3, 10))
            add(completed, lambda at=completed: by(owner, c.DeclareRectified, hazard_id=hid,
                                                   completed_at=at, evidence="二次整改报告"))
            verified = completed + timedelta(days=rng.uniform(1, 5))
        add(verified, lambda at=verified: by(
            verifier, c.VerifyHazard, hazard_id=hid, passed=True, verified_at=at,
            method="on_site" if plan.major else "document_review"))
        closing = verified + timedelta(hours=rng.uniform(1, 48))
        if listing is not None:
            lister = listing[0]
            delisted = verified + timedelta(hours=rng.uniform(1, 24))
            closing = delisted + timedelta(hours=rng.uniform(1, 24))
            add(delisted, lambda at=delisted: by(lister, c.DelistHazard, hazard_id=hid,
                                                 delisting_doc=f"摘牌{hid.hex[:6]}",
                                                 occurred_at=at))
        if closing > YEAR_END:
            return
        add(closing, lambda at=closing: by(verifier, c.CloseHazard, hazard_id=hid,
                                           closed_at=at))
        if listing is not None and plan.enterprise is not None and rng.random() < 0.3:
            self._look_back(plan, county, closing)

    def _listing(self, plan: HazardPlan, county: County) -> tuple[Issuer, str]:
        """Who lists (挂牌): the city's 安委会 or the county government, by their staff."""
        if self.rng.random() < 0.2:
            return county.city.orgs["committee"].someone(self.rng, "committee_staff"), "city"
        return county.orgs["government"].someone(self.rng, "committee_staff"), "county"

    def _plan(self, plan: HazardPlan, deadline: date) -> dict[str, object]:
        if not plan.major:
            return {"measures": "立即组织整改，落实专人负责"}
        owner = plan.enterprise.name if plan.enterprise else "属地乡镇"
        return {"measures": "停产整改，更换设施并经专家论证", "responsible_org": owner,
                "responsible_person": plan.enterprise.principal if plan.enterprise else "镇长",
                "funds": f"{self.rng.randint(5, 200)}万元", "funds_source": "企业自筹",
                "deadline": deadline, "contingency_plan": "重大隐患专项应急预案",
                "interim_controls": "设置警戒区域，专人24小时值守"}

    def _review(self, add: Callable[..., None], hid: UUID, regulator: Issuer, owner: Issuer,
                plan: HazardPlan, deadline: date, t: datetime) -> datetime:
        if self.rng.random() < 0.1:
            t += timedelta(days=self.rng.uniform(1, 3))
            add(t, lambda at=t: by(regulator, c.ReviewRectificationPlan, hazard_id=hid,
                                   approve=False, opinion="资金来源不明确", occurred_at=at))
            t += timedelta(days=self.rng.uniform(1, 3))
            add(t, lambda at=t: by(owner, c.SubmitRectificationPlan, hazard_id=hid,
                                   plan=self._plan(plan, deadline), occurred_at=at))
        t += timedelta(days=self.rng.uniform(1, 3))
        add(t, lambda at=t: by(regulator, c.ReviewRectificationPlan, hazard_id=hid,
                               approve=True, opinion="同意", occurred_at=at))
        return t

    def _extension(self, add: Callable[..., None], hid: UUID, owner: Issuer, regulator: Issuer,
                   listing: tuple[Issuer, str] | None, plan: HazardPlan, deadline: date,
                   t: datetime) -> tuple[date, datetime]:
        if self.rng.random() >= (0.15 if plan.major else 0.04):
            return deadline, t
        asked = at_time(deadline - timedelta(days=self.rng.randint(2, 8)), self.rng.uniform(9, 17))
        if asked <= t:
            return deadline, t
        new_deadline = deadline + timedelta(days=self.rng.randint(15, 60))
        decider = listing[0] if listing else regulator
        add(asked, lambda: by(owner, c.RequestDeadlineExtension, hazard_id=hid,
                              new_deadline=new_deadline, reason="设备采购周期较长",
                              requested_at=asked))
        decided = asked + timedelta(hours=self.rng.uniform(4, 30))
        if self.rng.random() < 0.8:
            add(decided, lambda: by(decider, c.DecideDeadlineExtension, hazard_id=hid,
                                    approve=True, opinion="同意延期", occurred_at=decided))
            return new_deadline, decided
        add(decided, lambda: by(decider, c.DecideDeadlineExtension, hazard_id=hid,
                                approve=False, opinion="理由不充分", occurred_at=decided))
        return deadline, decided

    @staticmethod
    def _progress(add: Callable[..., None], hid: UUID, owner: Issuer, t: datetime,
                  completed: datetime) -> None:
        """Monthly progress reports (at most three) between the plan and completion."""
        reports = min(int((completed - t).days / 30), 3)
        for n in range(1, reports + 1):
            at = t + (completed - t) * n / (reports + 1)
            if at > YEAR_END:
                break
            percent = min(90, 25 * n)
            add(at, lambda at=at, p=percent: by(owner, c.ReportRectificationProgress,
                                                hazard_id=hid, percent=p, note="按计划推进",
                                                occurred_at=at))

    def _verifier(self, plan: HazardPlan, listing: tuple[Issuer, str] | None,
                  regulator: Issuer, county: County) -> Issuer:
        if listing is not None and listing[1] == "city":
            return county.city.orgs["ema"].someone(self.rng, "regulator")
        return regulator

    def _reminders(self, county: County, enterprise: Enterprise, deadline: date) -> None:
        """The Ankang ladder for an enterprise's overdue major hazard: reminder, 督办."""
        office = county.orgs["office"].someone(self.rng, "committee_staff")
        unit, addressee = enterprise.village.code, enterprise.name
        for step, days in ((1, 3), (2, 15)):
            issued = deadline + timedelta(days=days)
            action_id = self.builder.uuid()
            if at_time(issued, 10) <= YEAR_END:
                self.record(at_time(issued, 10), lambda s=step, d=issued, a=action_id:
                            by(office, c.IssueAccountabilityReminder, action_id=a,
                               unit_code=unit, step=s, addressee=addressee,
                               subject="重大隐患逾期未整改", issued_on=d))

    def _look_back(self, plan: HazardPlan, county: County, closed: datetime) -> None:
        """回头看: a re-check some months later finds the hazard back."""
        found = closed + timedelta(days=self.rng.uniform(45, 120))
        inspector = county.orgs["ema"].someone(self.rng, "regulator")
        assert plan.enterprise is not None
        enterprise = plan.enterprise

        def relapse() -> Issued | None:
            """Plans the relapse's own lifecycle when its time comes; records nothing itself."""
            if not enterprise.closed:
                self.hazard(enterprise, inspector, "supervisory_inspection", found,
                            level="county", relapse_of=plan.hazard_id)
            return None
        self.schedule(found - timedelta(hours=1), relapse)

    # -- public reports, risk, enforcement, accountability, measures, tasks ----------------------

    def _public_report(self, county: County, first: date, last: date) -> None:
        town = self.rng.choice(county.towns)
        village = self.rng.choice(town.villages)
        clerk = town.office.someone(self.rng, "town_officer")
        report_id = self.builder.uuid()
        received = at_time(self._day(first, last), self.rng.uniform(8, 20))
        verified = received + timedelta(days=self.rng.uniform(1, 3))
        true = self.rng.random() < 0.6
        verification_recorded = self.chain([
            (received, lambda: by(clerk, c.ReceivePublicReport, report_id=report_id,
                                  unit_code=village.code, channel="12350热线",
                                  content="群众反映有安全隐患", location=village.name,
                                  occurred_at=received)),
            (verified, lambda: by(clerk, c.VerifyPublicReport, report_id=report_id,
                                  is_true=true, reason=None if true else "经核查不属实",
                                  occurred_at=verified)),
        ])
        if not true or verified > YEAR_END:
            return
        found_at = verification_recorded + timedelta(minutes=10)
        enterprise = None
        if village.enterprises and self.rng.random() < 0.7:
            enterprise = self.rng.choice(village.enterprises)
        plan = HazardPlan(self.builder.uuid(), enterprise, town, False)
        report = by(clerk, c.ReportHazard, hazard_id=plan.hazard_id,
                    channel="public_report_verified", discovered_at=found_at,
                    category="unsafe_condition", public_report_id=report_id,
                    enterprise_id=enterprise.enterprise_id if enterprise else None,
                    unit_code=None if enterprise else village.code,
                    sector=None if enterprise else "rural_safety",
                    description="违规储存易燃物品" if enterprise else "村道临水临崖路段护栏缺失")
        steps: list[Step] = [
            (found_at, self._guard(plan, lambda: report))]
        self._lifecycle(plan, steps, clerk, county, found_at, None, "town")
        self.chain(steps)

    def _risk_points(self, enterprise: Enterprise, first: date, last: date) -> None:
        actor = enterprise.principal_issuer
        for _ in range(self.rng.randint(1, 3)):
            point_id = self.builder.uuid()
            day = self._day(first, last)
            level = self.rng.choices(["red", "orange", "yellow", "blue"],
                                     weights=[3, 12, 35, 50])[0]
            likelihood, severity = self.rng.randint(1, 5), self.rng.randint(1, 5)
            steps: list[Step] = [
                (at_time(day, 10), lambda p=point_id, d=day, lv=level, li=likelihood, se=severity:
                 by(actor, c.IdentifyRiskPoint, risk_point_id=p,
                    enterprise_id=enterprise.enterprise_id, description="生产作业区域风险",
                    hazard_factors="机械伤害、触电", likelihood=li, severity=se, level=lv,
                    identified_on=d)),
                (at_time(day, 15), lambda p=point_id: by(
                    actor, c.SetRiskControls, risk_point_id=p,
                    measures=("岗位风险告知卡", "班组每日巡查"), owner_level="班组")),
            ]
            if self.rng.random() < 0.2:
                reassessed = date(YEAR, self.rng.randint(7, 9), self.rng.randint(1, 28))
                steps.append((at_time(reassessed, 10), lambda p=point_id, d=reassessed:
                              by(actor, c.AssessRiskLevel, risk_point_id=p, likelihood=2,
                                 severity=2, level="yellow", assessed_on=d)))
            self.chain([(at, self._unless_closed(enterprise, make)) for at, make in steps])

    def _unless_closed(self, enterprise: Enterprise, make: Callable[[], Issued | None],
                       ) -> Callable[[], Issued | None]:
        return lambda: None if enterprise.closed else make()

    def _enforcement_case(self, body: Body, enterprise: Enterprise, visited: datetime,
                          hazards: list[UUID]) -> None:
        actor = body.someone(self.rng, "enforcement_officer")
        case_id = self.builder.uuid()
        opened = (visited + timedelta(days=self.rng.uniform(3, 10))).date()
        decided = opened + timedelta(days=self.rng.randint(5, 20))
        amount = self.rng.choice(["5000元", "1万元", "2万元", "3万元", "5万元", "10万元"])
        steps: list[Step] = [
            (at_time(opened, 10), lambda: by(
                actor, c.OpenEnforcementCase, case_id=case_id,
                enterprise_id=enterprise.enterprise_id,
                case_no=f"安监罚〔{YEAR}〕{case_id.int % 1000}号",
                related_hazard_ids=tuple(hazards), opened_on=opened)),
            (at_time(decided, 11), lambda: by(
                actor, c.ImposeFine, case_id=case_id, amount=amount,
                decision_no=f"罚决{case_id.hex[:6]}", decided_on=decided,
                fine_target="principal" if self.rng.random() < 0.2 else "enterprise")),
        ]
        finished = decided + timedelta(days=self.rng.randint(30, 60))
        roll = self.rng.random()
        if roll < 0.15:
            lifted = decided + timedelta(days=self.rng.randint(15, 40))
            steps += [(at_time(decided, 12), lambda: by(actor, c.OrderSuspension, case_id=case_id,
                                                        scope="partial", decided_on=decided)),
                      (at_time(lifted, 10), lambda: by(actor, c.LiftSuspension, case_id=case_id,
                                                       decided_on=lifted))]
            finished = max(finished, lifted + timedelta(days=1))
        elif roll < 0.2:
            steps.append((at_time(decided, 12), lambda: by(
                actor, c.BlacklistEnterprise, case_id=case_id, reason="多次检查发现同类隐患",
                decided_on=decided)))
        elif roll < 0.22:
            steps.append((at_time(decided, 12), lambda: by(
                actor, c.SuspendLicence, case_id=case_id,
                licence_no=f"安许证{case_id.hex[:6]}", decided_on=decided)))
        elif roll < 0.26:
            steps += [(at_time(decided, 12), lambda: by(actor, c.OrderClosure, case_id=case_id,
                                                        decided_on=decided)),
                      (at_time(decided, 13), self._close_enterprise(actor, enterprise, decided))]
        steps.append((at_time(finished, 10), lambda: by(actor, c.CloseEnforcementCase,
                                                        case_id=case_id, decided_on=finished)))
        self.chain([(at, make) for at, make in steps if at <= YEAR_END])

    def _close_enterprise(self, actor: Issuer, enterprise: Enterprise,
                          on: date) -> Callable[[], Issued | None]:
        def make() -> Issued | None:
            if enterprise.closed:
                return None
            enterprise.closed = True
            return by(actor, c.CloseEnterprise, enterprise_id=enterprise.enterprise_id, on=on,
                      reason="关闭取缔", decision_no="关闭决定书")
        return make

    def _interview(self, county: County, first: date, last: date) -> None:
        office = county.orgs["office"].someone(self.rng, "committee_staff")
        enterprise = self.rng.choice(county.enterprises)
        day = self._day(first, last)
        action_id = self.builder.uuid()
        self.record(at_time(day, 15), self._unless_closed(enterprise, lambda: by(
            office, c.HoldInterview, action_id=action_id, target_type="enterprise",
            target_name=enterprise.name, enterprise_id=enterprise.enterprise_id, held_on=day)))

    def _exposure(self, county: County, first: date, last: date) -> None:
        office = county.orgs["office"].someone(self.rng, "committee_staff")
        day = self._day(first, last)
        action_id = self.builder.uuid()
        self.record(at_time(day, 16), lambda: by(
            office, c.RecordExposure, action_id=action_id, unit_code=county.code,
            channel="县融媒体中心", subject="安全生产典型违法行为曝光", published_on=day))

    def _measures(self) -> None:
        """Each office's and department's own measures, by their staff."""
        roles = {"office": "committee_staff", "ema": "regulator", "housing": "regulator",
                 "market": "regulator"}
        owners = [(city.orgs[key], roles[key]) for city in self.world.cities
                  for key in ("office", "ema", "housing", "market")]
        owners += [(county.orgs[key], roles[key]) for county in self.world.counties
                   for key in ("office", "ema")]
        for body, role in owners:
            for _ in range(self.rng.randint(2, 3)):
                self._measure(body.someone(self.rng, role))

    def _measure(self, actor: Issuer) -> None:
        measure_id = self.builder.uuid()
        planned_on = date(YEAR, self.rng.randint(2, 3), self.rng.randint(1, 28))
        target = date(YEAR, self.rng.choice([9, 10]), self.rng.randint(1, 30))
        issued = target - timedelta(days=self.rng.randint(20, 90))
        kind, title = self.rng.choice([
            ("work_mechanism", "重大隐患挂牌督办工作机制"),
            ("normative_document", "隐患排查治理实施细则"),
            ("plan", "专项整治实施方案"), ("engineering", "危化品运输车辆动态监控工程"),
            ("standard", "企业安全生产标准化评定细则")])
        steps: list[Step] = [
            (at_time(planned_on, 10), lambda: by(
                actor, c.PlanMeasure, measure_id=measure_id, title=title, kind=kind,
                planned_date=target, content="建立健全长效机制",
                occurred_at=at_time(planned_on, 10))),
            (at_time(issued, 10), lambda: by(
                actor, c.IssueMeasure, measure_id=measure_id,
                doc_no=f"安委发〔{YEAR}〕{measure_id.int % 90}号", issued_on=issued)),
        ]
        if self.rng.random() < 0.85:
            done = min(target + timedelta(days=self.rng.randint(-30, 20)), date(YEAR, 12, 31))
            done = max(done, issued)
            steps.append((at_time(done, 16), lambda: by(
                actor, c.CompleteMeasure, measure_id=measure_id, completed_on=done,
                evidence="印发文件")))
        self.chain(steps)

    def _schedule_task_list(self) -> None:
        """Ankang's real 2021 task list, published by the city's 安委办, with progress."""
        ankang = next((city for city in self.world.cities if city.code == "610900"), None)
        if ankang is None:
            return
        office = ankang.orgs["office"].someone(self.rng, "committee_staff")
        from importlib.resources import files
        table = files("infra.demo") / "data" / "tasks_2021_ankang.csv"
        published = at_time(ANKANG_2021.issued_on, 10)
        defined = list(task_list_commands(table, ANKANG_2021))  # type: ignore[arg-type]
        for n, command in enumerate(defined):
            self.schedule(published + timedelta(seconds=n), lambda cmd=command: (office, cmd))
        for command in defined:
            if isinstance(command, c.DefineTask):
                self._task_progress(office, command)

    def _task_progress(self, office: Issuer, task: c.DefineTask) -> None:
        from domain.tasks import parse_chinese_deadline
        deadline = parse_chinese_deadline(task.deadline_text, YEAR) or date(YEAR, 12, 31)
        start = ANKANG_2021.issued_on + timedelta(days=1)
        window_end = max(deadline, start + timedelta(days=10))
        assert task.task_id is not None
        for unit in task.responsible_units:
            steps: list[Step] = []
            for _ in range(self.rng.randint(1, 3)):
                day = self._day(start, window_end)
                steps.append((at_time(day, 11), lambda u=unit, d=day: by(
                    office, c.ReportTaskProgress, task_id=task.task_id, responsible_unit=u,
                    text=f"{u}已按要求推进，完成阶段性工作", occurred_at=at_time(d, 11))))
            if self.rng.random() < 0.9:
                late = self.rng.random() < 0.1
                done = deadline + timedelta(days=self.rng.randint(5, 30)) if late else \
                    deadline - timedelta(days=self.rng.randint(0, 10))
                done = min(max(done, start), date(YEAR, 12, 31))
                steps.append((at_time(done, 17), lambda u=unit, d=done: by(
                    office, c.CompleteTaskForUnit, task_id=task.task_id, responsible_unit=u,
                    occurred_at=at_time(d, 17))))
            steps.sort(key=lambda step: step[0])
            self.chain(steps)
