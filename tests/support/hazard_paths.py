"""Hazards driven into any state of DOMAIN.md §6 through the application service, so a test
can start exactly where it needs to.

Every step is a real command by the body §6.2 names: a general hazard is confirmed, verified
and closed by the town office; a major one by the county emergency-management department
(authorised to verify majors); listing and delisting by the county government. Each step
happens half an hour of business time after the one before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.base import SHANGHAI, business_date
from domain.codes import complete_uscc
from domain.hazards import Hazard, HazardState
from infra.intake.unit_of_work import Outcome
from tests.conftest import FakeClock, open_app
from tests.support.builders import World, build_world

STEP = timedelta(minutes=30)
DEADLINE_AFTER = timedelta(days=14)
CRITERIA_REF = "安监总管四〔2017〕121号 第一条"
VILLAGE = "610902101201"

FULL_PLAN: dict[str, Any] = {  # all of 五到位 but the time limit, which depends on the hazard
    "measures": "更换泄漏阀门并加装可燃气体报警仪",
    "responsible_org": "企业安全科",
    "responsible_person": "张三",
    "funds": "3.5万元",
    "funds_source": "企业自筹",
    "contingency_plan": "储罐泄漏处置应急预案",
}


@dataclass
class Hazards:
    """Reports hazards in `world` and moves them along their lifecycle."""

    world: World
    clock: FakeClock

    def do(self, command: str, by: str | UUID, stamp: str | None = None,
           **fields: Any) -> Outcome:
        """Apply a command one step after the previous one; `stamp` names the command's own
        time field (completed_at, verified_at …), which is set to that moment."""
        now = self.clock.advance(seconds=STEP.total_seconds())
        if stamp is not None:
            fields[stamp] = now
        return self.world.do(command, by, **fields)

    def get(self, hazard_id: UUID) -> Hazard:
        return self.world.app.repository.get(hazard_id)

    @contextmanager
    def as_another_process(self) -> Iterator[None]:
        """Steps inside are taken by another application on the same store (a process of its
        own, with its own directory and caches); then this one carries on."""
        own = self.world.app
        self.world.app = open_app(own.settings.database_url, self.clock)
        try:
            yield
        finally:
            self.world.app.close()
            self.world.app = own

    def due(self, hazard_id: UUID) -> date:
        """The deadline these paths give a hazard: two weeks after its discovery."""
        return business_date(self.get(hazard_id).discovered_at) + DEADLINE_AFTER

    def authority(self, grade: str) -> str:
        """Who confirms, verifies and closes a hazard of `grade` (§6.2)."""
        return "county_ema" if grade == "major" else "town"

    def new_enterprise(self) -> str:
        """A fresh enterprise (hazchem, in village 一村), for tests that close one."""
        name = f"enterprise-{uuid4().hex[:8]}"
        self.world.register_enterprise(name, VILLAGE, ("hazchem",),
                                       complete_uscc(f"91610902{uuid4().int % 10**9:09d}"))
        return name

    # -- single steps ------------------------------------------------------------------------

    def report(self, enterprise: str = "chem", grade: str = "general", by: str = "town",
               **fields: Any) -> UUID:
        hazard_id = uuid4()
        self.do("ReportHazard", by, stamp="discovered_at", hazard_id=hazard_id,
                enterprise_id=self.world.enterprises[enterprise],
                channel="supervisory_inspection", description="储罐区可燃气体泄漏",
                category="unsafe_condition", proposed_grade=grade, **fields)
        return hazard_id

    def confirm(self, hazard_id: UUID, grade: str) -> None:
        criteria = {"criteria_ref": CRITERIA_REF} if grade == "major" else {}
        self.do("ConfirmHazard", self.authority(grade), hazard_id=hazard_id, grade=grade,
                treatment="deadline", deadline=self.due(hazard_id), **criteria)

    def list(self, hazard_id: UUID) -> None:
        self.do("ListHazard", "county_gov", hazard_id=hazard_id, level="county",
                deadline=self.due(hazard_id), notice_no="汉安办督〔2021〕1号")

    def plan(self, hazard_id: UUID, grade: str, enterprise: str = "chem") -> None:
        self.do("SubmitRectificationPlan", enterprise, hazard_id=hazard_id,
                plan={**FULL_PLAN, "deadline": self.due(hazard_id)})
        if grade == "major":
            self.do("ReviewRectificationPlan", "county_ema", hazard_id=hazard_id, approve=True)

    def complete(self, hazard_id: UUID, enterprise: str = "chem") -> None:
        self.do("DeclareRectified", enterprise, stamp="completed_at", hazard_id=hazard_id,
                evidence="整改照片")

    def verify(self, hazard_id: UUID, grade: str, passed: bool = True) -> None:
        self.do("VerifyHazard", self.authority(grade), stamp="verified_at", hazard_id=hazard_id,
                passed=passed, opinion=None if passed else "阀门仍有渗漏")

    def close(self, hazard_id: UUID, grade: str) -> None:
        self.do("CloseHazard", self.authority(grade), stamp="closed_at", hazard_id=hazard_id)

    # -- whole paths -------------------------------------------------------------------------

    def drive(self, state: HazardState, grade: str = "general", listed: bool = False,
              enterprise: str | None = None) -> UUID:
        """A new hazard in `state` at `enterprise` (by default "chem", or a fresh one when
        the path closes the enterprise). A listed hazard must be major; listing happens
        right after confirmation, and a listed hazard is delisted before it is closed."""
        assert not listed or grade == "major", "only a major hazard is listed"
        if enterprise is None:
            enterprise = self.new_enterprise() if state is HazardState.ELIMINATED_BY_CLOSURE \
                else "chem"
        hazard_id = self.report(enterprise, grade)
        if state is HazardState.REPORTED:
            return hazard_id
        if state is HazardState.VOIDED:
            self.do("VoidHazard", "town", hazard_id=hazard_id, reason="重复录入")
            return hazard_id
        self.confirm(hazard_id, grade)
        if listed:
            self.list(hazard_id)
        if state is HazardState.ELIMINATED_BY_CLOSURE:
            self.do("CloseEnterprise", "county_ema", enterprise_id=self.world.enterprises[
                enterprise], on=self.clock.now.date(), reason="关闭取缔")
            self.do("EliminateHazardByClosure", "county_ema", hazard_id=hazard_id)
            return hazard_id
        steps = [HazardState.RECTIFYING, HazardState.RECTIFIED, HazardState.VERIFIED,
                 HazardState.CLOSED]
        for step in steps[:steps.index(state) + 1] if state in steps else []:
            self._enter(step, hazard_id, grade, listed, enterprise)
        return hazard_id

    def _enter(self, step: HazardState, hazard_id: UUID, grade: str, listed: bool,
               enterprise: str) -> None:
        if step is HazardState.RECTIFYING:
            self.plan(hazard_id, grade, enterprise)
        elif step is HazardState.RECTIFIED:
            self.complete(hazard_id, enterprise)
        elif step is HazardState.VERIFIED:
            self.verify(hazard_id, grade)
        else:
            if listed:
                self.do("DelistHazard", "county_gov", hazard_id=hazard_id, delisting_doc="摘牌")
            self.close(hazard_id, grade)


@contextmanager
def hazards_in_new_world(database_url: str) -> Iterator[Hazards]:
    """A freshly built world on `database_url` with a clock of its own (2021-03-01 09:00),
    for a module whose tests share it, each adding its own hazards."""
    clock = FakeClock(datetime(2021, 3, 1, 9, 0, tzinfo=SHANGHAI))
    app = open_app(database_url, clock)
    try:
        yield Hazards(build_world(app), clock)
    finally:
        app.close()
