"""Summaries read straight from the event store by streaming the notification log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.hazards import TERMINAL, Hazard
from infra.service import Zhibao
from infra.store import event_type

PAGE = 5000


def notifications(app: Zhibao, topics: Sequence[str] = ()) -> Iterator[Notification]:
    """Every notification in log order, read page by page (bounded memory)."""
    position = 0
    while True:
        page = app.recorder.select_notifications(start=position, limit=PAGE, topics=topics,
                                                 inclusive_of_start=False)
        if not page:
            return
        yield from page
        position = page[-1].id


def events_by_type(app: Zhibao) -> Counter[str]:
    return Counter(event_type(n.topic) for n in notifications(app))


HAZARD_TOPICS = tuple(get_topic(cls) for cls in vars(Hazard).values()
                      if isinstance(cls, type) and issubclass(cls, Hazard.Event | Hazard.Created))


def hazards_by_state(app: Zhibao) -> Counter[str]:
    """Fold every hazard with the domain's own event handlers; finished hazards are kept
    only as their final state, so memory follows the number of open hazards."""
    live: dict[UUID, Hazard] = {}
    finished: set[UUID] = set()
    final: Counter[str] = Counter()
    for notification in notifications(app, HAZARD_TOPICS):
        if notification.originator_id in finished:
            continue  # e.g. a relapse noted on a closed hazard: its state stays
        event = app.mapper.to_domain_event(notification)
        hazard = event.mutate(live.get(event.originator_id))  # type: ignore[attr-defined]
        if hazard.state in TERMINAL:
            live.pop(hazard.id, None)
            finished.add(hazard.id)
            final[hazard.state.value] += 1
        else:
            live[hazard.id] = hazard
    final.update(hazard.state.value for hazard in live.values())
    return final
