"""The hazard (隐患) and its lifecycle: reported → confirmed → rectifying → rectified →
verified → closed (销号), with listing (挂牌督办), extensions, transfers, voiding and
relapses (DOMAIN.md §6). Every guard of §6.2 and the date rules of §12 live in the command
methods below; state changes only by applying events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import (
    Context,
    DomainError,
    Level,
    OrgType,
    ZhibaoAggregate,
    business_date,
    require,
    require_order,
)
from domain.enterprises import EnterpriseRef, require_operating
from domain.sectors import require_sector


class HazardState(StrEnum):
    REPORTED = "REPORTED"  # 已上报/待确认
    CONFIRMED = "CONFIRMED"  # 已确认/待整改
    RECTIFYING = "RECTIFYING"  # 整改中
    RECTIFIED = "RECTIFIED"  # 已整改/待验收
    VERIFIED = "VERIFIED"  # 验收通过
    CLOSED = "CLOSED"  # 已销号
    VOIDED = "VOIDED"  # 已作废
    ELIMINATED_BY_CLOSURE = "ELIMINATED_BY_CLOSURE"  # 关闭取缔消除


TERMINAL = frozenset({HazardState.CLOSED, HazardState.VOIDED, HazardState.ELIMINATED_BY_CLOSURE})
OPEN = frozenset(set(HazardState) - TERMINAL)
OVERDUE_STATES = frozenset({HazardState.CONFIRMED, HazardState.RECTIFYING, HazardState.RECTIFIED})


class Grade(StrEnum):
    GENERAL = "general"  # 一般事故隐患
    MAJOR = "major"  # 重大事故隐患


class Channel(StrEnum):
    SELF_INSPECTION = "self_inspection"  # 企业自查
    SUPERVISORY_INSPECTION = "supervisory_inspection"  # 督导检查
    ENFORCEMENT_INSPECTION = "enforcement_inspection"  # 执法检查
    COVERT_VISIT = "covert_visit"  # 明查暗访
    PUBLIC_REPORT_VERIFIED = "public_report_verified"  # 群众举报查实
    PHOTO_REPORT = "photo_report"  # 随手拍
    MONITORING_ALERT = "monitoring_alert"  # 监测预警
    ACCIDENT_INVESTIGATION = "accident_investigation"
    HANDOVER = "handover"  # 移交


class Category(StrEnum):
    UNSAFE_CONDITION = "unsafe_condition"  # 物的不安全状态
    UNSAFE_BEHAVIOUR = "unsafe_behaviour"  # 人的不安全行为
    MANAGEMENT_DEFECT = "management_defect"  # 管理缺陷


class Treatment(StrEnum):
    IMMEDIATE = "immediate"  # 立即整改
    DEADLINE = "deadline"  # 限期整改


class ListingLevel(StrEnum):
    """Who hangs the placard (挂牌督办); mirrors government levels."""

    TOWN = "town"
    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"

    @property
    def level(self) -> Level | None:
        return None if self is ListingLevel.NATIONAL else Level(self.value)


class VerificationMethod(StrEnum):
    ON_SITE = "on_site"
    DOCUMENT_REVIEW = "document_review"
    EXPERT = "expert"
    THIRD_PARTY = "third_party"


@dataclass(frozen=True)
class RectificationPlan:
    """整改方案. For a major hazard all of 五到位 must be present: measures, responsibility,
    funds, time limit and contingency plan (V6)."""

    measures: str
    responsible_org: str | None = None
    responsible_person: str | None = None
    funds_fen: int | None = None
    funds_source: str | None = None
    deadline: date | None = None
    contingency_plan: str | None = None
    interim_controls: str | None = None

    def missing_for_major(self) -> list[str]:
        required = {
            "measures": self.measures,
            "responsible_org": self.responsible_org,
            "responsible_person": self.responsible_person,
            "funds": self.funds_fen,
            "funds_source": self.funds_source,
            "deadline": self.deadline,
            "contingency_plan": self.contingency_plan,
        }
        return [name for name, value in required.items()
                if value is None or (isinstance(value, str) and not value.strip())]


@dataclass(frozen=True)
class Listing:
    level: ListingLevel
    authority_org_id: UUID
    supervising_org: str | None
    notice_no: str | None
    deadline: date


@dataclass(frozen=True)
class Discovery:
    """Where, what and by whom a hazard was found — the inputs of `Hazard.report`."""

    unit_code: str
    sector: str
    channel: Channel
    discovered_at: datetime
    description: str
    category: Category
    proposed_grade: Grade
    enterprise_id: UUID | None = None
    location_detail: str | None = None
    inspection_id: UUID | None = None
    public_report_id: UUID | None = None
    relapse_of: UUID | None = None


class Hazard(ZhibaoAggregate):
    def __init__(self, unit_code: str, enterprise_id: UUID | None, sector: str,
                 channel: Channel, discovering_org_id: UUID, discovering_level: str,
                 occurred_at: datetime, proposed_grade: Grade) -> None:
        self.unit_code = unit_code
        self.enterprise_id = enterprise_id
        self.sector = sector
        self.channel = channel
        self.discovering_org_id = discovering_org_id
        self.discovering_level = discovering_level
        self.discovered_at = occurred_at
        self.proposed_grade = proposed_grade
        self.state = HazardState.REPORTED
        self.grade: Grade | None = None
        self.treatment: Treatment | None = None
        self.deadline: date | None = None
        self.treating_org_id: UUID = discovering_org_id
        self.plan: RectificationPlan | None = None
        self.plan_approved = False
        self.pending_extension: date | None = None
        self.listing: Listing | None = None
        self.delisted = False
        self.last_change_at = occurred_at
        self.completed_at: datetime | None = None
        self.verified_at: datetime | None = None
        self.overdue_recorded_for: date | None = None

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    # -- reporting ---------------------------------------------------------------------

    class HazardReported(ZhibaoAggregate.Created):
        enterprise_id: UUID | None
        sector: str
        channel: Channel
        discovering_org_id: UUID
        discovering_level: str
        inspection_id: UUID | None
        description: str
        location_detail: str | None
        category: Category
        proposed_grade: Grade
        public_report_id: UUID | None
        relapse_of: UUID | None

    @classmethod
    def report(cls, ctx: Context, hazard_id: UUID, found: Discovery,
               enterprise: EnterpriseRef | None, public_report_verified: bool) -> Hazard:
        """Any channel may report; the place must lie in the actor's jurisdiction (V7), and
        an enterprise's hazard is found while the enterprise operates (V9)."""
        require_sector("sector", found.sector)
        if enterprise is not None:
            require_operating("enterprise_id", enterprise, business_date(found.discovered_at))
        require(bool(found.description.strip()), "description", "must not be empty", "INPUT")
        ctx.require_not_future("discovered_at", found.discovered_at)
        ctx.require_jurisdiction("unit_code", found.unit_code, found.sector, found.enterprise_id)
        if found.channel is Channel.PUBLIC_REPORT_VERIFIED:
            require(found.public_report_id is not None and public_report_verified,
                    "public_report_id",
                    "a public report becomes a hazard only after it was verified true (V25)", "V25")
        if found.channel is Channel.SELF_INSPECTION:
            require(found.enterprise_id is not None, "enterprise_id",
                    "a self-inspection finding belongs to an enterprise", "INPUT")
        level = ctx.org.level.value if ctx.org.level else OrgType.ENTERPRISE.value
        return cls._start(
            cls.HazardReported, ctx, hazard_id, found.unit_code, found.discovered_at,
            enterprise_id=found.enterprise_id, sector=found.sector, channel=found.channel,
            discovering_org_id=ctx.actor.org_id, discovering_level=level,
            inspection_id=found.inspection_id, description=found.description,
            location_detail=found.location_detail, category=found.category,
            proposed_grade=found.proposed_grade, public_report_id=found.public_report_id,
            relapse_of=found.relapse_of,
        )

    # -- confirmation and grading ----------------------------------------------------------

    class HazardConfirmed(Event):
        grade: Grade
        local_grade: str | None
        criteria_ref: str | None
        treatment: Treatment
        deadline: date
        notice_no: str | None
        treating_org_id: UUID

    def confirm(
        self, ctx: Context, grade: Grade, treatment: Treatment, deadline: date | None,
        criteria_ref: str | None = None, local_grade: str | None = None,
        notice_no: str | None = None, treating_org_id: UUID | None = None,
    ) -> None:
        at = ctx.at
        self._require_state("confirm", HazardState.REPORTED)
        self._require_grading_authority(ctx, grade)
        if grade is Grade.MAJOR:
            require(bool(criteria_ref), "criteria_ref",
                    "a major grading cites the clause of the determination standard (V13)", "V13")
        self._require_after("occurred_at", at)
        discovered_on = business_date(self.discovered_at)
        if treatment is Treatment.IMMEDIATE:
            deadline = deadline or discovered_on
            require(deadline == discovered_on, "deadline",
                    "immediate rectification is due on the day of discovery", "V1")
        else:
            require(deadline is not None, "deadline", "rectification within a deadline needs one",
                    "V1")
            assert deadline is not None
            require(deadline > discovered_on, "deadline",
                    f"{deadline} must be after the discovery date {discovered_on} (V1)", "V1")
        self._record(
            self.HazardConfirmed, ctx, at, grade=grade, local_grade=local_grade,
            criteria_ref=criteria_ref, treatment=treatment, deadline=deadline,
            notice_no=notice_no, treating_org_id=treating_org_id or ctx.actor.org_id,
        )

    @when.register
    def _(self, event: Hazard.HazardConfirmed) -> None:
        self.state = HazardState.CONFIRMED
        self.grade = event.grade
        self.treatment = event.treatment
        self.deadline = event.deadline
        self.treating_org_id = event.treating_org_id
        self.last_change_at = event.occurred_at

    class HazardRegraded(Event):
        from_grade: Grade
        to_grade: Grade
        criteria_ref: str | None
        reason: str

    def regrade(self, ctx: Context, to_grade: Grade, reason: str,
                criteria_ref: str | None = None) -> None:
        self._require_open("regrade")
        require(self.grade is not None, "hazard_id", "confirm the hazard before regrading it",
                "LIFECYCLE")
        require(to_grade is not self.grade, "to_grade", f"the hazard is already {to_grade}",
                "LIFECYCLE")
        require(bool(reason.strip()), "reason", "must say why the grade changes", "INPUT")
        if to_grade is Grade.MAJOR:
            require(bool(criteria_ref), "criteria_ref",
                    "a major grading cites the determination standard (V13)", "V13")
        else:
            require(self.listing is None or self.delisted, "to_grade",
                    "a listed major hazard must be delisted before it is downgraded (V15)", "V15")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector)
        self._record(self.HazardRegraded, ctx, from_grade=self.grade, to_grade=to_grade,
                     criteria_ref=criteria_ref, reason=reason)

    @when.register
    def _(self, event: Hazard.HazardRegraded) -> None:
        self.grade = event.to_grade
        if event.to_grade is Grade.MAJOR:
            self.plan_approved = False
            if self.state is HazardState.RECTIFYING:
                self.state = HazardState.CONFIRMED  # a major needs an approved plan (V6)
            elif self.state is HazardState.VERIFIED:
                # a general hazard's verification does not stand for a major one (V4)
                self.state = HazardState.RECTIFIED
                self.verified_at = None

    class HazardRectifiedOnSpot(Event):
        evidence: str | None

    def rectify_on_spot(self, ctx: Context, rectified_at: datetime,
                        evidence: str | None) -> None:
        """The fast path for a general hazard removed on discovery: REPORTED → CLOSED."""
        self._require_state("rectify on the spot", HazardState.REPORTED)
        require(self.proposed_grade is Grade.GENERAL, "hazard_id",
                "only a general hazard can be rectified on the spot", "LIFECYCLE")
        self._require_after("rectified_at", rectified_at)
        ctx.require_not_future("rectified_at", rectified_at)
        require(business_date(rectified_at) == business_date(self.discovered_at), "rectified_at",
                "on-the-spot rectification happens on the day of discovery", "V3")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector, self.enterprise_id)
        self._record(self.HazardRectifiedOnSpot, ctx, rectified_at, evidence=evidence)

    @when.register
    def _(self, event: Hazard.HazardRectifiedOnSpot) -> None:
        self.state = HazardState.CLOSED
        self.grade = Grade.GENERAL
        self.treatment = Treatment.IMMEDIATE
        self.deadline = business_date(self.discovered_at)
        self.completed_at = self.verified_at = event.occurred_at
        self.last_change_at = event.occurred_at

    # -- the rectification plan (五到位) ---------------------------------------------------

    class RectificationPlanSubmitted(Event):
        plan: RectificationPlan

    def submit_plan(self, ctx: Context, plan: RectificationPlan) -> None:
        self._require_state("submit a plan", HazardState.CONFIRMED)
        require(bool(plan.measures.strip()), "plan.measures", "must describe the measures", "INPUT")
        if self.grade is Grade.MAJOR:
            missing = plan.missing_for_major()
            require(not missing, f"plan.{missing[0]}" if missing else "plan",
                    "a major hazard's plan needs all of 五到位 (measures, responsible org and "
                    f"person, funds with source, time limit, contingency plan); missing: "
                    f"{', '.join(missing)}", "V6")
        require(plan.funds_fen is None or plan.funds_fen >= 0, "plan.funds", "must not be negative",
                "INPUT")
        if plan.deadline is not None:
            assert self.deadline is not None
            require(plan.deadline <= self.deadline, "plan.deadline",
                    f"the plan cannot end after the hazard's deadline {self.deadline}; "
                    "request an extension", "V6")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector, self.enterprise_id)
        self._record(self.RectificationPlanSubmitted, ctx, plan=plan)

    @when.register
    def _(self, event: Hazard.RectificationPlanSubmitted) -> None:
        self.plan = event.plan
        self.plan_approved = False
        if self.grade is Grade.GENERAL:
            self.state = HazardState.RECTIFYING
        self.last_change_at = event.occurred_at

    class RectificationPlanApproved(Event):
        opinion: str | None

    class RectificationPlanRejected(Event):
        opinion: str

    def review_plan(self, ctx: Context, approve: bool, opinion: str | None) -> None:
        self._require_state("review a plan", HazardState.CONFIRMED)
        require(self.plan is not None and not self.plan_approved, "hazard_id",
                "there is no plan awaiting review", "LIFECYCLE")
        require(self.grade is Grade.MAJOR, "hazard_id",
                "only a major hazard's plan is reviewed; a general plan takes effect on submission",
                "LIFECYCLE")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector)
        if approve:
            self._record(self.RectificationPlanApproved, ctx, opinion=opinion)
        else:
            require(bool(opinion), "opinion", "a rejection must say why", "INPUT")
            self._record(self.RectificationPlanRejected, ctx, opinion=opinion or "")

    @when.register
    def _(self, event: Hazard.RectificationPlanApproved) -> None:
        self.plan_approved = True
        self.state = HazardState.RECTIFYING
        self.last_change_at = event.occurred_at

    @when.register
    def _(self, event: Hazard.RectificationPlanRejected) -> None:
        self.plan = None

    class RectificationProgressReported(Event):
        percent: int
        note: str | None

    def report_progress(self, ctx: Context, percent: int, note: str | None) -> None:
        self._require_state("report progress", HazardState.RECTIFYING)
        require(0 <= percent <= 100, "percent", "must be between 0 and 100", "V28")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector, self.enterprise_id)
        self._record(self.RectificationProgressReported, ctx, percent=percent, note=note)

    # -- deadlines -------------------------------------------------------------------------

    class DeadlineExtensionRequested(Event):
        new_deadline: date
        reason: str

    def request_extension(self, ctx: Context, new_deadline: date, reason: str,
                          requested_at: datetime) -> None:
        self._require_state("request an extension", HazardState.CONFIRMED,
                            HazardState.RECTIFYING)
        assert self.deadline is not None
        require(self.pending_extension is None, "hazard_id",
                f"an extension to {self.pending_extension} is already awaiting a decision",
                "LIFECYCLE")
        ctx.require_not_future("requested_at", requested_at)
        require(business_date(requested_at) <= self.deadline, "requested_at",
                f"an extension must be requested before the deadline {self.deadline} "
                "expires (V14)", "V14")
        require(new_deadline > self.deadline, "new_deadline",
                f"must be later than the current deadline {self.deadline}", "V14")
        require(bool(reason.strip()), "reason", "must say why more time is needed", "INPUT")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector, self.enterprise_id)
        self._record(self.DeadlineExtensionRequested, ctx, requested_at,
                     new_deadline=new_deadline, reason=reason)

    @when.register
    def _(self, event: Hazard.DeadlineExtensionRequested) -> None:
        self.pending_extension = event.new_deadline

    class DeadlineExtended(Event):
        old_deadline: date
        new_deadline: date

    class DeadlineExtensionRejected(Event):
        opinion: str

    def decide_extension(self, ctx: Context, approve: bool, opinion: str | None,
                         new_deadline: date | None = None) -> None:
        self._require_open("decide an extension")
        require(self.pending_extension is not None, "hazard_id",
                "no extension request awaits a decision", "LIFECYCLE")
        self._require_deadline_authority(ctx)
        if approve:
            assert self.deadline is not None and self.pending_extension is not None
            granted = new_deadline or self.pending_extension
            require(granted > self.deadline, "new_deadline",
                    f"must be later than the current deadline {self.deadline}", "V14")
            self._record(self.DeadlineExtended, ctx, old_deadline=self.deadline,
                         new_deadline=granted)
        else:
            require(bool(opinion), "opinion", "a rejection must say why", "INPUT")
            self._record(self.DeadlineExtensionRejected, ctx, opinion=opinion or "")

    @when.register
    def _(self, event: Hazard.DeadlineExtended) -> None:
        self.deadline = event.new_deadline
        self.pending_extension = None

    @when.register
    def _(self, event: Hazard.DeadlineExtensionRejected) -> None:
        self.pending_extension = None

    class HazardBecameOverdue(Event):
        deadline: date

    def record_overdue(self, ctx: Context) -> bool:
        """Record that the deadline had passed at the command's time — once per deadline,
        so a daily sweep may run any number of times. Returns False when there was
        nothing new to record."""
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector)
        if not self.is_overdue(ctx.today) or self.overdue_recorded_for == self.deadline:
            return False
        self._record(self.HazardBecameOverdue, ctx, ctx.at, deadline=self.deadline)
        return True

    @when.register
    def _(self, event: Hazard.HazardBecameOverdue) -> None:
        self.overdue_recorded_for = event.deadline

    def is_overdue(self, on: date) -> bool:
        """Derived, never stored: open, past its deadline on day `on` (DOMAIN §6.5). The
        views evaluate the same rule in SQL (`projections.catalogue.HAZARD_CONDITIONS`)."""
        return self.state in OVERDUE_STATES and self.deadline is not None and on > self.deadline

    # -- listing (挂牌督办) ------------------------------------------------------------------

    class HazardListed(Event):
        listing: Listing

    def list_hazard(self, ctx: Context, level: ListingLevel, deadline: date,
                    supervising_org: str | None, notice_no: str | None) -> None:
        self._require_state("list", HazardState.CONFIRMED, HazardState.RECTIFYING,
                            HazardState.RECTIFIED)
        require(self.grade is Grade.MAJOR, "hazard_id", "only a major hazard is listed",
                "LIFECYCLE")
        require(self.listing is None, "hazard_id", "the hazard is already listed", "LIFECYCLE")
        listing_level = level.level
        require(listing_level is not None and ctx.org.level is listing_level, "level",
                f"an org at {ctx.org.level} level cannot list at {level} level", "V7")
        require(deadline >= ctx.today, "deadline",
                f"a listing deadline cannot lie before the listing date {ctx.today}", "V3")
        ctx.require_jurisdiction("hazard_id", self.unit_code)
        listing = Listing(level=level, authority_org_id=ctx.actor.org_id,
                          supervising_org=supervising_org, notice_no=notice_no, deadline=deadline)
        self._record(self.HazardListed, ctx, listing=listing)

    @when.register
    def _(self, event: Hazard.HazardListed) -> None:
        self.listing = event.listing

    class HazardDelisted(Event):
        delisting_doc: str | None

    def delist(self, ctx: Context, delisting_doc: str | None) -> None:
        require(self.listing is not None and not self.delisted, "hazard_id",
                "the hazard is not listed", "LIFECYCLE")
        self._require_state("delist", HazardState.VERIFIED)
        assert self.listing is not None
        require(ctx.actor.org_id == self.listing.authority_org_id, "actor",
                "only the listing authority delists (摘牌) a hazard (V5)", "V5")
        self._record(self.HazardDelisted, ctx, delisting_doc=delisting_doc)

    @when.register
    def _(self, event: Hazard.HazardDelisted) -> None:
        self.delisted = True

    # -- completion, verification, closure ---------------------------------------------

    class RectificationCompleted(Event):
        evidence: str | None

    def complete(self, ctx: Context, completed_at: datetime, evidence: str | None) -> None:
        self._require_state("declare rectified", HazardState.CONFIRMED, HazardState.RECTIFYING)
        if self.grade is Grade.MAJOR:
            require(self.plan_approved, "hazard_id",
                    "a major hazard needs an approved 五到位 plan before completion (V6)", "V6")
        ctx.require_not_future("completed_at", completed_at)
        self._require_after("completed_at", completed_at)
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector, self.enterprise_id)
        self._record(self.RectificationCompleted, ctx, completed_at, evidence=evidence)

    @when.register
    def _(self, event: Hazard.RectificationCompleted) -> None:
        self.state = HazardState.RECTIFIED
        self.completed_at = event.occurred_at
        self.last_change_at = event.occurred_at

    class HazardVerified(Event):
        passed: bool
        method: VerificationMethod
        opinion: str | None
        verifier_org_id: UUID

    def verify(self, ctx: Context, passed: bool, method: VerificationMethod,
               opinion: str | None, verified_at: datetime) -> None:
        self._require_state("verify", HazardState.RECTIFIED)
        self._require_verification_authority(ctx, "VerifyHazard")
        ctx.require_not_future("verified_at", verified_at)
        assert self.completed_at is not None
        require_order("verified_at", verified_at, self.completed_at, "completion")
        require(passed or bool(opinion), "opinion", "a failed verification must say why", "INPUT")
        self._record(self.HazardVerified, ctx, verified_at, passed=passed, method=method,
                     opinion=opinion, verifier_org_id=ctx.actor.org_id)

    @when.register
    def _(self, event: Hazard.HazardVerified) -> None:
        if event.passed:
            self.state = HazardState.VERIFIED
            self.verified_at = event.occurred_at
        else:
            self.state = HazardState.RECTIFYING
            self.completed_at = None
        self.last_change_at = event.occurred_at

    class HazardClosed(Event):
        pass

    def close(self, ctx: Context, closed_at: datetime) -> None:
        """销号: only after a passing verification (V4) and, if listed, delisting (V5)."""
        if self.state is not HazardState.VERIFIED:
            raise DomainError("hazard_id", f"cannot close a {self.state} hazard: closure needs a "
                                           "passing verification by an authorised body (V4)", "V4")
        require(self.listing is None or self.delisted, "hazard_id",
                "a listed hazard must be delisted by its listing authority before closure (V5)",
                "V5")
        self._require_verification_authority(ctx, "CloseHazard")
        ctx.require_not_future("closed_at", closed_at)
        assert self.verified_at is not None
        require_order("closed_at", closed_at, self.verified_at, "verification")
        self._record(self.HazardClosed, ctx, closed_at)

    @when.register
    def _(self, event: Hazard.HazardClosed) -> None:
        self.state = HazardState.CLOSED
        self.last_change_at = event.occurred_at

    # -- ownership, voiding, relapse, elimination ----------------------------------------

    class HazardTransferred(Event):
        from_org_id: UUID
        to_org_id: UUID
        reason: str

    def transfer(self, ctx: Context, to_org_id: UUID, to_org_covers: bool, reason: str) -> None:
        """Hand over to the responsible body (隐患移交). zhibao keeps the same hazard and
        its timeline under the receiving body, so nothing is counted twice."""
        self._require_open("transfer")
        require(to_org_id != self.treating_org_id, "to_org_id", "already the treating body",
                "LIFECYCLE")
        require(to_org_covers, "to_org_id",
                f"the receiving org has no jurisdiction over {self.unit_code}", "V7")
        require(bool(reason.strip()), "reason", "must say why the hazard is handed over", "INPUT")
        require(ctx.actor.org_id == self.treating_org_id or ctx.covers(self.unit_code, None, None),
                "actor", "only the treating body or a higher level transfers a hazard", "V7")
        self._record(self.HazardTransferred, ctx, from_org_id=self.treating_org_id,
                     to_org_id=to_org_id, reason=reason)

    @when.register
    def _(self, event: Hazard.HazardTransferred) -> None:
        self.treating_org_id = event.to_org_id

    class HazardVoided(Event):
        reason: str
        duplicate_of: UUID | None

    def void(self, ctx: Context, reason: str, duplicate_of: UUID | None) -> None:
        self._require_state("void", HazardState.REPORTED, HazardState.CONFIRMED)
        require(bool(reason.strip()), "reason", "must say why the record is void", "INPUT")
        require(duplicate_of != self.id, "duplicate_of", "a hazard cannot duplicate itself", "V10")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector, self.enterprise_id)
        if self.state is HazardState.CONFIRMED:
            ctx.authorise("VoidHazard:confirmed")
            require(ctx.org.level is not None
                    and ctx.org.level.rank > _rank(self.discovering_level),
                    "actor", "after confirmation only a higher level voids a hazard", "V7")
        else:
            ctx.authorise("VoidHazard:reported")
        self._record(self.HazardVoided, ctx, reason=reason, duplicate_of=duplicate_of)

    @when.register
    def _(self, event: Hazard.HazardVoided) -> None:
        self.state = HazardState.VOIDED
        self.last_change_at = event.occurred_at

    class HazardRelapseFound(Event):
        new_hazard_id: UUID

    def record_relapse(self, ctx: Context, new_hazard_id: UUID, found_at: datetime) -> None:
        """回头看: the old hazard stays closed; the relapse is a new hazard linked to it."""
        self._require_state("record a relapse of", HazardState.CLOSED, field="relapse_of")
        ctx.require_jurisdiction("relapse_of", self.unit_code, self.sector)
        self._record(self.HazardRelapseFound, ctx, found_at, new_hazard_id=new_hazard_id)

    class HazardEliminatedByClosure(Event):
        decision_no: str | None

    def eliminate_by_closure(self, ctx: Context, enterprise_closed: bool,
                             decision_no: str | None) -> None:
        self._require_open("eliminate")
        require(self.enterprise_id is not None and enterprise_closed, "enterprise_id",
                "a hazard is eliminated by closure only when its enterprise is closed", "LIFECYCLE")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector)
        self._record(self.HazardEliminatedByClosure, ctx, decision_no=decision_no)

    @when.register
    def _(self, event: Hazard.HazardEliminatedByClosure) -> None:
        self.state = HazardState.ELIMINATED_BY_CLOSURE
        self.last_change_at = event.occurred_at

    # -- guards ----------------------------------------------------------------------------

    def _require_state(self, action: str, *allowed: HazardState,
                       field: str = "hazard_id") -> None:
        if self.state not in allowed:
            raise DomainError(field, f"cannot {action} a hazard in state {self.state} "
                                     f"(allowed from {', '.join(allowed)})", "LIFECYCLE")

    def _require_open(self, action: str) -> None:
        self._require_state(action, *sorted(OPEN))

    def _require_after(self, field: str, at: datetime) -> None:
        require_order(field, at, self.discovered_at, "discovery at")
        require_order(field, at, self.last_change_at, "the hazard's previous step at")

    def _require_grading_authority(self, ctx: Context, grade: Grade) -> None:
        """General: a town office or the inspecting department. Major: a county-level
        department with supervisory duty or higher, citing the standard (V13)."""
        ctx.authorise(f"ConfirmHazard:{grade}")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector)

    def _require_deadline_authority(self, ctx: Context) -> None:
        if self.listing is not None and not self.delisted:
            ctx.authorise("DecideDeadlineExtension:listed")
            require(ctx.actor.org_id == self.listing.authority_org_id, "actor",
                    "a listed hazard's deadline is decided by its listing authority", "V5")
        else:
            ctx.authorise("DecideDeadlineExtension:unlisted")
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector)

    def _require_verification_authority(self, ctx: Context, action: str) -> None:
        """General: town or the inspecting body. Major: a county-level verifier holding
        `can_verify_major` (V4). Listed: its listing authority, or such a verifier at least
        at the listing level (§6.2)."""
        ctx.require_jurisdiction("hazard_id", self.unit_code, self.sector)
        if self.listing is None:
            ctx.authorise(f"{action}:{self.grade or Grade.GENERAL}")
            return
        ctx.authorise(f"{action}:listed")
        level = self.listing.level.level
        require(ctx.actor.org_id == self.listing.authority_org_id or (
            level is not None and ctx.org.at_least(level)), "actor",
            f"a hazard listed at {self.listing.level} level is verified and closed by its "
            "listing authority or a verifier at that level (V5)", "V5")


def _rank(level_name: str) -> int:
    """Rank of a discovering level; an enterprise ranks below a village."""
    return -1 if level_name == OrgType.ENTERPRISE.value else Level(level_name).rank
