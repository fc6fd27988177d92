"""Topic names and routing.

An event goes to the topic of the nearest unit at or above its own unit that is a county,
a city or a province: `<prefix>.events.<code>`. So a county's topic carries every event
of its villages, towns and the county itself; a city's topic carries the events of the city
level and of towns directly under the city (cities without counties); a province's topic
the province-level ones. A topic is named by the code the unit was registered with and
keeps that name when the unit is recoded, so a county's stream never splits. Events of no
registered unit (system-wide records) go to `<prefix>.events.system`.

The unit tree is folded from the event log itself, in log order: a unit is always
registered before any event names it, so the route of an event never depends on later
events and a replay routes identically.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from domain.base import Level
from domain.units import AdminUnit
from infra.intake.directory import Directory
from infra.settings import Settings

log = logging.getLogger("zhibao.kafka")

ROUTING_LEVELS = frozenset({Level.COUNTY, Level.CITY, Level.PROVINCE})
UNIT_EVENTS = (AdminUnit.AdminUnitRegistered, AdminUnit.AdminUnitRecoded,
               AdminUnit.AdminUnitMerged, AdminUnit.AdminUnitRetired)
UNIT_TOPICS = frozenset(get_topic(cls) for cls in UNIT_EVENTS)
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
        self.directory = Directory()
        self._registered_codes: dict[UUID, str] = {}
        self._routes: dict[str, str] = {}

    def fold(self, notifications: Iterable[Notification], mapper: Mapper[UUID]) -> None:
        """Apply the unit events among `notifications` (others are ignored)."""
        for notification in notifications:
            if notification.topic in UNIT_TOPICS:
                event = mapper.to_domain_event(notification)
                self.directory.apply(event)
                if isinstance(event, AdminUnit.AdminUnitRegistered):
                    self._registered_codes[event.originator_id] = event.code
                self._routes.clear()

    def topic(self, unit_code: str) -> str:
        route = self._routes.get(unit_code)
        if route is None:
            route = self._routes[unit_code] = events_topic(self.prefix, self._route(unit_code))
        return route

    def _route(self, unit_code: str) -> str:
        entry = self.directory.codes.get(unit_code)
        unit = None if entry is None else self.directory.units[entry.unit_id]
        while unit is not None:
            if unit.level in ROUTING_LEVELS:
                return self._registered_codes[unit.unit_id]
            unit = self.directory.units.get(unit.parent_id) if unit.parent_id else None
        return SYSTEM_TOPIC_SUFFIX
