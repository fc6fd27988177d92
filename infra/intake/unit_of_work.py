"""A unit of work: the aggregates loaded or created by the commands of one transaction, and
the one place their new events are written to the store."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import ApplicationRecorder, IntegrityError

from domain.base import Actor, Context, DomainError, ZhibaoAggregate
from domain.commands import Command
from infra.intake.directory import REFERENCE_TYPES, Directory
from infra.store.mapper import ChainedEventStore
from infra.store.recorders import Horizon

COMMAND_ID_NAMESPACE = UUID("0b7d2e7e-93a4-4b55-8a7e-2f4d0d1c9a11")
A = TypeVar("A", bound=ZhibaoAggregate)


class ConflictError(Exception):
    """Another command changed the same aggregate first; reload and retry."""

    def __init__(self, aggregate_ids: Iterable[UUID]) -> None:
        ids = ", ".join(str(i) for i in aggregate_ids)
        super().__init__(f"conflict: {ids} was changed concurrently (or already exists); "
                         "nothing was written — reload and retry")


@dataclass(frozen=True)
class Outcome:
    command: str
    aggregate_id: UUID | None
    events: int
    duplicate: bool = False
    warnings: tuple[str, ...] = ()


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


Handler = Callable[["UnitOfWork", Any, Context], UUID]
"""Resolves what a command refers to, calls the domain method that decides, and returns the
id of the aggregate it acted on."""


class Intake(Protocol):
    """What a unit of work needs of the application that runs it."""

    handlers: Mapping[type[Command], Handler]
    directory: Directory
    cache: AggregateCache
    repository: Repository[UUID]
    events: ChainedEventStore
    recorder: ApplicationRecorder
    clock: Callable[[], datetime]
    clock_skew: timedelta

    def horizon(self) -> Horizon: ...


def _kind(cls: type) -> str:
    return cls.__name__


class UnitOfWork:
    """Aggregates loaded or created by the commands of one transaction.

    A handler validates everything before it changes anything, and changes at most one
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
        self._claimed: dict[UUID, str] = {}  # ids chosen for new aggregates → their field
        self.directory.begin()

    def run(self, command: Command) -> Outcome:
        self._marks: dict[UUID, int] = {}  # pending events of each aggregate this command met
        ctx = self._context(command)
        if command.target is not None:
            target = self.find(getattr(command, command.target))
            if target is not None and target.has_applied(command.command_id):
                return Outcome(command.command, target.id, 0, duplicate=True)
        self.warnings = []
        try:
            aggregate_id = self.app.handlers[type(command)](self, command, ctx)
        except _Duplicate as duplicate:
            return Outcome(command.command, duplicate.aggregate_id, 0, duplicate=True)
        events = 0
        for agg_id, mark in self._marks.items():
            new = self.aggregates[agg_id].pending_events[mark:]
            events += len(new)
            for event in new:
                if type(event) in REFERENCE_TYPES:
                    self.directory.apply(event)
        return Outcome(command.command, aggregate_id, events, warnings=tuple(self.warnings))

    def _context(self, command: Command) -> Context:
        recorded_at = self.app.clock()
        if command.occurred_at is not None and command.occurred_at > recorded_at + \
                self.app.clock_skew:
            raise DomainError("occurred_at", f"{command.occurred_at.isoformat()} is in the future")
        org = self.directory.org(command.actor.org_id)
        actor = Actor(command.actor.person_id, command.actor.org_id, command.actor.role)
        directory = self.directory
        return Context(
            actor=actor, org=org, recorded_at=recorded_at,
            covers=lambda code, sector, enterprise_id: directory.covers(org, code, sector,
                                                                        enterprise_id),
            command_id=command.command_id, occurred_at=command.occurred_at,
            clock_skew=self.app.clock_skew,
        )

    def new_id(self, command: Command, explicit: UUID | None, field_name: str) -> UUID:
        """The id of an aggregate a command creates. A command_id makes it deterministic,
        so a replayed creation is recognised (V11)."""
        if explicit is None and command.command_id is not None:
            explicit = uuid5(COMMAND_ID_NAMESPACE, command.command_id)
        if explicit is None:
            return uuid4()
        existing = self.find(explicit) if command.command_id is not None else self._held(explicit)
        if existing is not None:
            if existing.has_applied(command.command_id):
                raise _Duplicate(existing.id)
            raise DomainError(field_name, f"{explicit} already exists")
        self._claimed[explicit] = field_name
        return explicit

    def _held(self, aggregate_id: UUID) -> ZhibaoAggregate | None:
        """An aggregate this unit of work or the cache already holds. A stored one it does
        not hold is caught by the store's unique key when written (see `store`), which
        saves a read on every creation."""
        agg = self.aggregates.get(aggregate_id)
        if agg is None and self.cached:
            agg = self.app.cache.get(aggregate_id)
        return agg

    def find(self, aggregate_id: UUID) -> ZhibaoAggregate | None:
        agg = self.aggregates.get(aggregate_id)
        if agg is None and self.cached:
            agg = self.app.cache.get(aggregate_id)
        if agg is None:
            try:
                agg = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        self.aggregates[aggregate_id] = agg
        self._marks.setdefault(aggregate_id, len(agg.pending_events))
        return agg

    def get(self, cls: type[A], aggregate_id: UUID, field_name: str) -> A:
        agg = self.find(aggregate_id)
        if agg is None:
            raise DomainError(field_name, f"no {_kind(cls)} has the id {aggregate_id}")
        if not isinstance(agg, cls):
            raise DomainError(field_name, f"{aggregate_id} is a {_kind(type(agg))}, "
                                          f"not a {_kind(cls)}")
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
        try:
            recordings = self.app.events.put(events, horizon=self.app.horizon())
        except IntegrityError:
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

    def _reject_existing_claims(self) -> None:
        """The write hit a unique key: if an id a command chose for a new aggregate is
        taken, that is the command's error, named by its field."""
        for aggregate_id, field_name in self._claimed.items():
            if self.app.recorder.select_events(aggregate_id, limit=1):
                raise DomainError(field_name, f"{aggregate_id} already exists")

    def abandon(self) -> None:
        self.directory.rollback()
        self.app.cache.evict(self.aggregates)


class _Duplicate(Exception):
    def __init__(self, aggregate_id: UUID) -> None:
        self.aggregate_id = aggregate_id
