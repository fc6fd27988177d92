"""Production and business units (生产经营单位) and their monthly self-inspections
(企业自查自改)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import (
    Context,
    ZhibaoAggregate,
    business_date,
    require,
    start_of_day,
)
from domain.codes import validate_uscc
from domain.periods import Period, PeriodKind
from domain.sectors import require_sector
from domain.units import UnitRef, require_valid_at


class EnterpriseStatus(StrEnum):
    OPERATING = "operating"
    SUSPENDED = "suspended"
    CLOSED = "closed"


@dataclass(frozen=True)
class EnterpriseFlags:
    """The cuts of the expected-reporting base (应报基数) used by the Ningbo system."""

    high_risk: bool = False  # 高危
    above_designated_size: bool = False  # 规模以上
    crowded_place: bool = False  # 人员密集场所
    small_venue_9: bool = False  # 九小场所
    major_hazard_installation: bool = False  # 重大危险源


def parse_month(field: str, period: str) -> tuple[int, int]:
    """A self-inspection is monthly: its period is a calendar month written YYYY-MM."""
    parsed = Period.parse(period, field)
    require(parsed.kind is PeriodKind.MONTH, field, f"{period!r} is not a month (YYYY-MM)", "INPUT")
    return parsed.year, parsed.number


@dataclass(frozen=True)
class EnterpriseRef:
    """An enterprise as the service found it in the directory, on one day."""

    enterprise_id: UUID
    name: str
    unit_code: str  # where it was that day (the unit's current code)
    sector: str  # its primary sector
    registered_on: date
    closed_on: date | None


def require_operating(field: str, enterprise: EnterpriseRef, on: date) -> None:
    """V9: a fact about an enterprise happens while it exists and before it was closed."""
    require(on >= enterprise.registered_on, field,
            f"enterprise {enterprise.name} was registered only on {enterprise.registered_on}, "
            f"after {on}", "V9")
    require(enterprise.closed_on is None or on < enterprise.closed_on, field,
            f"enterprise {enterprise.name} was closed on {enterprise.closed_on}", "V9")


class Enterprise(ZhibaoAggregate):
    def __init__(self, unit_code: str, uscc: str, name: str, sectors: tuple[str, ...],
                 flags: EnterpriseFlags) -> None:
        self.unit_code = unit_code
        self.uscc = uscc
        self.name = name
        self.sectors = sectors
        self.flags = flags
        self.status = EnterpriseStatus.OPERATING
        self.closed_on: date | None = None
        self.self_inspected_periods: set[str] = set()

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    @property
    def sector(self) -> str:
        """The primary sector."""
        return self.sectors[0]

    class EnterpriseRegistered(ZhibaoAggregate.Created):
        uscc: str
        name: str
        address: str
        sectors: tuple[str, ...]
        flags: EnterpriseFlags
        principal: str
        registered_on: date

    @classmethod
    def register(
        cls, ctx: Context, enterprise_id: UUID, uscc: str, name: str, unit: UnitRef,
        address: str, sectors: tuple[str, ...], flags: EnterpriseFlags, principal: str,
        registered_on: date,
    ) -> Enterprise:
        normalised = validate_uscc(uscc)
        require(bool(name.strip()), "name", "must not be empty", "INPUT")
        require(len(sectors) > 0, "sectors", "at least one sector (the primary one first)", "INPUT")
        for sector in sectors:
            require_sector("sectors", sector)
        require_valid_at("unit_code", unit, registered_on)
        ctx.require_jurisdiction("unit_code", unit.code, sectors[0])
        return cls._start(
            cls.EnterpriseRegistered, ctx, enterprise_id, unit.code,
            start_of_day(registered_on),
            uscc=normalised, name=name, address=address, sectors=tuple(sectors), flags=flags,
            principal=principal, registered_on=registered_on,
        )

    class EnterpriseRelocated(Event):
        from_unit_code: str
        to_unit_code: str

    def relocate(self, ctx: Context, unit: UnitRef, on: date) -> None:
        self._require_not_closed("enterprise_id")
        require(unit.code != self.unit_code, "unit_code", "is the current location", "LIFECYCLE")
        require_valid_at("unit_code", unit, on)
        ctx.require_jurisdiction("enterprise_id", self.unit_code, self.sector)
        ctx.require_jurisdiction("unit_code", unit.code, self.sector)
        self._record(self.EnterpriseRelocated, ctx, start_of_day(on),
                     from_unit_code=self.unit_code, to_unit_code=unit.code)

    @when.register
    def _(self, event: Enterprise.EnterpriseRelocated) -> None:
        self.unit_code = event.to_unit_code

    class EnterpriseSectorsChanged(Event):
        sectors: tuple[str, ...]

    def change_sectors(self, ctx: Context, sectors: tuple[str, ...]) -> None:
        self._require_not_closed("enterprise_id")
        require(len(sectors) > 0, "sectors", "at least one sector (the primary one first)", "INPUT")
        for sector in sectors:
            require_sector("sectors", sector)
        ctx.require_jurisdiction("enterprise_id", self.unit_code, self.sector)
        self._record(self.EnterpriseSectorsChanged, ctx, sectors=tuple(sectors))

    @when.register
    def _(self, event: Enterprise.EnterpriseSectorsChanged) -> None:
        self.sectors = event.sectors

    class EnterpriseFlagsChanged(Event):
        flags: EnterpriseFlags

    def change_flags(self, ctx: Context, flags: EnterpriseFlags) -> None:
        self._require_not_closed("enterprise_id")
        ctx.require_jurisdiction("enterprise_id", self.unit_code, self.sector)
        self._record(self.EnterpriseFlagsChanged, ctx, flags=flags)

    @when.register
    def _(self, event: Enterprise.EnterpriseFlagsChanged) -> None:
        self.flags = event.flags

    class EnterpriseSuspended(Event):
        reason: str
        decision_no: str | None

    def suspend(self, ctx: Context, on: date, reason: str, decision_no: str | None) -> None:
        require(self.status is EnterpriseStatus.OPERATING, "enterprise_id",
                f"only an operating enterprise can be suspended, this one is {self.status}",
                "LIFECYCLE")
        self._require_regulator(ctx)
        self._record(self.EnterpriseSuspended, ctx, start_of_day(on), reason=reason,
                     decision_no=decision_no)

    @when.register
    def _(self, event: Enterprise.EnterpriseSuspended) -> None:
        self.status = EnterpriseStatus.SUSPENDED

    class EnterpriseResumed(Event):
        decision_no: str | None

    def resume(self, ctx: Context, on: date, decision_no: str | None) -> None:
        require(self.status is EnterpriseStatus.SUSPENDED, "enterprise_id",
                f"only a suspended enterprise can resume, this one is {self.status}", "LIFECYCLE")
        self._require_regulator(ctx)
        self._record(self.EnterpriseResumed, ctx, start_of_day(on), decision_no=decision_no)

    @when.register
    def _(self, event: Enterprise.EnterpriseResumed) -> None:
        self.status = EnterpriseStatus.OPERATING

    class EnterpriseClosed(Event):
        reason: str
        decision_no: str | None

    def close(self, ctx: Context, on: date, reason: str, decision_no: str | None) -> None:
        self._require_not_closed("enterprise_id")
        self._require_regulator(ctx)
        self._record(self.EnterpriseClosed, ctx, start_of_day(on), reason=reason,
                     decision_no=decision_no)

    @when.register
    def _(self, event: Enterprise.EnterpriseClosed) -> None:
        self.status = EnterpriseStatus.CLOSED
        self.closed_on = business_date(event.occurred_at)

    class SelfInspectionSubmitted(Event):
        period: str
        hazards_found: int
        signed_by_principal: bool
        published_on: date | None

    def submit_self_inspection(
        self, ctx: Context, period: str, submitted_at: datetime, hazards_found: int,
        signed_by_principal: bool, published_on: date | None,
    ) -> None:
        """One submission per enterprise and month, signed (or not) by the principal."""
        year, month = parse_month("period", period)
        require(self.status is not EnterpriseStatus.CLOSED, "enterprise_id",
                "a closed enterprise no longer self-inspects", "V9")
        require(period not in self.self_inspected_periods, "period",
                f"a self-inspection for {period} was already submitted", "LIFECYCLE")
        require(hazards_found >= 0, "hazards_found", "must be a non-negative count", "INPUT")
        ctx.require_not_future("submitted_at", submitted_at)
        require(date(year, month, 1) <= business_date(submitted_at), "period",
                f"{period} has not started on {business_date(submitted_at)}", "V3")
        ctx.require_jurisdiction("enterprise_id", self.unit_code, self.sector, self.id)
        self._record(self.SelfInspectionSubmitted, ctx, submitted_at, period=period,
                     hazards_found=hazards_found, signed_by_principal=signed_by_principal,
                     published_on=published_on)

    @when.register
    def _(self, event: Enterprise.SelfInspectionSubmitted) -> None:
        self.self_inspected_periods.add(event.period)

    def _require_not_closed(self, field: str) -> None:
        require(self.status is not EnterpriseStatus.CLOSED, field,
                f"enterprise {self.name} is closed", "V9")

    def _require_regulator(self, ctx: Context) -> None:
        """Who may change an enterprise's status is the permission matrix's; where is its
        jurisdiction."""
        ctx.require_jurisdiction("enterprise_id", self.unit_code, self.sector)
