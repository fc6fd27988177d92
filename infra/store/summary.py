"""Summaries read straight from the event store by streaming the notification log."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.utils import get_topic

from domain.hazards import TERMINAL, Hazard
from infra.store.log import notifications
from infra.store.records import event_type


def events_by_type(recorder: ApplicationRecorder) -> Counter[str]:
    return Counter(event_type(n.topic) for n in notifications(recorder))


HAZARD_TOPICS = tuple(get_topic(cls) for cls in vars(Hazard).values()
                      if isinstance(cls, type) and issubclass(cls, Hazard.Event | Hazard.Created))


def hazards_by_state(recorder: ApplicationRecorder, mapper: Mapper[UUID]) -> Counter[str]:
    """Fold every hazard with the domain's own event handlers; finished hazards are kept
    only as their final state, so memory follows the number of open hazards."""
    live: dict[UUID, Hazard] = {}
    finished: set[UUID] = set()
    final: Counter[str] = Counter()
    for notification in notifications(recorder, HAZARD_TOPICS):
        if notification.originator_id in finished:
            continue  # e.g. a relapse noted on a closed hazard: its state stays
        event = mapper.to_domain_event(notification)
        hazard = event.mutate(live.get(event.originator_id))  # type: ignore[attr-defined]
        if hazard.state in TERMINAL:
            live.pop(hazard.id, None)
            finished.add(hazard.id)
            final[hazard.state.value] += 1
        else:
            live[hazard.id] = hazard
    final.update(hazard.state.value for hazard in live.values())
    return final
