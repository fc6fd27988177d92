"""Government inspections (检查): who organised them, the team (so the "121" rule can be
judged), the enterprises visited and what was found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, ZhibaoAggregate, business_date, require


class InspectionType(StrEnum):
    SUPERVISORY = "supervisory"  # 督导检查
    ENFORCEMENT = "enforcement"  # 执法检查
    COVERT = "covert"  # 暗访
    FOUR_NO_TWO_DIRECT = "four_no_two_direct"  # 四不两直
    DOUBLE_RANDOM = "double_random"  # 双随机
    CROSS = "cross"  # 交叉检查
    EXPERT = "expert"
    JOINT = "joint"


class TeamRole(StrEnum):
    LEADER = "leader"
    SUPERVISOR = "supervisor"  # 督查干部
    EXPERT = "expert"  # 安全生产专家
    MEMBER = "member"


class Rank(StrEnum):
    PROVINCE_LEVEL = "province_level"
    CITY_LEVEL = "city_level"
    COUNTY_LEVEL = "county_level"  # 县级领导
    SECTION_LEVEL = "section_level"
    STAFF = "staff"


@dataclass(frozen=True)
class TeamMember:
    person_id: str
    name: str
    role: TeamRole
    rank: Rank


def is_121_team(team: Sequence[TeamMember]) -> bool:
    """The "121" composition: one county-level leader, two supervisory cadres, one
    work-safety expert (F3). Judged, never enforced: a non-compliant team is flagged."""
    leaders = sum(m.role is TeamRole.LEADER and m.rank is Rank.COUNTY_LEVEL for m in team)
    supervisors = sum(m.role is TeamRole.SUPERVISOR for m in team)
    experts = sum(m.role is TeamRole.EXPERT for m in team)
    return leaders >= 1 and supervisors >= 2 and experts >= 1


class Inspection(ZhibaoAggregate):
    def __init__(self, unit_code: str, inspection_type: InspectionType,
                 targets: tuple[UUID, ...], date_from: date, date_to: date) -> None:
        self.unit_code = unit_code
        self.inspection_type = inspection_type
        self.targets = targets
        self.date_from = date_from
        self.date_to = date_to
        self.visited: set[UUID] = set()
        self.closed = False

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class InspectionPlanned(ZhibaoAggregate.Created):
        inspection_type: InspectionType
        organiser_org_id: UUID
        programme: str | None
        team: tuple[TeamMember, ...]
        targets: tuple[UUID, ...]
        date_from: date
        date_to: date
        team_121: bool

    @classmethod
    def plan(
        cls, ctx: Context, inspection_id: UUID, inspection_type: InspectionType,
        programme: str | None, team: tuple[TeamMember, ...], targets: tuple[UUID, ...],
        date_from: date, date_to: date,
    ) -> Inspection:
        """Targets have been checked against the organiser's jurisdiction by the caller."""
        require(len(team) > 0, "team", "an inspection needs a team", "INPUT")
        require(len(targets) > 0, "targets", "an inspection needs at least one enterprise", "INPUT")
        require(len(set(targets)) == len(targets), "targets", "an enterprise is listed twice",
                "INPUT")
        require(date_to >= date_from, "date_to", f"{date_to} is before date_from {date_from}", "V3")
        return cls._start(
            cls.InspectionPlanned, ctx, inspection_id, ctx.org.unit_code, ctx.at,
            inspection_type=inspection_type,
            organiser_org_id=ctx.actor.org_id, programme=programme, team=tuple(team),
            targets=tuple(targets), date_from=date_from, date_to=date_to,
            team_121=is_121_team(team),
        )

    class InspectionConducted(Event):
        enterprise_id: UUID
        findings_count: int
        opinion_doc: str | None
        signatures: tuple[str, ...]

    def record_visit(
        self, ctx: Context, enterprise_id: UUID, enterprise_unit_code: str,
        visited_at: datetime, findings_count: int, opinion_doc: str | None,
        signatures: tuple[str, ...],
    ) -> None:
        """A visit counts where the enterprise is (territorial attribution, §11.2)."""
        require(not self.closed, "inspection_id", "the inspection is closed", "LIFECYCLE")
        require(enterprise_id in self.targets, "enterprise_id",
                "is not a target of this inspection", "INPUT")
        require(enterprise_id not in self.visited, "enterprise_id", "was already visited",
                "LIFECYCLE")
        require(findings_count >= 0, "findings_count", "must be a non-negative count", "INPUT")
        ctx.require_not_future("visited_at", visited_at)
        day = business_date(visited_at)
        require(self.date_from <= day <= self.date_to, "visited_at",
                f"{day} lies outside the inspection's dates {self.date_from}–{self.date_to}", "V3")
        self._record(
            self.InspectionConducted, ctx, visited_at, unit_code=enterprise_unit_code,
            enterprise_id=enterprise_id, findings_count=findings_count,
            opinion_doc=opinion_doc, signatures=tuple(signatures),
        )

    @when.register
    def _(self, event: Inspection.InspectionConducted) -> None:
        self.visited.add(event.enterprise_id)

    class InspectionClosed(Event):
        hazard_ids: tuple[UUID, ...]
        bulletin_id: str | None

    def close(self, ctx: Context, closed_at: datetime, hazard_ids: tuple[UUID, ...],
              bulletin_id: str | None) -> None:
        require(not self.closed, "inspection_id", "the inspection is already closed", "LIFECYCLE")
        require(bool(self.visited), "inspection_id", "no enterprise was visited yet", "LIFECYCLE")
        ctx.require_not_future("closed_at", closed_at)
        require(business_date(closed_at) >= self.date_from, "closed_at",
                f"before the inspection started on {self.date_from}", "V3")
        ctx.require_jurisdiction("inspection_id", self.unit_code)
        self._record(self.InspectionClosed, ctx, closed_at, hazard_ids=tuple(hazard_ids),
                     bulletin_id=bulletin_id)

    @when.register
    def _(self, event: Inspection.InspectionClosed) -> None:
        self.closed = True
