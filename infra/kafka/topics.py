"""Topic names and routing.

An event goes to its county's topic, `<prefix>.events.<code>`: the county-level unit over
its unit (a county, else a city, else a province), named by the code that unit was
registered with, which it keeps after a recode, so a county's stream never splits — the rule
`domain/unit_tree.py` writes down for every stage (the Parquet partitions use the same).
Events of no registered unit (system-wide records) go to `<prefix>.events.system`.

The unit tree is folded from the event log itself, in log order: a unit is always
registered before any event names it, so the route of an event never depends on later
events and a replay routes identically.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from infra.intake.directory import UNIT_EVENTS, Directory, catch_up_directory
from infra.settings import Settings

log = logging.getLogger("zhibao.kafka")

SYSTEM_TOPIC_SUFFIX = "system"


def events_topic(prefix: str, code: str) -> str:
    return f"{prefix}.events.{code}"


def dlq_topic(prefix: str) -> str:
    return f"{prefix}.dlq"


def create_topic(admin: KafkaAdminClient, name: str, settings: Settings) -> None:
    """Create a topic with the configured partitions and replication, unless it exists."""
    try:
        admin.create_topics([NewTopic(name, settings.kafka_partitions,
                                      settings.kafka_replication_factor)])
        log.info("created topic %s with %d partitions", name, settings.kafka_partitions)
    except TopicAlreadyExistsError:
        pass


class Router:
    """Unit code → topic, from the unit events folded so far."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.directory = Directory(UNIT_EVENTS)
        self._routes: dict[str, str] = {}

    def fold(self, notifications: Iterable[Notification], mapper: Mapper[UUID]) -> None:
        """Apply the unit events among `notifications` (others are ignored); the router then
        stands at the last of them, so a `catch_up` never folds one again."""
        for notification in notifications:
            if notification.topic in self.directory.topics:
                self.directory.apply(mapper.to_domain_event(notification))
                self._routes.clear()
            self.directory.position = max(self.directory.position, notification.id)

    def catch_up(self, recorder: ApplicationRecorder, mapper: Mapper[UUID], through: int
                 ) -> None:
        """Fold every unit event of the log up to `through`, as a relay starting midway
        through it must: its routes stand as if it had relayed them all."""
        catch_up_directory(self.directory, recorder, mapper, through)
        self._routes.clear()

    def topic(self, unit_code: str) -> str:
        route = self._routes.get(unit_code)
        if route is None:
            stream = self.directory.stream_code(unit_code) or SYSTEM_TOPIC_SUFFIX
            route = self._routes[unit_code] = events_topic(self.prefix, stream)
        return route
