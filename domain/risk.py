"""Risk points (风险点) graded in four colours (四色): the risk half of 双重预防."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, ZhibaoAggregate, require, start_of_day


class RiskLevel(StrEnum):
    """High to low. Green is not a level in this domain (DOMAIN §9)."""

    RED = "red"  # 重大风险
    ORANGE = "orange"  # 较大风险
    YELLOW = "yellow"  # 一般风险
    BLUE = "blue"  # 低风险


def _require_scale(field: str, value: int) -> None:
    require(1 <= value <= 5, field, "is rated on a 1–5 scale", "INPUT")


class RiskPoint(ZhibaoAggregate):
    def __init__(self, unit_code: str, enterprise_id: UUID | None, sector: str | None,
                 level: RiskLevel) -> None:
        self.unit_code = unit_code
        self.enterprise_id = enterprise_id
        self.sector = sector
        self.level = level
        self.retired = False

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class RiskPointIdentified(ZhibaoAggregate.Created):
        enterprise_id: UUID | None
        sector: str | None
        description: str
        hazard_factors: str | None
        likelihood: int
        severity: int
        level: RiskLevel

    @classmethod
    def identify(
        cls, ctx: Context, risk_point_id: UUID, unit_code: str, enterprise_id: UUID | None,
        sector: str | None, description: str, hazard_factors: str | None, likelihood: int,
        severity: int, level: RiskLevel, identified_on: date,
    ) -> RiskPoint:
        require(bool(description.strip()), "description", "must not be empty", "INPUT")
        _require_scale("likelihood", likelihood)
        _require_scale("severity", severity)
        ctx.require_jurisdiction("unit_code", unit_code, sector, enterprise_id)
        return cls._start(
            cls.RiskPointIdentified, ctx, risk_point_id, unit_code, start_of_day(identified_on),
            enterprise_id=enterprise_id, sector=sector, description=description,
            hazard_factors=hazard_factors, likelihood=likelihood, severity=severity, level=level,
        )

    class RiskLevelAssessed(Event):
        likelihood: int
        severity: int
        level: RiskLevel

    def assess(self, ctx: Context, likelihood: int, severity: int, level: RiskLevel,
               assessed_on: date) -> None:
        require(not self.retired, "risk_point_id", "the risk point is retired", "LIFECYCLE")
        _require_scale("likelihood", likelihood)
        _require_scale("severity", severity)
        self._require_holder(ctx)
        self._record(self.RiskLevelAssessed, ctx, start_of_day(assessed_on),
                     likelihood=likelihood, severity=severity, level=level)

    @when.register
    def _(self, event: RiskPoint.RiskLevelAssessed) -> None:
        self.level = event.level

    class RiskControlMeasureSet(Event):
        measures: tuple[str, ...]
        owner_level: str

    def set_controls(self, ctx: Context, measures: tuple[str, ...], owner_level: str) -> None:
        require(not self.retired, "risk_point_id", "the risk point is retired", "LIFECYCLE")
        require(len(measures) > 0, "measures", "at least one control measure", "INPUT")
        self._require_holder(ctx)
        self._record(self.RiskControlMeasureSet, ctx, measures=tuple(measures),
                     owner_level=owner_level)

    class RiskPointRetired(Event):
        reason: str

    def retire(self, ctx: Context, reason: str) -> None:
        require(not self.retired, "risk_point_id", "the risk point is already retired", "LIFECYCLE")
        self._require_holder(ctx)
        self._record(self.RiskPointRetired, ctx, reason=reason)

    @when.register
    def _(self, event: RiskPoint.RiskPointRetired) -> None:
        self.retired = True

    def _require_holder(self, ctx: Context) -> None:
        """The enterprise owning the risk point, or a body covering its place."""
        ctx.require_jurisdiction("risk_point_id", self.unit_code, self.sector, self.enterprise_id)
