"""The projector: keeps the views caught up with the store's notification log.

It reads the log in pages of positions (`rows_except`, without the event types the views
never use; the SQLite recorder has no subscriptions) and writes the rows of up to
`PAGES_PER_COMMIT` pages as one batch (a statement per table operation), in one transaction
that also advances the position, so after a crash — even `kill -9` in the middle of a
transaction — the views hold exactly the transactions before it and the next run resumes
there: every event is applied exactly once. Memory is bounded by the page size, whatever
the length of the log.

Reading and folding cost more than the writing, so a long backlog (a rebuild, a first
catch-up) is read and folded by worker processes, a page each, while this process writes
the pages in log order; a short one is folded here. Workers are spawned (a forked child
would share this process's database connections), so a script calling the projector needs
the usual `if __name__ == "__main__":` guard; if workers cannot start or die, the pages
left are folded here.

A load into empty views (a rebuild, a first catch-up) drops the views' secondary indexes and
builds them once at the end (see `ViewStore.without_indexes`). A load killed midway leaves
them dropped: the next `ViewStore` opened on the views creates them, and so does the end of
any long catch-up (one resuming that load in a process whose views were already open); a
short catch-up, such as a follower's poll, opens no write transaction for them.
"""

from __future__ import annotations

import logging
import marshal
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from itertools import chain, islice
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Notification
from eventsourcing.utils import get_topic

from domain.event_types import event_classes
from infra.store.databases import worker_reader
from infra.store.log import Range, page_ranges, rows_except
from infra.store.records import event_type
from infra.store.workers import in_workers
from projections.events import EventRecord, from_notification, from_row
from projections.fold import IGNORED, Applied, Batch, ViewWriter, fold_batch
from projections.store import STORE_FEED, ViewStore

Progress = Callable[[int, int], None]
"""Called after each page with (position reached, head of the log when the run started)."""
log = logging.getLogger("zhibao.projections")

PARALLEL_FROM = 50_000
"""Backlogs at least this long are folded by worker processes (starting them costs ~1 s)."""
PAGES_PER_COMMIT = 10
"""Pages written in one transaction. Rows keyed by random ids land all over each table, so
each commit writes out most of the table pages again: at one commit a page, committing was
half of a rebuild's writing on SQLite; a commit every 5 pages cut the writing by a third,
every 20 by almost half."""
Folded = tuple[int, list[list[tuple[Any, ...]]], Applied]  # position reached, rows, counts
Shipped = tuple[int, bytes, Applied]
"""A page folded by a worker process, its rows `marshal`led: of text, integers and None, they
are dumped in half the CPU pickle takes (the demo's pages: 0.06 s instead of 0.12 s for 127k
events, in the workers) and loaded a tenth faster here."""


@dataclass(frozen=True)
class CatchUp:
    position: int  # last notification folded
    applied: Applied
    pages_in_workers: int = 0  # pages folded by worker processes rather than here


class Projector:
    def __init__(self, recorder: ApplicationRecorder, store: ViewStore, page_size: int = 10_000,
                 database_url: str | None = None, workers: int = 0,
                 parallel_from: int = PARALLEL_FROM,
                 pages_per_commit: int = PAGES_PER_COMMIT) -> None:
        """`database_url` (the store's) lets worker processes read it; `workers` 0 means
        one per CPU."""
        self.recorder = recorder
        self.store = store
        self.page_size = page_size
        self.database_url = database_url
        self.workers = workers or os.cpu_count() or 1
        self.parallel_from = parallel_from
        self.pages_per_commit = pages_per_commit

    def catch_up(self, progress: Progress | None = None) -> CatchUp:
        """Fold everything recorded since the views' position."""
        head = self.recorder.max_notification_id() or 0
        start = self.store.position(STORE_FEED)
        long = head - start >= self.parallel_from
        with self.store.without_indexes() if long and start == 0 else nullcontext():
            done = self._fold(start, head, progress, long)
        if long:  # perhaps resuming a load from empty killed midway, its indexes dropped
            self.store.create_indexes()
            self.store.analyze()
        return done

    def _fold(self, start: int, head: int, progress: Progress | None, long: bool) -> CatchUp:
        position, applied, by_workers = start, Applied(), 0
        if self.database_url is not None and long:
            try:
                position, by_workers = self._write(self._in_workers(position, head), head,
                                                   applied, progress)
            except BrokenProcessPool as e:
                log.warning("worker processes failed (%s); folding the rest in this process",
                            e)
                position = self.store.position(STORE_FEED)  # the pages written stand
        position, _ = self._write(self._here(position, head), head, applied, progress)
        return CatchUp(position, applied, by_workers)

    def _write(self, pages: Iterator[Folded], head: int, applied: Applied,
               progress: Progress | None) -> tuple[int, int]:
        """Write folded pages in log order as they come, up to `pages_per_commit` in one
        transaction that also advances the position; returns the last position and the
        number of pages."""
        position, written = self.store.position(STORE_FEED), 0
        for first in pages:
            committed: list[tuple[int, Applied]] = []
            batch = Batch()
            for reached, rows, page_applied in chain(
                    [first], islice(pages, self.pages_per_commit - 1)):
                batch.extend(Batch.from_lists(rows))
                committed.append((reached, page_applied))
            position = committed[-1][0]
            with self.store.transaction() as tx:
                batch.write(tx)
                tx.track(STORE_FEED, position)
            for _, page_applied in committed:
                applied.merge(page_applied)
            written += len(committed)
            if progress is not None:
                progress(position, max(head, position))
        return position, written

    def rebuild(self, progress: Progress | None = None) -> CatchUp:
        """Forget the views and fold the whole log again from the first event."""
        self.store.reset()
        return self.catch_up(progress)

    def follow(self, stop: threading.Event, poll_seconds: float,
               progress: Progress | None = None,
               on_batch: Callable[[CatchUp], None] | None = None) -> None:
        """Catch up, then keep looking for new events every `poll_seconds` until `stop`."""
        while not stop.is_set():
            done = self.catch_up(progress)
            if on_batch is not None and done.applied.folded:
                on_batch(done)
            stop.wait(poll_seconds)

    def _ranges(self, position: int, head: int) -> Iterator[Range]:
        """Pages as ranges of positions (after, through], up to the head seen at the start:
        every position up to it is committed, so no later commit can land inside one."""
        return page_ranges(position, head, self.page_size)

    def _here(self, position: int, head: int) -> Iterator[Folded]:
        for after, through in self._ranges(position, head):
            yield fold_range(self.recorder, after, through)

    def _in_workers(self, position: int, head: int) -> Iterator[Folded]:
        """Pages folded by worker processes, yielded in log order; a commit's pages and one
        more for each worker are asked for ahead, so the workers keep folding while this
        process writes a commit."""
        assert self.database_url is not None
        for reached, rows, applied in in_workers(
                self.database_url, self._ranges(position, head), _fold_in_worker,
                self.workers, self.pages_per_commit + self.workers):
            yield reached, marshal.loads(rows), applied


def fold_range(recorder: ApplicationRecorder, after: int, through: int) -> Folded:
    """The events at positions (after, through] folded into rows; those of ignored types
    are not even read."""
    page = rows_except(recorder, after, through, ignored_topics())
    batch, applied = fold_batch(map(from_row, page))
    return through, batch.as_lists(), applied


@cache
def ignored_topics() -> tuple[str, ...]:
    """The stored topics of the `IGNORED` event types."""
    return tuple(sorted(get_topic(event_classes()[name]) for name in IGNORED))


def _fold_in_worker(after: int, through: int) -> Shipped:
    position, rows, applied = fold_range(worker_reader(), after, through)
    return position, marshal.dumps(rows), applied


def records(notifications: Iterable[Notification]) -> list[EventRecord]:
    """The records of a page; event types the views never use are not even decoded."""
    return [from_notification(n) for n in notifications if event_type(n.topic) not in IGNORED]


def project_records(store: ViewStore, events: Iterable[EventRecord],
                    batch_size: int = 5000) -> Applied:
    """Fold records from any source into `store` (no position kept), e.g. only the events
    recorded up to a past cut-off into a throwaway `ViewStore.in_memory()`."""
    writer, applied, batch = ViewWriter(store), Applied(), []
    for record in events:
        batch.append(record)
        if len(batch) >= batch_size:
            applied.merge(writer.apply(batch))
            batch = []
    if batch:
        applied.merge(writer.apply(batch))
    return applied
