"""The directory: an in-memory read model of reference data (units, orgs, enterprises),
folded from their events, that the application service consults to judge jurisdiction,
resolve codes and check that enterprises exist and operate.

Changes made by a batch of commands are applied at once (lookups stay plain dict reads,
the hot path of intake) and logged, so a batch that is not stored is undone and leaves the
directory as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.utils import get_topic

from domain.authority import Role, permit
from domain.base import (
    SYSTEM_ORG_ID,
    DomainError,
    Level,
    OrgProfile,
    OrgType,
    Permit,
    business_date,
)
from domain.enterprises import Enterprise, EnterpriseFlags, EnterpriseRef, EnterpriseStatus
from domain.jurisdiction import covers
from domain.persons import Person
from domain.unit_tree import ancestry, stream_code
from domain.units import AdminUnit, OrgUnit, UnitRef
from infra.store.log import log_range

Entry = TypeVar("Entry")
_ABSENT = object()  # an undo record's "there was no entry"


@dataclass(frozen=True)
class UnitEntry:
    unit_id: UUID
    code: str  # the code it has now
    level: Level
    name: str
    parent_id: UUID | None
    valid_from: date
    registered_code: str  # the code it was registered with: its stream's name
    valid_to: date | None = None


@dataclass(frozen=True)
class CodeEntry:
    """A code's life: which unit it named, and when it stopped naming it."""

    unit_id: UUID
    valid_to: date | None = None
    successors: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnterpriseEntry:
    enterprise_id: UUID
    name: str
    uscc: str
    sectors: tuple[str, ...]
    flags: EnterpriseFlags
    registered_on: date
    moves: tuple[tuple[date, UUID], ...]  # (from which day, at which unit), oldest first
    status: EnterpriseStatus = EnterpriseStatus.OPERATING
    closed_on: date | None = None

    @property
    def unit_id(self) -> UUID:
        """Where the enterprise is now."""
        return self.moves[-1][1]

    def unit_at(self, day: date) -> UUID:
        """Where the enterprise was on `day` (its first unit before it was registered)."""
        return next((unit for since, unit in reversed(self.moves) if since <= day),
                    self.moves[0][1])


@dataclass(frozen=True)
class OrgEntry:
    org_id: UUID
    unit_id: UUID
    name: str
    org_type: OrgType
    sectors: frozenset[str]
    enforcement_power: bool
    can_verify_major: bool


@dataclass(frozen=True)
class PersonEntry:
    person_id: UUID
    org_id: UUID
    name: str
    roles: tuple[Role, ...] = ()  # in enum order: the order a role is chosen in
    active: bool = True


@dataclass(frozen=True)
class Acting:
    """A person as commands are judged: who, for which org, and what their roles allow
    there (decisions remembered until the person, their org or the unit tree changes)."""

    person_id: str
    org_id: UUID
    org: OrgProfile
    permit: Permit


SYSTEM_PROFILE = OrgProfile(SYSTEM_ORG_ID, OrgType.SYSTEM, None, "", frozenset(), True, True)

UNIT_EVENTS: tuple[type, ...] = (
    AdminUnit.AdminUnitRegistered, AdminUnit.AdminUnitRecoded, AdminUnit.AdminUnitMerged,
    AdminUnit.AdminUnitRetired)
"""The unit tree's events: all a fold needs to place a unit code in its county, and all
zhibao's own submissions are judged on (`Zhibao.on_unit_tree`)."""
REFERENCE_EVENTS: tuple[type, ...] = (
    *UNIT_EVENTS, OrgUnit.OrgUnitRegistered, OrgUnit.OrgPowerGranted,
    OrgUnit.OrgPowerRevoked, OrgUnit.OrgSectorsSet, Person.PersonRegistered,
    Person.RoleGranted, Person.RoleRevoked, Person.PersonDeactivated,
    Enterprise.EnterpriseRegistered, Enterprise.EnterpriseRelocated,
    Enterprise.EnterpriseSectorsChanged, Enterprise.EnterpriseFlagsChanged,
    Enterprise.EnterpriseSuspended, Enterprise.EnterpriseResumed, Enterprise.EnterpriseClosed,
)
REFERENCE_PAGE = 1000


class DirectoryBehind(Exception):
    """A command changed a unit or enterprise this directory has not folded yet: another
    process registered it since the directory's last look."""

    def __init__(self, entry_id: UUID) -> None:
        super().__init__(f"{entry_id} is not in the directory yet")


class Directory:
    """The reference data of `scope`: the events it folds, and so the topics whose news
    makes a write judged on it stale (its horizon). What is not folded is not there: a
    narrower scope judges only the commands that need no more (`Zhibao.on_unit_tree`)."""

    def __init__(self, scope: tuple[type, ...] = REFERENCE_EVENTS) -> None:
        self.scope = frozenset(scope)
        self.topics = tuple(get_topic(cls) for cls in scope)
        self.units: dict[UUID, UnitEntry] = {}
        self.codes: dict[str, CodeEntry] = {}
        self.orgs: dict[UUID, OrgEntry] = {}
        self.persons: dict[UUID, PersonEntry] = {}
        self.enterprises: dict[UUID, EnterpriseEntry] = {}
        self.usccs: dict[str, UUID] = {}
        self.position = 0  # last notification id folded from the store
        # derived lookups, cleared whenever units or enterprises change
        self._paths: dict[str, tuple[str, ...]] = {}
        self._profiles: dict[UUID, OrgProfile] = {}
        self._acting: dict[UUID, Acting] = {}
        self._undo: list[tuple[dict[Any, Any], Any, Any]] | None = None  # None: not staging

    # -- staging ---------------------------------------------------------------------------

    def begin(self) -> None:
        """Start logging changes, so they can be undone."""
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo every change since `begin`, newest first."""
        for entries, key, old in reversed(self._undo or ()):
            if old is _ABSENT:
                del entries[key]
            else:
                entries[key] = old
        self._undo = None
        self._forget_derived()

    def _set(self, entries: dict[Any, Any], key: Any, value: Any) -> None:
        if self._undo is not None:
            self._undo.append((entries, key, entries.get(key, _ABSENT)))
        entries[key] = value

    def _forget_derived(self) -> None:
        self._paths.clear()
        self._profiles.clear()
        self._acting.clear()

    # -- folding ---------------------------------------------------------------------------

    @singledispatchmethod
    def apply(self, event: Any) -> None:
        """Events that are not reference data change nothing here."""

    @apply.register
    def _(self, event: AdminUnit.AdminUnitRegistered) -> None:
        self._forget_derived()
        self._set(self.units, event.originator_id, UnitEntry(
            event.originator_id, event.code, event.level, event.name, event.parent_id,
            event.valid_from, event.code))
        self._set(self.codes, event.code, CodeEntry(event.originator_id))

    @apply.register
    def _(self, event: AdminUnit.AdminUnitRecoded) -> None:
        self._forget_derived()
        unit = self._known(self.units, event.originator_id)
        self._set(self.units, unit.unit_id, replace(unit, code=event.new_code))
        self._set(self.codes, event.old_code,
                  CodeEntry(unit.unit_id, event.valid_from, (event.new_code,)))
        self._set(self.codes, event.new_code, CodeEntry(unit.unit_id))

    @apply.register
    def _(self, event: AdminUnit.AdminUnitMerged) -> None:
        self._retire(event.originator_id, event.valid_from, (event.successor_code,))

    @apply.register
    def _(self, event: AdminUnit.AdminUnitRetired) -> None:
        self._retire(event.originator_id, event.valid_from, event.successor_codes)

    def _retire(self, unit_id: UUID, valid_to: date, successors: tuple[str, ...]) -> None:
        self._forget_derived()
        unit = self._known(self.units, unit_id)
        self._set(self.units, unit_id, replace(unit, valid_to=valid_to))
        self._set(self.codes, unit.code, CodeEntry(unit_id, valid_to, successors))

    @apply.register
    def _(self, event: OrgUnit.OrgUnitRegistered) -> None:
        self._set(self.orgs, event.originator_id, OrgEntry(
            event.originator_id, self.codes[event.unit_code].unit_id, event.name,
            event.org_type, frozenset(event.sectors), event.enforcement_power,
            event.can_verify_major))

    @apply.register
    def _(self, event: OrgUnit.OrgPowerGranted) -> None:
        self._update_org(event, **{event.power.value: True})

    @apply.register
    def _(self, event: OrgUnit.OrgPowerRevoked) -> None:
        self._update_org(event, **{event.power.value: False})

    @apply.register
    def _(self, event: OrgUnit.OrgSectorsSet) -> None:
        self._update_org(event, sectors=frozenset(event.sectors))

    def _update_org(self, event: Any, **changes: Any) -> None:
        self._profiles.pop(event.originator_id, None)
        self._acting.clear()
        entry = self._known(self.orgs, event.originator_id)
        self._set(self.orgs, entry.org_id, replace(entry, **changes))

    @apply.register
    def _(self, event: Person.PersonRegistered) -> None:
        self._set(self.persons, event.originator_id,
                  PersonEntry(event.originator_id, event.org_id, event.name))

    @apply.register
    def _(self, event: Person.RoleGranted) -> None:
        self._acting.pop(event.originator_id, None)
        entry = self._known(self.persons, event.originator_id)
        roles = tuple(role for role in Role if role in entry.roles or role == event.role)
        self._set(self.persons, entry.person_id, replace(entry, roles=roles))

    @apply.register
    def _(self, event: Person.RoleRevoked) -> None:
        self._acting.pop(event.originator_id, None)
        entry = self._known(self.persons, event.originator_id)
        roles = tuple(role for role in entry.roles if role != event.role)
        self._set(self.persons, entry.person_id, replace(entry, roles=roles))

    @apply.register
    def _(self, event: Person.PersonDeactivated) -> None:
        self._acting.pop(event.originator_id, None)
        entry = self._known(self.persons, event.originator_id)
        self._set(self.persons, entry.person_id, replace(entry, roles=(), active=False))

    @apply.register
    def _(self, event: Enterprise.EnterpriseRegistered) -> None:
        self._set(self.enterprises, event.originator_id, EnterpriseEntry(
            event.originator_id, event.name, event.uscc, event.sectors, event.flags,
            event.registered_on, ((event.registered_on, self.codes[event.unit_code].unit_id),)))
        self._set(self.usccs, event.uscc, event.originator_id)

    @apply.register
    def _(self, event: Enterprise.EnterpriseRelocated) -> None:
        entry = self._known(self.enterprises, event.originator_id)
        move = (business_date(event.occurred_at), self.codes[event.to_unit_code].unit_id)
        self._update_enterprise(event, moves=(*entry.moves, move))

    @apply.register
    def _(self, event: Enterprise.EnterpriseSectorsChanged) -> None:
        self._update_enterprise(event, sectors=event.sectors)

    @apply.register
    def _(self, event: Enterprise.EnterpriseFlagsChanged) -> None:
        self._update_enterprise(event, flags=event.flags)

    @apply.register
    def _(self, event: Enterprise.EnterpriseSuspended) -> None:
        self._update_enterprise(event, status=EnterpriseStatus.SUSPENDED)

    @apply.register
    def _(self, event: Enterprise.EnterpriseResumed) -> None:
        self._update_enterprise(event, status=EnterpriseStatus.OPERATING)

    @apply.register
    def _(self, event: Enterprise.EnterpriseClosed) -> None:
        self._update_enterprise(event, status=EnterpriseStatus.CLOSED,
                                closed_on=business_date(event.occurred_at))

    def _update_enterprise(self, event: Any, **changes: Any) -> None:
        self._forget_derived()
        entry = self._known(self.enterprises, event.originator_id)
        self._set(self.enterprises, entry.enterprise_id, replace(entry, **changes))

    @staticmethod
    def _known(entries: dict[UUID, Entry], entry_id: UUID) -> Entry:
        entry = entries.get(entry_id)
        if entry is None:
            raise DirectoryBehind(entry_id)
        return entry

    # -- lookups ---------------------------------------------------------------------------

    def unit(self, field: str, code: str, on: date | None = None) -> UnitRef:
        """Resolve a unit code, rejecting unknown codes and codes retired by `on` (V8)."""
        entry = self.codes.get(code)
        if entry is None:
            raise DomainError(field, f"no unit has the code {code!r}", "V8")
        if entry.valid_to is not None and (on is None or on >= entry.valid_to):
            successors = f"; use {', '.join(entry.successors)}" if entry.successors else ""
            raise DomainError(field, f"unit code {code} was retired on {entry.valid_to}"
                                     f"{successors}", "V8")
        unit = self.units[entry.unit_id]
        if on is not None and on < unit.valid_from:
            raise DomainError(field, f"unit code {code} is valid only from {unit.valid_from}", "V8")
        return UnitRef(unit.unit_id, code, unit.level, unit.valid_from, entry.valid_to)

    def current_code(self, unit_id: UUID) -> str:
        return self.units[unit_id].code

    def path(self, code: str) -> tuple[str, ...]:
        """The unit's current code and those of its ancestors, self first."""
        path = self._paths.get(code)
        if path is None:
            path = self._paths[code] = self._walk_up(code)
        return path

    def _walk_up(self, code: str) -> tuple[str, ...]:
        entry = self.codes.get(code)
        if entry is None:
            return (code,)
        return tuple(unit.code for unit in ancestry(self.units, entry.unit_id))

    def stream_code(self, code: str) -> str | None:
        """The code naming the Kafka topic and Parquet partition of facts recorded under
        `code` now (`domain/unit_tree.py`); None for a code of no registered unit."""
        entry = self.codes.get(code)
        return None if entry is None else stream_code(self.units, entry.unit_id)

    def org(self, org_id: UUID, field: str = "org_id") -> OrgProfile:
        """A registered org's profile; an enterprise is the org its persons act for."""
        profile = self._profiles.get(org_id)
        if profile is None:
            profile = self._profiles[org_id] = self._profile(field, org_id)
        return profile

    def _profile(self, field: str, org_id: UUID) -> OrgProfile:
        entry = self.orgs.get(org_id)
        if entry is not None:
            unit = self.units[entry.unit_id]
            return OrgProfile(org_id, entry.org_type, unit.level, unit.code, entry.sectors,
                              entry.enforcement_power, entry.can_verify_major)
        enterprise = self.enterprises.get(org_id)
        if enterprise is not None:
            return OrgProfile(org_id, OrgType.ENTERPRISE, None,
                              self.current_code(enterprise.unit_id), frozenset(), False, False)
        raise DomainError(field, f"no org or enterprise has the id {org_id}", "REF")

    def person(self, person_id: UUID) -> PersonEntry:
        """A registered, active person (AUTH-PERSON)."""
        entry = self.persons.get(person_id)
        if entry is None:
            raise DomainError("actor", f"no registered person has the id {person_id}",
                              "AUTH-PERSON")
        if not entry.active:
            raise DomainError("actor", f"person {person_id} ({entry.name}) was deactivated",
                              "AUTH-PERSON")
        return entry

    def acting(self, person_id: UUID) -> Acting:
        """The registered, active person `person_id` as commands are judged (AUTH-PERSON)."""
        acting = self._acting.get(person_id)
        if acting is None:
            person = self.person(person_id)
            org = self.org(person.org_id)
            acting = self._acting[person_id] = Acting(
                str(person_id), person.org_id, org, permit(str(person_id), person.roles, org))
        return acting

    def enterprise(self, field: str, enterprise_id: UUID) -> EnterpriseEntry:
        entry = self.enterprises.get(enterprise_id)
        if entry is None:
            raise DomainError(field, f"no enterprise has the id {enterprise_id}", "V9")
        return entry

    def enterprise_on(self, field: str, enterprise_id: UUID, day: date) -> EnterpriseRef:
        """The enterprise as it was on `day`: where it was, its primary sector."""
        entry = self.enterprise(field, enterprise_id)
        return EnterpriseRef(entry.enterprise_id, entry.name,
                             self.current_code(entry.unit_at(day)), entry.sectors[0],
                             entry.registered_on, entry.closed_on)

    def covers(self, org: OrgProfile, code: str, sector: str | None,
               enterprise_id: UUID | None) -> bool:
        return covers(org, self.path(code), sector, enterprise_id)


def catch_up_directory(directory: Directory, recorder: ApplicationRecorder,
                       mapper: Mapper[UUID], through: int) -> int:
    """Fold the events of the directory's scope after its position up to `through` and say
    how many there were; the directory then stands at `through`, so each event is looked
    at once however rare reference events are."""
    folded = 0
    for page in log_range(recorder, directory.position, through, REFERENCE_PAGE,
                          directory.topics):
        for notification in page:
            directory.apply(mapper.to_domain_event(notification))
        folded += len(page)
    directory.position = max(directory.position, through)
    return folded
