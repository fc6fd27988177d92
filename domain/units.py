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

from domain.authority import LEAD_BODIES, Power, holds, is_above
from domain.base import (
    Context,
    DomainError,
    Level,
    OrgProfile,
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
                                 f"(valid from {unit.valid_from}{until})", "V8")


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
        require(bool(name.strip()), "name", "must not be empty", "INPUT")
        if parent is None:  # the top of the tree, registered once by the bootstrap
            ctx.authorise("RegisterTopUnit")
        else:
            require(parent.level in PARENT_LEVELS[level], "parent_code",
                    f"a {level} unit cannot sit under the {parent.level} {parent.code}",
                    "UNIT-TREE")
            require_valid_at("parent_code", parent, valid_from)
            ctx.require_jurisdiction("parent_code", parent.code)
        if urban_rural_class is not None:
            require(level is Level.VILLAGE and urban_rural_class.isdigit()
                    and len(urban_rural_class) == 3, "urban_rural_class",
                    "is a 3-digit class and only for villages", "INPUT")
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
        require(new_code != self.unit_code, "new_code", "is the current code", "LIFECYCLE")
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
        require(successor.code != self.unit_code, "successor_code", "cannot merge into itself",
                "LIFECYCLE")
        require(successor.level is self.level, "successor_code",
                f"a {self.level} merges into a {self.level}, not a {successor.level}", "UNIT-TREE")
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
                f"must be after the unit's own start {self.valid_from}", "V3")
        ctx.require_jurisdiction("code", self.unit_code)
        self._record(self.AdminUnitRetired, ctx, start_of_day(valid_from),
                     successor_codes=tuple(s.code for s in successors), valid_from=valid_from)

    @when.register
    def _(self, event: AdminUnit.AdminUnitRetired) -> None:
        self.valid_to = event.valid_from
        self.successor_codes = event.successor_codes

    def _require_active(self, field: str) -> None:
        require(self.valid_to is None, field, f"unit {self.unit_code} was retired on "
                                              f"{self.valid_to}", "V8")


class OrgUnit(ZhibaoAggregate):
    """A body that records, reports or verifies: government, 安委会/安委办, department,
    town office, village committee. Its territory is a unit; departments are further
    limited to their sectors. Its powers (enforcement, verifying major hazards) and its
    sector scope are granted by a lead body above it, never at registration — except the
    bootstrap's top org, which starts with every power."""

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

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    @property
    def profile(self) -> OrgProfile:
        return OrgProfile(self.id, self.org_type, self.level, self.unit_code,
                          frozenset(self.sectors), self.enforcement_power,
                          self.can_verify_major)

    class OrgUnitRegistered(ZhibaoAggregate.Created):
        name: str
        org_type: OrgType
        level: Level
        sectors: tuple[str, ...]
        parent_org_id: UUID | None
        enforcement_power: bool  # True only for the bootstrap's top org (and older stores)
        can_verify_major: bool

    @classmethod
    def register(
        cls, ctx: Context, org_id: UUID, name: str, org_type: OrgType, unit: UnitRef,
        sectors: tuple[str, ...], parent_org_id: UUID | None, enforcement_power: bool = False,
        can_verify_major: bool = False,
    ) -> OrgUnit:
        """A child body, with no power; a sector-limited registrar registers bodies only
        within its own sectors (a body without sectors acts in all of them)."""
        for power, asked in ((Power.ENFORCEMENT, enforcement_power),
                             (Power.VERIFY_MAJOR, can_verify_major)):
            require(not asked, power.value, "an org is registered without powers; a lead "
                                            "body above it grants them (GrantOrgPower)",
                    "AUTH-GRANT")
        cls._require_valid(ctx, name, org_type, unit, sectors)
        if ctx.org.sectors:
            require(bool(sectors) and set(sectors) <= ctx.org.sectors, "sectors",
                    f"must lie within the registering org's sectors "
                    f"{sorted(ctx.org.sectors)}", "AUTH-GRANT")
        return cls._start(
            cls.OrgUnitRegistered, ctx, org_id, unit.code, ctx.recorded_at, name=name,
            org_type=org_type, level=unit.level, sectors=tuple(sectors),
            parent_org_id=parent_org_id, enforcement_power=False, can_verify_major=False,
        )

    @classmethod
    def establish_top(cls, ctx: Context, org_id: UUID, name: str, org_type: OrgType,
                      unit: UnitRef) -> OrgUnit:
        """The bootstrap's top org (`zhibao admin init`): the one body that starts with
        every power, so that it can grant them to the bodies below."""
        ctx.authorise("RegisterTopUnit")
        require(org_type in LEAD_BODIES, "org_type",
                f"the top org is a government, 安委会 or 安委办, not a {org_type}", "UNIT-TREE")
        cls._require_valid(ctx, name, org_type, unit, ())
        return cls._start(
            cls.OrgUnitRegistered, ctx, org_id, unit.code, ctx.recorded_at, name=name,
            org_type=org_type, level=unit.level, sectors=(), parent_org_id=None,
            enforcement_power=True, can_verify_major=True,
        )

    @staticmethod
    def _require_valid(ctx: Context, name: str, org_type: OrgType, unit: UnitRef,
                       sectors: tuple[str, ...]) -> None:
        require(bool(name.strip()), "name", "must not be empty", "INPUT")
        require(org_type not in (OrgType.ENTERPRISE, OrgType.SYSTEM), "org_type",
                "enterprises are registered with RegisterEnterprise", "UNIT-TREE")
        for sector in sectors:
            require_sector("sectors", sector)
        require(org_type is not OrgType.VILLAGE_COMMITTEE or unit.level is Level.VILLAGE,
                "org_type", f"a village committee sits at a village, not a {unit.level}",
                "UNIT-TREE")
        require(org_type is not OrgType.TOWN_OFFICE or unit.level is Level.TOWN,
                "org_type", f"a town office sits at a town, not a {unit.level}", "UNIT-TREE")
        require(unit.valid_to is None, "unit_code", f"unit {unit.code} is retired", "V8")
        ctx.require_jurisdiction("unit_code", unit.code)

    class OrgPowerGranted(Event):
        power: Power

    def grant_power(self, ctx: Context, power: Power) -> None:
        """A lead body above this one, holding the power itself, grants it (AUTH-GRANT)."""
        self._require_granter(ctx)
        require(holds(ctx.org, power), "power",
                f"org {ctx.org.org_id} does not hold {power} itself", "AUTH-GRANT")
        require(not holds(self.profile, power), "power", f"{self.name} already holds {power}",
                "LIFECYCLE")
        require(power is not Power.VERIFY_MAJOR or self.level.rank >= Level.COUNTY.rank,
                "power", "only bodies at county level or above verify major hazards", "AUTH-GRANT")
        self._record(self.OrgPowerGranted, ctx, power=power)

    @when.register
    def _(self, event: OrgUnit.OrgPowerGranted) -> None:
        self._set_power(event.power, True)

    class OrgPowerRevoked(Event):
        power: Power

    def revoke_power(self, ctx: Context, power: Power) -> None:
        self._require_granter(ctx)
        require(holds(self.profile, power), "power", f"{self.name} does not hold {power}",
                "LIFECYCLE")
        self._record(self.OrgPowerRevoked, ctx, power=power)

    @when.register
    def _(self, event: OrgUnit.OrgPowerRevoked) -> None:
        self._set_power(event.power, False)

    class OrgSectorsSet(Event):
        sectors: tuple[str, ...]

    def set_sectors(self, ctx: Context, sectors: tuple[str, ...]) -> None:
        """Set (or narrow) the sector scope, within the granter's own scope; an empty scope
        means every sector and is set only by a granter without a limit."""
        self._require_granter(ctx)
        for sector in sectors:
            require_sector("sectors", sector)
        if ctx.org.sectors:
            require(bool(sectors) and set(sectors) <= ctx.org.sectors, "sectors",
                    f"must lie within the granting org's sectors {sorted(ctx.org.sectors)}",
                    "AUTH-GRANT")
        require(tuple(sectors) != self.sectors, "sectors", "is the current scope", "LIFECYCLE")
        self._record(self.OrgSectorsSet, ctx, sectors=tuple(sectors))

    @when.register
    def _(self, event: OrgUnit.OrgSectorsSet) -> None:
        self.sectors = event.sectors

    def _set_power(self, power: Power, held: bool) -> None:
        if power is Power.ENFORCEMENT:
            self.enforcement_power = held
        else:
            self.can_verify_major = held

    def _require_granter(self, ctx: Context) -> None:
        """Powers and scopes come from a lead body above this one — never from itself."""
        require(ctx.org.org_id != self.id, "org_id", "no org grants itself powers or sectors",
                "AUTH-GRANT")
        require(is_above(ctx.org, self.profile), "org_id",
                f"org {ctx.org.org_id} ({ctx.org.org_type}, {ctx.org.level}) is not above "
                f"{self.name} ({self.org_type}, {self.level})", "AUTH-GRANT")
        ctx.require_jurisdiction("org_id", self.unit_code)
