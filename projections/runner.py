"""The projector: keeps the views caught up with the store's notification log.

It polls the log in pages (`select_notifications`; the SQLite recorder has no
subscriptions) and applies each page as one transaction that also advances the position,
so after a crash — even `kill -9` in the middle of a page — the views hold exactly the pages
before it and the next run resumes there: every event is applied exactly once. Memory is
bounded by the page size, whatever the length of the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from eventsourcing.persistence import ApplicationRecorder, Notification

from infra.store import event_type
from projections.events import EventRecord, from_notification
from projections.fold import IGNORED, Applied, Batch, ViewWriter, fold_batch
from projections.store import STORE_FEED, ViewStore

Progress = Callable[[int, int], None]
"""Called after each page with (position reached, head of the log when the run started)."""


@dataclass(frozen=True)
class CatchUp:
    position: int  # last notification folded
    applied: Applied


class Projector:
    def __init__(self, recorder: ApplicationRecorder, store: ViewStore,
                 page_size: int = 5000) -> None:
        self.recorder = recorder
        self.store = store
        self.writer = ViewWriter(store)
        self.page_size = page_size

    def catch_up(self, progress: Progress | None = None) -> CatchUp:
        """Fold everything recorded since the views' position, page by page. The next page
        is read and folded in a second thread while the current one is written: the
        databases do their work without holding Python's interpreter lock."""
        head = self.recorder.max_notification_id() or 0
        position = self.store.position(STORE_FEED)
        applied = Applied()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fold") as folder:
            next_page = folder.submit(self._fold_page, position)
            while (folded := next_page.result()) is not None:
                last, batch, page_applied = folded
                next_page = folder.submit(self._fold_page, last)
                self.writer.write(batch, track=lambda tx, last=last: tx.track(STORE_FEED, last))
                applied.merge(page_applied)
                position = last
                if progress is not None:
                    progress(position, max(head, position))
        return CatchUp(position, applied)

    def _fold_page(self, after: int) -> tuple[int, Batch, Applied] | None:
        """The page after position `after` folded into rows, or None at the end of the log."""
        page = self.recorder.select_notifications(
            start=after, limit=self.page_size, inclusive_of_start=False)
        if not page:
            return None
        return (page[-1].id, *fold_batch(records(page)))

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
