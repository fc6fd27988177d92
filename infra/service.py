"""The application service: the one place every entry point (CLI, bulk import, demo, later
HTTP) applies commands, so all of them validate identically.

A command runs in a unit of work: the actor's org is resolved in the directory, the target
aggregate loaded, the domain method called, and the new events stored in one transaction.
Commands are judged on the directory as this process holds it; the write carries the
directory's horizon and is refused if another process recorded reference data since, and
then the command is judged again on the refreshed directory (see infra/recorders.py).
Bulk import runs many commands per unit of work (the fast path); a rejected command
leaves no trace, and a batch whose transaction fails is replayed command by command, so no
batch is ever half-written and no good command is lost.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Transcoder

from domain.base import SHANGHAI, Actor, Context, DomainError, ZhibaoAggregate
from domain.commands import Command
from infra.directory import REFERENCE_TOPICS, REFERENCE_TYPES, Directory, DirectoryBehind
from infra.handlers import HANDLERS
from infra.recorders import Horizon, StaleRead, with_horizon_recorder
from infra.settings import Settings, get_settings
from infra.store import (
    ChainedEventStore,
    ChainedMapper,
    OrjsonTranscoder,
    eventsourcing_env,
    prepare_sqlite_store,
)

COMMAND_ID_NAMESPACE = UUID("0b7d2e7e-93a4-4b55-8a7e-2f4d0d1c9a11")
ATTEMPTS = 3
"""Attempts at one command; the last holds the store's write lock, so it cannot be stale."""
STALE = (StaleRead, DirectoryBehind)
"""The directory missed reference data another process recorded: refresh, judge again."""
A = TypeVar("A", bound=ZhibaoAggregate)
Numbered = tuple[int, Command | DomainError]
"""A command as it arrives in a batch, with its line number (or why it did not parse)."""


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


@dataclass
class Rejection:
    line: int
    command: str
    field: str
    rule: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.command}): {self.field}: {self.rule}"


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    events: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: BatchResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.events += other.events
        self.rejections.extend(other.rejections)
        self.warnings.extend(other.warnings)

    def count(self, line: int, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        self.warnings.extend(f"line {line}: {warning}" for warning in outcome.warnings)
        if outcome.duplicate:
            self.duplicates += 1
        else:
            self.applied += 1


def now_in_shanghai() -> datetime:
    return datetime.now(SHANGHAI)


@contextmanager
def heap_left_out_of_collections() -> Iterator[None]:
    """Leave the objects alive now out of the cyclic garbage collector's passes until the
    block (one batch) ends. A batch allocates hundreds of thousands of short-lived
    objects, and each full collection they triggered re-scanned every long-lived one —
    modules, the directory, 20,000 cached aggregates: a fifth of bulk-import time. What
    the batch allocates is still collected as usual, and between batches the whole heap
    is collectable again. A process that froze its own heap (e.g. before forking) keeps
    it frozen."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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


class Zhibao(Application[UUID]):
    """The event-sourced application: the store, the directory and command execution."""

    name = "zhibao"

    def __init__(self, settings: Settings | None = None,
                 clock: Callable[[], datetime] = now_in_shanghai) -> None:
        self.settings = settings or get_settings()
        env = eventsourcing_env(self.settings.database_url)
        if "SQLITE_DBNAME" in env:
            prepare_sqlite_store(env["SQLITE_DBNAME"])
        super().__init__(env=with_horizon_recorder(env))
        self.clock = clock
        self.clock_skew = timedelta(seconds=self.settings.clock_skew_seconds)
        self.directory = Directory()
        self.cache = AggregateCache(self.settings.aggregate_cache_size)
        self.refresh_directory()

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> ChainedMapper:
        return ChainedMapper(transcoder=self.construct_transcoder())

    def construct_event_store(self) -> ChainedEventStore:
        return ChainedEventStore(mapper=self.mapper, recorder=self.recorder)

    # -- the directory ---------------------------------------------------------------------

    def refresh_directory(self) -> int:
        """Fold reference events recorded since the last look (by any process) and say
        how many there were. The scan stops at the log's current end and resumes from
        there next time, so each event is looked at once however rare reference events
        are."""
        end = self.recorder.max_notification_id() or 0
        folded = 0
        while self.directory.position < end:
            notifications = self.recorder.select_notifications(
                start=self.directory.position, stop=end, limit=1000, topics=REFERENCE_TOPICS,
                inclusive_of_start=False)
            for notification in notifications:
                self.directory.apply(self.mapper.to_domain_event(notification))
            folded += len(notifications)
            self.directory.position = notifications[-1].id if len(notifications) == 1000 else end
        return folded

    def horizon(self) -> Horizon:
        return Horizon(self.directory.position, REFERENCE_TOPICS)

    # -- commands ----------------------------------------------------------------------------

    def execute(self, command: Command) -> Outcome:
        """Apply one command in its own transaction, always from freshly loaded aggregates.

        It is judged again on a refreshed directory when its write is refused as stale,
        and when it is rejected while the directory was behind: the enterprise it names
        may have been registered a moment ago by another process. The last attempt holds
        the store's write lock from the refresh to the commit, so it cannot be stale."""
        for _ in range(ATTEMPTS - 1):
            try:
                return self._attempt(command)
            except STALE:
                self.refresh_directory()
            except DomainError:
                if not self.refresh_directory():
                    raise
        with self.recorder.holding_write_lock():
            self.refresh_directory()
            return self._attempt(command)

    def _attempt(self, command: Command) -> Outcome:
        uow = UnitOfWork(self, cached=False)
        try:
            outcome = uow.run(command)
            uow.store()
        except BaseException:
            uow.abandon()
            raise
        return outcome

    def execute_batch(self, commands: Iterable[Numbered],
                      batch_size: int | None = None) -> Iterator[BatchResult]:
        """Apply numbered commands (or parse errors) in transactions of `batch_size`,
        yielding one result per batch. Commands are pulled one at a time as they run, so a
        caller's clock (e.g. a simulation's) may advance between them."""
        size = batch_size or self.settings.import_batch_size
        pending = iter(commands)
        while True:
            with heap_left_out_of_collections():
                result = self._run_batch(pending, size)
            if result is None:
                return
            yield result

    def _run_batch(self, pending: Iterator[Numbered], size: int,
                   judged_again: bool = False) -> BatchResult | None:
        """One transaction of up to `size` commands. The directory is refreshed first (one
        read per batch is cheap), so a write refused as stale is rare; such a batch is
        judged once more as a whole, then command by command."""
        self.refresh_directory()
        result = BatchResult()
        uow = UnitOfWork(self, cached=True)
        batch: list[Numbered] = []
        outcomes: list[tuple[int, Outcome | None]] = []
        try:
            for line, item in pending:
                batch.append((line, item))
                outcomes.append((line, self._run_line(uow, line, item, result)))
                if len(batch) >= size:
                    break
            if not batch:
                uow.abandon()
                return None
            uow.store()
        except STALE:
            uow.abandon()
            if judged_again:
                return self._replay_one_by_one(batch)
            return self._run_batch(iter(batch), len(batch), judged_again=True)
        except (ConflictError, DomainError):  # the store refused the batch: find the culprit
            uow.abandon()
            return self._replay_one_by_one(batch)
        except BaseException:
            uow.abandon()
            raise
        for line, outcome in outcomes:
            result.count(line, outcome)
        result.events = uow.stored_events
        return result

    def _replay_one_by_one(self, batch: list[Numbered]) -> BatchResult:
        """The batch's transaction failed: apply each command alone to find the culprit."""
        result = BatchResult()
        for line, item in batch:
            try:
                outcome = self.execute(_parsed(item))
            except ConflictError as e:
                result.rejections.append(Rejection(line, _name(item), "conflict", str(e)))
                continue
            except DomainError as e:
                result.rejections.append(Rejection(line, _name(item), e.field, e.rule))
                continue
            result.count(line, outcome)
            result.events += outcome.events
        return result

    @staticmethod
    def _run_line(uow: UnitOfWork, line: int, item: Command | DomainError,
                  result: BatchResult) -> Outcome | None:
        """Run one command; a rejection is noted in `result` and leaves no trace."""
        try:
            return uow.run(_parsed(item))
        except DomainError as e:
            result.rejections.append(Rejection(line, _name(item), e.field, e.rule))
            return None


def _parsed(item: Command | DomainError) -> Command:
    """The command of a batch line, or the reason it did not parse, raised."""
    if isinstance(item, DomainError):
        raise item
    return item


def _name(item: Command | DomainError) -> str:
    return getattr(item, "command", "?")


def _kind(cls: type) -> str:
    return cls.__name__


class UnitOfWork:
    """Aggregates loaded or created by the commands of one transaction.

    A handler validates everything before it changes anything, and changes at most one
    existing aggregate (its last step), so a rejected command leaves no pending events.
    """

    def __init__(self, app: Zhibao, cached: bool) -> None:
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
            aggregate_id = HANDLERS[type(command)](self, command, ctx)
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
