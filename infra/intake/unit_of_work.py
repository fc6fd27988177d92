"""A unit of work: who issues each command and under which role, the aggregates loaded or
created by the commands of one transaction, and the one place their new events — and the
command log's entries — are written to the store."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4, uuid5

import orjson
from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError

from domain import authority
from domain.base import (
    SYSTEM_ORG_ID,
    Actor,
    Context,
    DomainError,
    OrgProfile,
    Permit,
    ZhibaoAggregate,
)
from domain.commands import INTERNAL_COMMANDS, Command
from domain.values import check_times
from infra.intake.directory import SYSTEM_PROFILE, Directory
from infra.store.mapper import ChainedEventStore
from infra.store.recorders import Horizon, LoggedCommand

COMMAND_ID_NAMESPACE = UUID("0b7d2e7e-93a4-4b55-8a7e-2f4d0d1c9a11")
ZHIBAO_ACTOR = Actor("zhibao", SYSTEM_ORG_ID, authority.ZHIBAO_ROLE)
"""The actor of what zhibao records itself (periods, 漏报, overdue, checkpoints)."""
INTERNAL = frozenset(INTERNAL_COMMANDS)
A = TypeVar("A", bound=ZhibaoAggregate)


@dataclass(frozen=True)
class Issuer:
    """Who issues a command: a registered person as an entry point identified them (and,
    when the entry point says so, the org it says they act for) — or, with no person,
    zhibao itself, which only its own flows can be."""

    person_id: UUID | None
    org_id: UUID | None = None


ZHIBAO = Issuer(None)


def authorise(directory: Directory, issuer: Issuer,
              action: str) -> tuple[Actor, OrgProfile, Permit]:
    """Who acts, for which org, and under which role they may do `action`: a registered,
    active person (AUTH-PERSON) of the org the entry point says (AUTH-ORG), holding a role
    the permission matrix allows (AUTH-ROLE) — or zhibao itself."""
    if issuer.person_id is None:
        return ZHIBAO_ACTOR, SYSTEM_PROFILE, authority.zhibao_permit
    acting = directory.acting(issuer.person_id)
    if issuer.org_id is not None and issuer.org_id != acting.org_id:
        raise DomainError("actor", f"person {acting.person_id} belongs to org "
                                   f"{acting.org_id}, not to {issuer.org_id}", "AUTH-ORG")
    return Actor(acting.person_id, acting.org_id, acting.permit(action)), acting.org, \
        acting.permit


class ConflictError(Exception):
    """Another command changed the same aggregate first; reload and retry."""

    def __init__(self, aggregate_ids: Iterable[UUID]) -> None:
        ids = ", ".join(str(i) for i in aggregate_ids)
        super().__init__(f"conflict: {ids} was changed concurrently (or already exists); "
                         "nothing was written — reload and retry")


class AlreadyLogged(ConflictError):
    """A command id of this write was logged meanwhile by another writer: that writer
    applied the command (or another with the same id) first."""

    def __init__(self, logged: LoggedCommand, aggregate_ids: Iterable[UUID]) -> None:
        super().__init__(aggregate_ids)
        self.logged = logged


@dataclass(frozen=True)
class Outcome:
    command: str
    aggregate_id: UUID | None
    events: int
    duplicate: bool = False
    warnings: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        return orjson.dumps({"command": self.command, "aggregate_id": self.aggregate_id,
                             "events": self.events, "warnings": self.warnings})

    @classmethod
    def replayed(cls, logged: bytes) -> Outcome:
        """The outcome a command had, as a replay of it answers it again."""
        fields = orjson.loads(logged)
        aggregate_id = fields["aggregate_id"]
        return cls(fields["command"], UUID(aggregate_id) if aggregate_id else None,
                   fields["events"], True, tuple(fields["warnings"]))


def command_digest(command: Command, issuer: Issuer) -> str:
    """What makes a replay the same command: its content and who issued it (V11)."""
    content = orjson.dumps(command.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(b"%s\n%s" % (str(issuer.person_id).encode(), content)).hexdigest()


def replay(command: Command, issuer: Issuer, logged: LoggedCommand) -> Outcome:
    """A command id met again: the same command answers its original outcome; another
    command under a used id is refused (V11)."""
    if logged.digest != command_digest(command, issuer):
        raise DomainError("command_id", f"command_id {command.command_id!r} was already used "
                                        "for another command", "V11")
    return Outcome.replayed(logged.outcome)


class AggregateCache:
    """Aggregates kept between batches of one process, least recently used dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[UUID, ZhibaoAggregate] = OrderedDict()

    def get(self, aggregate_id: UUID) -> ZhibaoAggregate | None:
        agg = self._items.get(aggregate_id)
        if agg is not None:
            self._items.move_to_end(aggregate_id)
        return agg

    def put(self, agg: ZhibaoAggregate) -> None:
        self._items[agg.id] = agg
        self._items.move_to_end(agg.id)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._items.pop(aggregate_id, None)


Step = Callable[["UnitOfWork", Any, Context], UUID]
"""Carries a command out: resolves what it refers to, calls the domain method that
decides, and returns the id of the aggregate it acted on (see infra/intake/pipeline.py)."""


class Intake(Protocol):
    """What a unit of work needs of the application that runs it."""

    pipeline: Mapping[type[Command], Step]
    directory: Directory
    cache: AggregateCache
    repository: Repository[UUID]
    events: ChainedEventStore
    recorder: Any
    clock: Callable[[], datetime]
    clock_skew: timedelta

    def horizon(self) -> Horizon: ...


def _kind(cls: type) -> str:
    return cls.__name__


class UnitOfWork:
    """Aggregates loaded or created by the commands of one transaction.

    A step validates everything before it changes anything, and changes at most one
    existing aggregate (its last step), so a rejected command leaves no pending events.
    """

    def __init__(self, app: Intake, cached: bool) -> None:
        self.app = app
        self.directory = app.directory
        self.cached = cached
        self.aggregates: dict[UUID, ZhibaoAggregate] = {}
        self.stored_events = 0
        self.warnings: list[str] = []
        self._marks: dict[UUID, int] = {}
        self._claimed: dict[UUID, DomainError] = {}  # ids chosen for new aggregates → the
        # error of a command that finds one taken
        self._logged: dict[str, LoggedCommand] = {}  # the commands of this write, by id
        self._command_id: str | None = None
        self.directory.begin()

    def run(self, command: Command, issuer: Issuer, internal: bool = False) -> Outcome:
        """Carry out one command as `issuer`. An entry point's command (`internal`
        False) is issued by a registered person and is never one only zhibao records."""
        self._marks = {}  # pending events of each aggregate this command met
        ctx = self._context(command, issuer, internal)
        command_id = self._command_id = command.command_id
        if command_id in self._logged:  # the same id twice in one write
            return replay(command, issuer, self._logged[command_id])  # type: ignore[index]
        self.warnings = []
        try:
            aggregate_id = self.app.pipeline[type(command)](self, command, ctx)
        except _Applied as applied:  # an aggregate it meets shows this command id applied
            logged = self._logged_before(command_id)
            return Outcome(command.command, applied.aggregate_id, 0, duplicate=True) \
                if logged is None else replay(command, issuer, logged)  # (None: logless, old)
        except DomainError:  # refused — unless another writer applied this very command
            logged = self._logged_before(command_id)
            if logged is None:
                raise
            return replay(command, issuer, logged)
        finally:
            self._command_id = None
        events = 0
        for agg_id, mark in self._marks.items():
            new = self.aggregates[agg_id].pending_events[mark:]
            events += len(new)
            for event in new:
                if type(event) in self.directory.scope:
                    self.directory.apply(event)
        outcome = Outcome(command.command, aggregate_id, events, warnings=tuple(self.warnings))
        if command_id is not None and events:
            self._logged[command_id] = LoggedCommand(
                command_id, command_digest(command, issuer), outcome.to_json())
        return outcome

    def left_events_behind(self) -> bool:
        """Whether the command that ran last left events pending although it failed (a
        step that changed one aggregate, then was refused on another)."""
        return any(len(self.aggregates[agg_id].pending_events) > mark
                   for agg_id, mark in self._marks.items() if agg_id in self.aggregates)

    def _logged_before(self, command_id: str | None) -> LoggedCommand | None:
        """The command log's entry for `command_id`, if an earlier write made one."""
        return None if command_id is None else self.app.recorder.select_command(command_id)

    def _context(self, command: Command, issuer: Issuer, internal: bool) -> Context:
        """Who acts, for which org, under which role — judged before anything is loaded."""
        recorded_at = self.app.clock()
        if issuer.person_id is None and not internal:
            raise DomainError("actor", "zhibao itself acts only through its own flows; an "
                                       "entry point names a registered person", "AUTH-PERSON")
        if issuer.person_id is not None and not internal and type(command) in INTERNAL:
            raise DomainError("command", f"{command.command} is recorded by zhibao itself, "
                                         "never accepted from outside", "SYSTEM-ONLY")
        actor, org, permit = authorise(self.directory, issuer, command.command)
        check_times(command, recorded_at, self.app.clock_skew)
        directory = self.directory
        return Context(
            actor=actor, org=org, recorded_at=recorded_at,
            covers=lambda code, sector, enterprise_id: directory.covers(org, code, sector,
                                                                        enterprise_id),
            permit=permit, command_id=command.command_id, occurred_at=command.occurred_at,
            clock_skew=self.app.clock_skew,
        )

    def new_id(self, command: Command, explicit: UUID | None, field_name: str) -> UUID:
        """The id of an aggregate a command creates. A command_id makes it deterministic,
        so a replayed creation is recognised (V11)."""
        if explicit is None and command.command_id is not None:
            explicit = uuid5(COMMAND_ID_NAMESPACE, command.command_id)
        if explicit is None:
            return uuid4()
        self.claim(explicit, DomainError(field_name, f"{explicit} already exists", "REF"))
        return explicit

    def claim(self, aggregate_id: UUID, taken: DomainError) -> None:
        """Take `aggregate_id` for an aggregate the running command creates, refused with
        `taken` if it exists. A command with an id reads it (a replay is recognised, V11);
        one without is refused at once if this unit of work or the cache holds it, else by
        the store's unique key when written (see `store`) — which saves a read on every
        creation (a round trip each of a cascade's thousands of submissions)."""
        found = (self.find(aggregate_id) if self._command_id is not None
                 else self._held(aggregate_id))
        if found is not None:
            raise taken
        self._claimed[aggregate_id] = taken

    def _held(self, aggregate_id: UUID) -> ZhibaoAggregate | None:
        """An aggregate this unit of work or the cache already holds. A stored one it does
        not hold is caught by the store's unique key when written (see `store`), which
        saves a read on every creation."""
        agg = self.aggregates.get(aggregate_id)
        if agg is None and self.cached:
            agg = self.app.cache.get(aggregate_id)
        return agg

    def find(self, aggregate_id: UUID) -> ZhibaoAggregate | None:
        """The aggregate, or None. Meeting one that shows the running command's id
        applied means the command is a replay (V11)."""
        agg = self._held(aggregate_id)
        if agg is None:
            try:
                agg = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        self.aggregates[aggregate_id] = agg
        self._marks.setdefault(aggregate_id, len(agg.pending_events))
        if agg.has_applied(self._command_id):
            raise _Applied(agg.id)
        return agg

    def get(self, cls: type[A], aggregate_id: UUID, field_name: str) -> A:
        agg = self.find(aggregate_id)
        if agg is None:
            raise DomainError(field_name, f"no {_kind(cls)} has the id {aggregate_id}", "REF")
        if not isinstance(agg, cls):
            raise DomainError(field_name, f"{aggregate_id} is a {_kind(type(agg))}, "
                                          f"not a {_kind(cls)}", "REF")
        return agg

    def add(self, agg: ZhibaoAggregate) -> UUID:
        self.aggregates[agg.id] = agg
        self._marks[agg.id] = 0
        return agg.id

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def store(self) -> None:
        changed = [agg for agg in self.aggregates.values() if agg.pending_events]
        events = [event for agg in changed for event in agg.collect_events()]
        commands = list(self._logged.values())
        try:
            recordings = self.app.events.put(events, horizon=self.app.horizon(),
                                             commands=commands)
        except IntegrityError:
            self._reject_logged_commands(commands, changed)
            self._reject_existing_claims()
            raise ConflictError(agg.id for agg in changed) from None
        self.stored_events = len(recordings)
        self.directory.commit()
        if recordings:  # the horizon held: nothing unseen lies before our own events
            self.directory.position = recordings[-1].notification.id
        if self.cached:
            for agg in self.aggregates.values():
                self.app.cache.put(agg)
        else:  # a later batch must not decide on the version cached before this change
            self.app.cache.evict(agg.id for agg in changed)

    def _reject_logged_commands(self, commands: list[LoggedCommand],
                                changed: list[ZhibaoAggregate]) -> None:
        """The write hit a unique key: if one of its command ids was logged meanwhile,
        another writer applied that command first."""
        for entry in commands:
            logged = self.app.recorder.select_command(entry.command_id)
            if logged is not None:
                raise AlreadyLogged(logged, (agg.id for agg in changed))

    def _reject_existing_claims(self) -> None:
        """The write hit a unique key: if an id a command chose for a new aggregate is
        taken, that is the command's error."""
        for aggregate_id, taken in self._claimed.items():
            if self.app.recorder.select_events(aggregate_id, limit=1):
                raise taken

    def abandon(self) -> None:
        self.directory.rollback()
        self.app.cache.evict(self.aggregates)


class _Applied(Exception):
    def __init__(self, aggregate_id: UUID) -> None:
        self.aggregate_id = aggregate_id
