"""Building blocks every aggregate shares: the actor, the common event envelope, the
command context and the error that names a field and a rule.

No I/O here. Knowledge the domain needs from outside one aggregate (who the acting org is,
which units it covers) arrives in the `Context`, resolved by the application service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from hashlib import sha1
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Business time zone: periods, deadlines and dates are all read in Asia/Shanghai (V24)."""

EVENT_ID_NAMESPACE = UUID("6f1b3a52-2d7c-4e55-9a57-7a1f0b7f3e01")
SYSTEM_ORG_ID = UUID("00000000-0000-4000-8000-000000000001")
"""zhibao itself: the actor of what only zhibao records (the bootstrap, submissions it
assembled, 漏报, overdue, periods, checkpoints), with jurisdiction everywhere. No person
belongs to it, and no entry point can act as it."""


class DomainError(ValueError):
    """A command was rejected: `field` names the offending input, `rule` says why in words
    for a person, and `code` names the rule in `domain.rules.RULES` (e.g. "V7", "LIFECYCLE"):
    what code and tests match on, never the wording. Every rejection passes one
    (tests/unit/test_rule_codes.py reads the source for it); the default only keeps a
    caller that forgot from turning a refusal into a crash."""

    def __init__(self, field: str, rule: str, code: str | None = None) -> None:
        super().__init__(f"{field}: {citing(rule, code)}")
        self.field = field
        self.rule = rule
        self.code = code


def citing(rule: str, code: str | None) -> str:
    """The rule's words with its code cited at the end, unless the words cite it already."""
    return rule if code is None or f"({code})" in rule else f"{rule} ({code})"


class Level(StrEnum):
    """Government levels, lowest first (村 → 镇 → 县 → 市 → 省)."""

    VILLAGE = "village"
    TOWN = "town"
    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"

    @property
    def rank(self) -> int:
        return _LEVEL_RANKS[self]


_LEVEL_RANKS = {level: rank for rank, level in enumerate(Level)}


class OrgType(StrEnum):
    """Kinds of body that record, report or verify (DOMAIN §4.2)."""

    GOVERNMENT = "government"
    SAFETY_COMMITTEE = "safety_committee"  # 安委会
    COMMITTEE_OFFICE = "committee_office"  # 安委办 / 专班
    SECTOR_COMMITTEE = "sector_committee"  # 专委会
    DEPARTMENT = "department"  # 行业主管部门
    TOWN_OFFICE = "town_office"
    VILLAGE_COMMITTEE = "village_committee"
    ENTERPRISE = "enterprise"
    SYSTEM = "system"  # zhibao itself (SYSTEM_ORG_ID), never a registered org


@dataclass(frozen=True)
class Actor:
    """Who issued a command: a person, acting for an org, in a role."""

    person_id: str
    org_id: UUID
    role: str


@dataclass(frozen=True)
class OrgProfile:
    """What the domain needs to know about the acting org to judge its authority."""

    org_id: UUID
    org_type: OrgType
    level: Level | None  # None for an enterprise acting for itself
    unit_code: str
    sectors: frozenset[str]  # empty: not sector-limited
    enforcement_power: bool
    can_verify_major: bool

    def at_least(self, level: Level) -> bool:
        return self.level is not None and self.level.rank >= level.rank


Covers = Callable[[str, str | None, UUID | None], bool]
"""Jurisdiction predicate: (unit code, sector, enterprise id) → may the actor act there?"""
Permit = Callable[[str], str]
"""Authority: (action) → the role under which the actor may do it; refuses (AUTH-ROLE)
when none of the actor's roles may (the permission matrix of `domain.authority`)."""


@dataclass
class Context:
    """Everything about *who* and *when* a command comes with. `actor.role` is the role
    the action was allowed under; an aggregate that narrows the action to a variant
    (`authorise`) records the role that allows that variant."""

    actor: Actor
    org: OrgProfile
    recorded_at: datetime
    covers: Covers
    permit: Permit
    command_id: str | None = None
    occurred_at: datetime | None = None
    clock_skew: timedelta = timedelta(minutes=5)

    @property
    def at(self) -> datetime:
        """The command's business time; when the command gives none, the system time."""
        return self.occurred_at or self.recorded_at

    @property
    def today(self) -> date:
        """The business date of the command."""
        return self.at.astimezone(SHANGHAI).date()

    def authorise(self, action: str) -> None:
        """Refuse an action the actor's roles do not allow in their org (AUTH-ROLE); the
        events that follow record the role that allows it."""
        role = self.permit(action)
        if role != self.actor.role:
            self.actor = replace(self.actor, role=role)

    def require_jurisdiction(
        self, field: str, unit_code: str, sector: str | None = None,
        enterprise_id: UUID | None = None,
    ) -> None:
        """Reject acting outside the actor org's subtree or sector scope (V7)."""
        if not self.covers(unit_code, sector, enterprise_id):
            scope = f" (sectors {sorted(self.org.sectors)})" if self.org.sectors else ""
            raise DomainError(
                field,
                f"{unit_code} is outside the jurisdiction of org {self.org.org_id} "
                f"at {self.org.unit_code}{scope}; record a HazardTransferred to the "
                "responsible body instead", "V7",
            )

    def require_not_future(self, field: str, at: datetime) -> None:
        """Business time may not lie ahead of the system clock (V2)."""
        if at > self.recorded_at + self.clock_skew:
            raise DomainError(field, f"{at.isoformat()} is in the future", "V2")


def require(condition: bool, field: str, rule: str, code: str | None = None) -> None:
    if not condition:
        raise DomainError(field, rule, code)


def require_order(field: str, later: datetime | date, earlier: datetime | date, what: str) -> None:
    """Lifecycle dates are monotone (V3)."""
    if later < earlier:
        raise DomainError(field, f"{later.isoformat()} is before {what} {earlier.isoformat()}",
                          "V3")


def business_date(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def start_of_day(day: date) -> datetime:
    """Midnight in Asia/Shanghai: the business instant of a date-only fact."""
    return datetime.combine(day, time(), SHANGHAI)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """An instant as integer microseconds since the Unix epoch: how views, Avro and Parquet
    keep instants (exact integer arithmetic, before 1970 too)."""
    return (at - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    """The instant `micros` encoded, in Asia/Shanghai (the offset the store writes)."""
    return (EPOCH + value * MICROSECOND).astimezone(SHANGHAI)


def event_id(originator_id: UUID, originator_version: int) -> UUID:
    """Stable event id: the same stored event always has the same id, so consumers that
    receive a re-sent event de-duplicate it by id."""
    return UUID(event_id_text(str(originator_id), originator_version))


def event_id_text(aggregate_id: str, version: int) -> str:
    """`str(event_id(…))` from the id as text: the UUIDv5 (RFC 4122: SHA-1 of namespace and
    name, version and variant bits set) computed with hashlib directly, as `uuid.uuid5` and
    `UUID` objects cost most of the time of the relay and the export, which need one per
    event."""
    digest = bytearray(sha1(EVENT_ID_NAMESPACE.bytes + f"{aggregate_id}/{version}".encode())
                       .digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@cache
def when_dispatcher(cls: type) -> Any:
    """The dispatcher behind `cls.when`, found once per class. Reading `aggregate.when`
    builds a new bound wrapper on every event, a tenth of the intake's time."""
    owner = next(klass for klass in cls.__mro__ if "when" in vars(klass))
    method = vars(owner)["when"]
    method.__get__(None, cls)  # registers the handlers whose types were not yet defined
    return method.dispatcher


class ZhibaoAggregate(Aggregate):
    """Base of every zhibao aggregate: each event carries the common envelope.

    The envelope is `occurred_at` (business time), the library's `timestamp` used as
    `recorded_at` (system time), the `actor`, the `unit_code` the event concerns and the
    optional `command_id` that makes a replayed command idempotent (V11).
    """

    unit_code: str

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: Actor
        unit_code: str
        command_id: str | None

        @property
        def recorded_at(self) -> datetime:
            return self.timestamp

        @property
        def event_id(self) -> UUID:
            return event_id(self.originator_id, self.originator_version)

        def apply(self, aggregate: Any) -> None:
            if self.command_id:
                aggregate.__dict__.setdefault("applied_commands", set()).add(self.command_id)
            when_dispatcher(type(aggregate)).dispatch(type(self))(aggregate, self)

    class Created(Event, Aggregate.Created):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    @classmethod
    def _start(
        cls, event_class: type[Created], ctx: Context, aggregate_id: UUID,
        unit_code: str, occurred_at: datetime, **fields: Any,
    ) -> Any:
        return cls._create(
            event_class, id=aggregate_id, timestamp=ctx.recorded_at, occurred_at=occurred_at,
            actor=ctx.actor, unit_code=unit_code, command_id=ctx.command_id, **fields,
        )

    def _record(
        self, event_class: type[Event], ctx: Context, occurred_at: datetime | None = None,
        unit_code: str | None = None, **fields: Any,
    ) -> None:
        """Trigger an event with the envelope filled in. `unit_code` defaults to the
        aggregate's own unit; an event about another place (a visit) names that place."""
        self.trigger_event(
            event_class, timestamp=ctx.recorded_at,
            occurred_at=occurred_at if occurred_at is not None else ctx.at,
            actor=ctx.actor, unit_code=unit_code or self.unit_code, command_id=ctx.command_id,
            **fields,
        )

    def has_applied(self, command_id: str | None) -> bool:
        """True when this command was already applied here (a replay, V11)."""
        return command_id is not None and command_id in self.__dict__.get("applied_commands", ())
