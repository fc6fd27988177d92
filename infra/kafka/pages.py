"""The relay's pages: a range of the log read and encoded (`infra.kafka.avro`), in the relay's
process or, for a long backlog, in a worker process (`infra.store.workers`) while the relay's
own process only sends. In its own process the relay's encoding also waits for the
interpreter lock the producer's sending thread holds: on the demo's last 100,000 events it
took 52 of the relay's 219 µs an event, 20 µs of them CPU. A worker imports this module,
the codec and the store's, not the application.
"""

from __future__ import annotations

import marshal
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from itertools import chain
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification

from infra.kafka.avro import Codec, Encoded, EncodeError
from infra.store.databases import worker_reader
from infra.store.log import log_range


@dataclass(frozen=True)
class EncodedPage:
    """A range of the log, encoded up to the first event that does not fit its schema."""

    through: int  # the range's last position
    events: list[Encoded]
    units: list[Notification]  # the unit events among them, which the router folds
    problem: str | None = None  # why the event after the last encoded could not be

    def shipped(self) -> bytes:
        """For the way back from a worker: plain tuples `marshal`led."""
        units = [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                 for n in self.units]
        return marshal.dumps((self.through, [tuple(e) for e in self.events], units,
                              self.problem))

    @classmethod
    def unshipped(cls, shipped: bytes) -> EncodedPage:
        through, events, units, problem = marshal.loads(shipped)
        return cls(through, [Encoded._make(e) for e in events],
                   [Notification(id=position, originator_id=UUID(aggregate),
                                 originator_version=version, topic=topic, state=state)
                    for position, aggregate, version, topic, state in units], problem)


def encode_range(recorder: ApplicationRecorder, codec: Codec, after: int, through: int,
                 unit_topics: Collection[str]) -> EncodedPage:
    """The events at positions (after, through], encoded in log order (read in one query:
    a page one larger than the range, so the read does not look past it for more)."""
    events: list[Encoded] = []
    units: list[Notification] = []
    for notification in chain.from_iterable(log_range(recorder, after, through,
                                                      through - after + 1)):
        try:
            events.append(codec.encode(notification))
        except EncodeError as e:
            return EncodedPage(through, events, units, str(e))
        if notification.topic in unit_topics:
            units.append(notification)
    return EncodedPage(through, events, units)


@cache
def _codec() -> Codec:
    return Codec()


def encode_in_worker(unit_topics: frozenset[str], after: int, through: int) -> bytes:
    return encode_range(worker_reader(), _codec(), after, through, unit_topics).shipped()
