"""The unit tree (村 → 镇 → 县 → 市 → 省) and the bodies (orgs) that act in it.

Units carry explicit parent links: development zones and management bureaus are county-level
nodes without GB/T 2260 codes, and some cities have no county level, so the hierarchy is
never derived from code prefixes alone (DOMAIN §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import (
    Context,
    DomainError,
    Level,
    OrgType,
    ZhibaoAggregate,
    require,
    start_of_day,
)
from domain.codes import CodeSystem, validate_unit_code
from domain.sectors import require_sector

PARENT_LEVELS: dict[Level, set[Level]] = {
    Level.PROVINCE: set(),
    Level.CITY: {Level.PROVINCE},
    Level.COUNTY: {Level.CITY, Level.PROVINCE},  # province-administered county-level cities
    Level.TOWN: {Level.COUNTY, Level.CITY},  # cities without a county level (Dongguan)
    Level.VILLAGE: {Level.TOWN},
}


@dataclass(frozen=True)
class UnitRef:
    """A unit as the service found it in the directory."""

    unit_id: UUID
    code: str
    level: Level
    valid_from: date
    valid_to: date | None


def require_valid_at(field: str, unit: UnitRef, on: date) -> None:
    """A unit may only be referred to while it exists (V8)."""
    if on < unit.valid_from or (unit.valid_to is not None and on >= unit.valid_to):
        until = f" until {unit.valid_to}" if unit.valid_to else ""
        raise DomainError(field, f"unit {unit.code} is not valid on {on} "
                                 f"(valid from {unit.valid_from}{until})")


class AdminUnit(ZhibaoAggregate):
    """An administrative unit; recoding and merging are events, never edits."""

    def __init__(self, code: str, code_system: CodeSystem, level: Level, name: str,
                 parent_id: UUID | None, valid_from: date) -> None:
        self.unit_code = code
        self.code_system = code_system
        self.level = level
        self.name = name
        self.parent_id = parent_id
        self.valid_from = valid_from
        self.valid_to: date | None = None
        self.successor_codes: tuple[str, ...] = ()

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class AdminUnitRegistered(ZhibaoAggregate.Created):
        code: str
        code_system: CodeSystem
        level: Level
        kind: str
        name: str
        parent_id: UUID | None
        parent_code: str | None
        valid_from: date
        urban_rural_class: str | None

    @classmethod
    def register(
        cls, ctx: Context, unit_id: UUID, code: str, code_system: CodeSystem, level: Level,
        kind: str, name: str, parent: UnitRef | None, valid_from: date,
        urban_rural_class: str | None = None,
    ) -> AdminUnit:
        validate_unit_code(code, code_system, level)
        require(bool(name.strip()), "name", "must not be empty")
        if parent is None:
            require(level is Level.PROVINCE or ctx.org.org_type is OrgType.SYSTEM, "parent_code",
                    f"a {level} unit needs a parent")
        else:
            require(parent.level in PARENT_LEVELS[level], "parent_code",
                    f"a {level} unit cannot sit under the {parent.level} {parent.code}")
            require_valid_at("parent_code", parent, valid_from)
            ctx.require_jurisdiction("parent_code", parent.code)
        if urban_rural_class is not None:
            require(level is Level.VILLAGE and urban_rural_class.isdigit()
                    and len(urban_rural_class) == 3, "urban_rural_class",
                    "is a 3-digit class and only for villages")
        return cls._start(
            cls.AdminUnitRegistered, ctx, unit_id, code,
            start_of_day(valid_from),
            code=code, code_system=code_system, level=level, kind=kind, name=name,
            parent_id=parent.unit_id if parent else None,
            parent_code=parent.code if parent else None, valid_from=valid_from,
            urban_rural_class=urban_rural_class,
        )

    class AdminUnitRecoded(Event):
        old_code: str
        new_code: str
        valid_from: date

    def recode(self, ctx: Context, new_code: str, valid_from: date) -> None:
        self._require_active("code")
        validate_unit_code(new_code, self.code_system, self.level)
        require(new_code != self.unit_code, "new_code", "is the current code")
        ctx.require_jurisdiction("code", self.unit_code)
        self._record(self.AdminUnitRecoded, ctx, start_of_day(valid_from),
                     old_code=self.unit_code, new_code=new_code, valid_from=valid_from)

    @when.register
    def _(self, event: AdminUnit.AdminUnitRecoded) -> None:
        self.unit_code = event.new_code

    class AdminUnitMerged(Event):
        successor_code: str
        valid_from: date

    def merge_into(self, ctx: Context, successor: UnitRef, valid_from: date) -> None:
        self._require_active("code")
        require(successor.code != self.unit_code, "successor_code", "cannot merge into itself")
        require(successor.level is self.level, "successor_code",
                f"a {self.level} merges into a {self.level}, not a {successor.level}")
        require_valid_at("successor_code", successor, valid_from)
        ctx.require_jurisdiction("code", self.unit_code)
        self._record(self.AdminUnitMerged, ctx, start_of_day(valid_from),
                     successor_code=successor.code, valid_from=valid_from)

    @when.register
    def _(self, event: AdminUnit.AdminUnitMerged) -> None:
        self.valid_to = event.valid_from
        self.successor_codes = (event.successor_code,)

    class AdminUnitRetired(Event):
        successor_codes: tuple[str, ...]
        valid_from: date

    def retire(self, ctx: Context, valid_from: date, successors: tuple[UnitRef, ...]) -> None:
        self._require_active("code")
        require(valid_from > self.valid_from, "valid_from",
                f"must be after the unit's own start {self.valid_from}")
        ctx.require_jurisdiction("code", self.unit_code)
        self._record(self.AdminUnitRetired, ctx, start_of_day(valid_from),
                     successor_codes=tuple(s.code for s in successors), valid_from=valid_from)

    @when.register
    def _(self, event: AdminUnit.AdminUnitRetired) -> None:
        self.valid_to = event.valid_from
        self.successor_codes = event.successor_codes

    def _require_active(self, field: str) -> None:
        require(self.valid_to is None, field, f"unit {self.unit_code} was retired on "
                                              f"{self.valid_to}")


class OrgUnit(ZhibaoAggregate):
    """A body that records, reports or verifies: government, 安委会/安委办, department,
    town office, village committee. Its territory is a unit; departments are further
    limited to their sectors."""

    def __init__(self, unit_code: str, name: str, org_type: OrgType, level: Level,
                 sectors: tuple[str, ...], enforcement_power: bool,
                 can_verify_major: bool) -> None:
        self.unit_code = unit_code
        self.name = name
        self.org_type = org_type
        self.level = level
        self.sectors = sectors
        self.enforcement_power = enforcement_power
        self.can_verify_major = can_verify_major

    class OrgUnitRegistered(ZhibaoAggregate.Created):
        name: str
        org_type: OrgType
        level: Level
        sectors: tuple[str, ...]
        parent_org_id: UUID | None
        enforcement_power: bool
        can_verify_major: bool

    @classmethod
    def register(
        cls, ctx: Context, org_id: UUID, name: str, org_type: OrgType, unit: UnitRef,
        sectors: tuple[str, ...], parent_org_id: UUID | None, enforcement_power: bool,
        can_verify_major: bool,
    ) -> OrgUnit:
        require(bool(name.strip()), "name", "must not be empty")
        require(org_type is not OrgType.ENTERPRISE, "org_type",
                "enterprises are registered with RegisterEnterprise")
        for sector in sectors:
            require_sector("sectors", sector)
        require(not can_verify_major or unit.level.rank >= Level.COUNTY.rank,
                "can_verify_major", "only bodies at county level or above verify major hazards")
        require(org_type is not OrgType.VILLAGE_COMMITTEE or unit.level is Level.VILLAGE,
                "org_type", f"a village committee sits at a village, not a {unit.level}")
        require(org_type is not OrgType.TOWN_OFFICE or unit.level is Level.TOWN,
                "org_type", f"a town office sits at a town, not a {unit.level}")
        require(unit.valid_to is None, "unit_code", f"unit {unit.code} is retired")
        ctx.require_jurisdiction("unit_code", unit.code)
        return cls._start(
            cls.OrgUnitRegistered, ctx, org_id, unit.code, ctx.recorded_at, name=name,
            org_type=org_type, level=unit.level, sectors=tuple(sectors),
            parent_org_id=parent_org_id, enforcement_power=enforcement_power,
            can_verify_major=can_verify_major,
        )
