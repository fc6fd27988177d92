"""The application service: the one place every entry point (CLI, bulk import, demo, later
HTTP) applies commands, so all of them validate identically.

A command is executed as a registered person (`execute`): the person, their org and the
role that allows the command are found in the directory (the permission matrix of
`domain.authority`), the target aggregate loaded, the domain method called, and the new
events stored in one transaction — with the command log's entry when the command has a
`command_id`, so a replay answers its original outcome (V11). What only zhibao records
(submissions, 漏报, overdue, periods, checkpoints, the bootstrap) goes through `record`,
its internal path, as zhibao itself or on behalf of a person who asked for it.
Commands are judged on the directory as this process holds it; the write carries the
directory's horizon and is refused if another process recorded reference data since, and
then the command is judged again on the refreshed directory (see infra/store/recorders.py).
Bulk import runs many commands per unit of work (the fast path); a rejected command
leaves no trace, and a batch whose transaction fails is replayed command by command, so no
batch is ever half-written and no good command is lost.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Transcoder

from domain.base import SHANGHAI, DomainError, ZhibaoAggregate, citing
from domain.commands import Command
from infra.intake.directory import (
    REFERENCE_EVENTS,
    UNIT_EVENTS,
    Directory,
    DirectoryBehind,
    catch_up_directory,
)
from infra.intake.pipeline import ON_UNIT_TREE, PIPELINE, Pipeline
from infra.intake.unit_of_work import (
    ZHIBAO,
    AggregateCache,
    AlreadyLogged,
    ConflictError,
    Issuer,
    Outcome,
    UnitOfWork,
    replay,
)
from infra.settings import Settings, get_settings
from infra.store.databases import APPLICATION_NAME, eventsourcing_env, prepare_sqlite_store
from infra.store.log import last_position
from infra.store.mapper import ChainedEventStore, ChainedMapper, OrjsonTranscoder
from infra.store.recorders import (
    Horizon,
    HorizonPostgresRecorder,
    StaleRead,
    with_horizon_recorder,
)
from infra.store.records import DamagedRecord

ATTEMPTS = 3
"""Attempts at one command; the last holds the store's write lock, so it cannot be stale."""
BULK_EVENTS = 100_000
"""Events one `execute_batch` run records (an import, the demo) after which the store's
statistics are refreshed (PostgreSQL; SQLite's planner needs none to use the keys)."""
STALE = (StaleRead, DirectoryBehind)
"""The directory missed reference data another process recorded: refresh, judge again."""
A = TypeVar("A", bound=ZhibaoAggregate)
Numbered = tuple[int, Issuer, Command | DomainError]
"""A command as it arrives in a batch: its line number, who issues it, the command (or
why it did not parse)."""


@dataclass
class Rejection:
    line: int
    command: str
    field: str
    rule: str
    code: str | None  # the rule's code in domain.rules.RULES
    error: Exception | None = field(default=None, repr=False, compare=False)
    """What zhibao did not foresee, when that is why the line failed (its details are for
    a log, not for the user)."""

    def __str__(self) -> str:
        return f"line {self.line} ({self.command}): {self.field}: {citing(self.rule, self.code)}"


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    events: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outcomes: dict[int, Outcome] = field(default_factory=dict, repr=False)
    """Each applied or duplicate line's outcome, for a caller answering line by line (the
    HTTP group commit); totals do not merge them, so a long import does not keep them."""

    def merge(self, other: BatchResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.events += other.events
        self.rejections.extend(other.rejections)
        self.warnings.extend(other.warnings)

    def count(self, line: int, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        self.outcomes[line] = outcome
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


class Zhibao(Application[UUID]):
    """The event-sourced application: the store, the directory and command execution."""

    name = APPLICATION_NAME
    pipeline = PIPELINE

    def __init__(self, settings: Settings | None = None,
                 clock: Callable[[], datetime] = now_in_shanghai,
                 scope: tuple[type, ...] = REFERENCE_EVENTS) -> None:
        self.settings = settings or get_settings()
        env = eventsourcing_env(self.settings.database_url)
        if "SQLITE_DBNAME" in env:
            prepare_sqlite_store(env["SQLITE_DBNAME"])
        super().__init__(env=with_horizon_recorder(env))
        self.clock = clock
        self.clock_skew = timedelta(seconds=self.settings.clock_skew_seconds)
        self.cache = AggregateCache(self.settings.aggregate_cache_size)
        self.scope = scope  # the reference events its directory folds
        self._directory: Directory | None = None
        self._damage: DamagedRecord | None = None
        self._folding = threading.Lock()  # a served app's threads may ask for it at once
        self._on_unit_tree: Zhibao | None = None

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> ChainedMapper:
        return ChainedMapper(transcoder=self.construct_transcoder(),
                             max_event_bytes=self.settings.max_event_bytes)

    def construct_event_store(self) -> ChainedEventStore:
        return ChainedEventStore(mapper=self.mapper, recorder=self.recorder)

    # -- the directory ---------------------------------------------------------------------

    @property
    def directory(self) -> Directory:
        """Folded on first use, not when the application opens: the stages that only read
        the log — the projector, verify, the relay, the export — never judge a command,
        and at a province's 200,000 enterprises and persons it would be most of their
        memory (a server asks for it as it opens, so that its first request does not wait
        for it). Once folded, no lock is taken."""
        directory = self._directory
        if directory is None:
            with self._folding:
                directory = self._directory or self._folded()
        return directory

    def _folded(self) -> Directory:
        directory = Directory(self.scope)
        try:
            self._fold_into(directory)
        except DamagedRecord as e:  # it still opens, for the audit to say where
            self._damage = e
        self._directory = directory
        return directory

    @property
    def damage(self) -> DamagedRecord | None:
        """The damaged reference record the directory stopped at, if any."""
        self.directory  # noqa: B018 (folded first, if it is not yet)
        return self._damage

    def refresh_directory(self) -> int:
        """Fold reference events recorded since the last look (by any process) and say
        how many there were. The scan stops at the log's current end and resumes from
        there next time, so each event is looked at once however rare reference events
        are."""
        return self._fold_into(self.directory)

    def _fold_into(self, directory: Directory) -> int:
        end = last_position(self.recorder)
        return catch_up_directory(directory, self.recorder, self.mapper, end)

    def _require_undamaged(self) -> None:
        """A store with a damaged reference record records nothing: who may act could
        not be known."""
        if self.damage is not None:
            raise self.damage

    def on_unit_tree(self) -> Zhibao:
        """This store's service for what zhibao records as itself in a cascade (periods,
        submissions, 漏报, checkpoints) and in the daily overdue sweep: its directory folds
        the unit tree alone,
        all those commands are judged on (zhibao's org is the system's, which no event
        registers), so a process that records only them never holds a province's persons
        and enterprises. It carries out only those commands (`ON_UNIT_TREE`). Opened on
        first use, on this one's clock (even when it is set anew), and closed with this
        one."""
        if self._on_unit_tree is None:
            own = Zhibao(self.settings, lambda: self.clock(), UNIT_EVENTS)
            own.pipeline = Pipeline({command: PIPELINE[command] for command in ON_UNIT_TREE})
            self._on_unit_tree = own
        return self._on_unit_tree

    def close(self) -> None:
        if self._on_unit_tree is not None:
            self._on_unit_tree.close()
        super().close()

    def horizon(self) -> Horizon:
        return Horizon(self.directory.position, self.directory.topics)

    # -- commands ----------------------------------------------------------------------------

    def execute(self, command: Command, issuer: Issuer) -> Outcome:
        """Apply one command from an entry point, issued by a registered person."""
        return self._execute(command, issuer, internal=False)

    def record(self, command: Command, issuer: Issuer = ZHIBAO) -> Outcome:
        """zhibao's internal path: record what only zhibao records (a submission with the
        hash it computed, 漏报, overdue, a period, a checkpoint), as zhibao itself or on
        behalf of the person who asked for it (who must be allowed to)."""
        return self._execute(command, issuer, internal=True)

    def record_all(self, commands: Sequence[Command], issuer: Issuer = ZHIBAO) -> int:
        """zhibao's internal path for many commands (a cascade's chunk of submissions, the
        overdue sweep): `record` in transactions of `import_batch_size` — one commit a
        chunk instead of one a command. The events recorded; DomainError for the first
        command refused, once the others were recorded (each judged alone, as a batch
        with a refused line is)."""
        recorded = 0
        numbered = ((n, issuer, command) for n, command in enumerate(commands, start=1))
        for result in self.execute_batch(numbered, internal=True, cached=False):
            if result.rejections:
                rejected = result.rejections[0]
                if rejected.error is not None:
                    raise rejected.error
                raise DomainError(rejected.field, rejected.rule, rejected.code)
            recorded += result.events
        return recorded

    def _execute(self, command: Command, issuer: Issuer, internal: bool) -> Outcome:
        """Apply one command in its own transaction, always from freshly loaded aggregates.

        It is judged again on a refreshed directory when its write is refused as stale,
        and when it is rejected while the directory was behind: the enterprise it names
        may have been registered a moment ago by another process. The last attempt holds
        the store's write lock from the refresh to the commit, so it cannot be stale."""
        self._require_undamaged()
        for _ in range(ATTEMPTS - 1):
            try:
                return self._attempt(command, issuer, internal)
            except STALE:
                self.refresh_directory()
            except DomainError:
                if not self.refresh_directory():
                    raise
        with self.recorder.holding_write_lock():
            self.refresh_directory()
            return self._attempt(command, issuer, internal)

    def _attempt(self, command: Command, issuer: Issuer, internal: bool) -> Outcome:
        uow = UnitOfWork(self, cached=False)
        try:
            outcome = uow.run(command, issuer, internal)
            uow.store()
        except AlreadyLogged as logged:  # a concurrent replay of this command won
            uow.abandon()
            return replay(command, issuer, logged.logged)
        except BaseException:
            uow.abandon()
            raise
        return outcome

    def execute_batch(self, commands: Iterable[Numbered], batch_size: int | None = None,
                      internal: bool = False, cached: bool = True) -> Iterator[BatchResult]:
        """Apply numbered commands (or parse errors) in transactions of `batch_size`,
        yielding one result per batch. Commands are pulled one at a time as they run, so a
        caller's clock (e.g. a simulation's) may advance between them. `internal` batches
        (zhibao's own: the overdue sweep, the demo's simulated year) may hold commands only
        zhibao records. `cached=False` judges each batch on aggregates loaded afresh, as
        `execute` judges one command, for a caller whose store other processes write
        meanwhile (a batch judged on a stale cached aggregate may refuse what a fresh one
        allows)."""
        size = batch_size or self.settings.import_batch_size
        pending = iter(commands)
        recorded = 0
        while True:
            with heap_left_out_of_collections():
                result = self._run_batch(pending, size, internal, cached)
            if result is None:
                break
            recorded += result.events
            yield result
        if recorded >= BULK_EVENTS and isinstance(self.recorder, HorizonPostgresRecorder):
            self.recorder.analyze()

    def _run_batch(self, pending: Iterator[Numbered], size: int, internal: bool,
                   cached: bool, judged_again: bool = False) -> BatchResult | None:
        """One transaction of up to `size` commands. The directory is refreshed first (one
        read per batch is cheap), so a write refused as stale is rare; such a batch is
        judged once more as a whole, then command by command."""
        self._require_undamaged()
        self.refresh_directory()
        result = BatchResult()
        uow = UnitOfWork(self, cached=cached)
        batch: list[Numbered] = []
        outcomes: list[tuple[int, Outcome | None]] = []
        try:
            for numbered in pending:
                batch.append(numbered)
                outcomes.append((numbered[0], self._run_line(uow, numbered, internal, result)))
                if len(batch) >= size:
                    break
            if not batch:
                uow.abandon()
                return None
            uow.store()
        except STALE:
            uow.abandon()
            if judged_again:
                return self._replay_one_by_one(batch, internal)
            return self._run_batch(iter(batch), len(batch), internal, cached,
                                   judged_again=True)
        except (ConflictError, DomainError, _Unsound):  # find the culprit, line by line
            uow.abandon()
            return self._replay_one_by_one(batch, internal)
        except BaseException:
            uow.abandon()
            raise
        for line, outcome in outcomes:
            result.count(line, outcome)
        result.events = uow.stored_events
        return result

    def _replay_one_by_one(self, batch: list[Numbered], internal: bool) -> BatchResult:
        """The batch's transaction failed: apply each command alone to find the culprit."""
        result = BatchResult()
        for line, issuer, item in batch:
            try:
                outcome = self._execute(_parsed(item), issuer, internal)
            except ConflictError as e:
                result.rejections.append(Rejection(line, _name(item), "conflict", str(e), "V26"))
                continue
            except DomainError as e:
                result.rejections.append(Rejection(line, _name(item), e.field, e.rule, e.code))
                continue
            except Exception as e:  # a fault of zhibao's: this line's, not the batch's
                result.rejections.append(Rejection(
                    line, _name(item), "command", f"zhibao could not apply it "
                    f"({type(e).__name__}: {e})", None, error=e))
                continue
            result.count(line, outcome)
            result.events += outcome.events
        return result

    @staticmethod
    def _run_line(uow: UnitOfWork, numbered: Numbered, internal: bool,
                  result: BatchResult) -> Outcome | None:
        """Run one command; a rejection is noted in `result` and leaves no trace. A line
        that did not parse never ran, so the batch goes on (the events pending in the unit
        of work are its earlier lines')."""
        line, issuer, item = numbered
        if isinstance(item, DomainError):
            result.rejections.append(Rejection(line, _name(item), item.field, item.rule, item.code))
            return None
        try:
            return uow.run(item, issuer, internal)
        except DomainError as e:
            if uow.left_events_behind():
                raise _Unsound from e
            result.rejections.append(Rejection(line, _name(item), e.field, e.rule, e.code))
            return None
        except Exception as e:
            raise _Unsound from e


class _Unsound(Exception):
    """A line of a batch failed in a way that may have left a trace in the batch's unit of
    work (events pending, or an error zhibao did not foresee): the batch is replayed line
    by line, each in a transaction of its own."""


def _parsed(item: Command | DomainError) -> Command:
    """The command of a batch line, or the reason it did not parse, raised."""
    if isinstance(item, DomainError):
        raise item
    return item


def _name(item: Command | DomainError) -> str:
    return getattr(item, "command", "?")
