"""Health and lag of every derived stage, for `zhibao status`, `/healthz` and `/metrics`.

A projection that silently stops is the worst failure a reporting system can have: the
figures look plausible and are wrong. So each stage that follows the store is measured the
same way — its position, the head it follows, the events between them and how long the
oldest of those has waited:

- `views`: the projector's position in the notification log (one process for every county);
- `relay`: the position the broker acknowledged (every county's topic; shown once it ran);
- for each of those two, while it is behind by at most `COUNTY_BREAKDOWN` events, a row per
  county with events waiting: how many, and how long the oldest has waited (an event counts
  for the county, city or province its unit is in, as the relay routes it; `system` for
  events of no unit);
- `consumer`: per county named in `ZHIBAO_STATUS_CONSUMERS`, its topics' offsets as stored in
  its own views database, against the partitions' high-water marks on the broker.

Besides: the age of the newest signed checkpoint, and per level the last cascade (the
period most recently submitted) with its submitted / 迟报 (late) / 漏报 (missing) counts. A
stage is *stalled* when an event has waited longer than `ZHIBAO_STATUS_STALL_SECONDS`, or
when it cannot be read at all (a broker or database that does not answer).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from domain.audit import AUDIT_TRAIL_ID
from domain.base import SHANGHAI, from_micros
from infra.audit.checkpoints import SIGNED_TOPIC
from infra.kafka.client import connection
from infra.kafka.consumer import tracking_name
from infra.kafka.positions import RelayPositions
from infra.kafka.topics import SYSTEM_TOPIC_SUFFIX, events_topic
from infra.reporting.reporter import CASCADE_LEVELS
from infra.settings import Settings, get_settings
from infra.store.databases import open_reader
from infra.store.log import log_range
from infra.store.records import event_payload
from projections.store import STORE_FEED, TABLES, ViewStore, views_url_for

ALL_COUNTIES = "*"
"""The scope of a stage that serves every county at once."""
COUNTY_BREAKDOWN = 100_000
"""Events behind up to which the views' and the relay's lag is broken down per county (each
waiting event is read once to find its unit)."""
ROUTING_LEVELS = ("county", "city", "province")


@dataclass(frozen=True)
class StageLag:
    stage: str  # views | relay | consumer
    scope: str  # a county code, or ALL_COUNTIES
    position: int
    head: int
    oldest_seconds: float | None = None  # how long the oldest unprocessed event has waited
    error: str = ""  # why the stage could not be read
    pending: int | None = None  # a county's share of what waits (else all: head - position)

    @property
    def behind(self) -> int:
        return self.pending if self.pending is not None else max(0, self.head - self.position)

    def stalled(self, threshold: float) -> bool:
        return bool(self.error) or (self.behind > 0 and (self.oldest_seconds or 0) > threshold)


@dataclass(frozen=True)
class CascadeRun:
    """A level's most recently submitted period."""

    level: str
    period: str
    submitted: int
    late: int  # 迟报
    missing: int  # 漏报
    at: datetime


@dataclass(frozen=True)
class Health:
    at: datetime
    head: int
    stall_seconds: float
    stages: list[StageLag] = field(default_factory=list)
    checkpoint_size: int | None = None
    checkpoint_seconds: float | None = None  # age of the newest signed checkpoint
    cascades: list[CascadeRun] = field(default_factory=list)

    @property
    def stalled(self) -> list[StageLag]:
        return [stage for stage in self.stages if stage.stalled(self.stall_seconds)]

    def as_json(self) -> dict[str, Any]:
        """What `/healthz` answers: the figures, and which stages are stalled."""
        return {
            "status": "stalled" if self.stalled else "ok",
            "at": self.at.isoformat(), "head": self.head, "stall_seconds": self.stall_seconds,
            "stages": [{**asdict(stage), "behind": stage.behind,
                        "stalled": stage.stalled(self.stall_seconds)} for stage in self.stages],
            "checkpoint": {"size": self.checkpoint_size, "age_seconds": self.checkpoint_seconds},
            "cascades": [{**asdict(run), "at": run.at.isoformat()} for run in self.cascades],
        }


def _recorded_at(state: bytes) -> datetime:
    return datetime.fromisoformat(event_payload(state)["timestamp"])


def _waited(recorder: ApplicationRecorder, position: int, head: int, now: datetime) -> float | None:
    """Seconds since the first event after `position` was recorded; None if there is none."""
    if position >= head:
        return None
    waiting = recorder.select_notifications(start=position, limit=1, inclusive_of_start=False)
    return (now - _recorded_at(waiting[0].state)).total_seconds() if waiting else None


class Probe:
    """Reads health from the store, the views, the broker and the county consumers' views;
    keeps its connections between reads (a Prometheus server scrapes every few seconds)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._recorder: ApplicationRecorder | None = None
        self._views: ViewStore | None = None
        self._lock = threading.Lock()

    @property
    def recorder(self) -> ApplicationRecorder:
        if self._recorder is None:
            self._recorder = open_reader(self.settings.database_url)
        return self._recorder

    @property
    def views(self) -> ViewStore:
        if self._views is None:
            self._views = ViewStore(self.settings.views_url
                                    or views_url_for(self.settings.database_url))
        return self._views

    def read(self, now: datetime | None = None) -> Health:
        with self._lock:
            now = now or datetime.now(SHANGHAI)
            head = self.recorder.max_notification_id() or 0
            stages = [self._views_lag(head, now), *self._relay_lag(head, now)]
            stages += self._by_county(stages, now)
            stages += self._consumer_lags(now)
            size, age = self._checkpoint(now)
            return Health(now, head, self.settings.status_stall_seconds, stages, size, age,
                          self._cascades())

    def close(self) -> None:
        if self._views is not None:
            self._views.close()
        if self._recorder is not None:
            self._recorder.datastore.close()  # type: ignore[attr-defined]

    def _views_lag(self, head: int, now: datetime) -> StageLag:
        position = self.views.position(STORE_FEED)
        return StageLag("views", ALL_COUNTIES, position, head,
                        _waited(self.recorder, position, head, now))

    def _relay_lag(self, head: int, now: datetime) -> list[StageLag]:
        """The relay's lag, once it has published anything (a deployment may run none)."""
        position = RelayPositions(self.recorder,  # type: ignore[arg-type]
                                  self.settings.kafka_topic_prefix).load()
        if not position:
            return []
        return [StageLag("relay", ALL_COUNTIES, position, head,
                         _waited(self.recorder, position, head, now))]

    def _by_county(self, stages: list[StageLag], now: datetime) -> list[StageLag]:
        """Per county, the events each lagging stage has yet to process: read once for the
        stage furthest behind, counted for every stage whose position they are past."""
        lagging = [s for s in stages if 0 < s.behind <= COUNTY_BREAKDOWN]
        if not lagging:
            return []
        waiting: list[tuple[int, str, datetime]] = []
        registered: dict[str, tuple[str, str]] = {}  # units the views may not know yet
        for page in log_range(self.recorder, min(s.position for s in lagging),
                              max(s.head for s in lagging)):
            for notification in page:
                payload = event_payload(notification.state)
                if notification.topic.endswith(".AdminUnitRegistered"):
                    registered[payload["code"]] = (payload["level"], payload["parent_code"])
                waiting.append((notification.id, payload["unit_code"],
                                datetime.fromisoformat(payload["timestamp"])))
        route = self._routes(registered)
        rows = []
        for stage in lagging:
            counties: dict[str, list[datetime]] = {}
            for position, code, recorded in waiting:
                if position > stage.position:
                    counties.setdefault(route(code), []).append(recorded)
            rows += [StageLag(stage.stage, county, stage.position, stage.head,
                              (now - min(times)).total_seconds(), pending=len(times))
                     for county, times in sorted(counties.items())]
        return rows

    def _routes(self, registered: dict[str, tuple[str, str]]) -> Callable[[str], str]:
        """Unit code → the code of the county, city or province it is in, as the relay
        routes it: from the views' unit tree (old codes included) and the units registered
        among the waiting events; `system` for no unit."""
        with self.views.snapshot() as tx:
            ids = dict(tx.rows("SELECT code, unit_id FROM view_unit_codes"))
            units = {unit_id: (code, level, parent) for unit_id, code, level, parent
                     in tx.rows("SELECT unit_id, code, level, parent_id FROM view_units")}
        tree = {code: (level, units[parent][0] if parent in units else "")
                for code, level, parent in units.values()}
        tree |= {old: tree[units[unit_id][0]] for old, unit_id in ids.items()
                 if unit_id in units and old not in tree}
        tree |= {code: entry for code, entry in registered.items() if code not in tree}

        @cache
        def route(code: str) -> str:
            if not code:
                return SYSTEM_TOPIC_SUFFIX
            while code in tree:
                level, parent = tree[code]
                if level in ROUTING_LEVELS:
                    return code
                code = parent
            return code or SYSTEM_TOPIC_SUFFIX

        return route

    def _consumer_lags(self, now: datetime) -> list[StageLag]:
        if not self.settings.status_consumers:
            return []
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        try:
            consumer = KafkaConsumer(**{**connection(self.settings),
                                        "bootstrap_timeout_ms": 5000},
                                     group_id=None, enable_auto_commit=False,
                                     allow_auto_create_topics=False,
                                     max_partition_fetch_bytes=65536)
        except KafkaError as e:
            return [StageLag("consumer", county, 0, 0, error=f"broker unreachable: {e}")
                    for county in self.settings.status_consumers]
        try:
            return [self._consumer_lag(consumer, county, url, now)
                    for county, url in sorted(self.settings.status_consumers.items())]
        finally:
            consumer.close()

    def _consumer_lag(self, consumer: Any, county: str, views_url: str,
                      now: datetime) -> StageLag:
        """Offsets the county's consumer stored against the partitions' high-water marks;
        the oldest unapplied record's broker timestamp is when it became available."""
        from kafka import TopicPartition

        prefix = self.settings.kafka_topic_prefix
        topics = (events_topic(prefix, county), events_topic(prefix, SYSTEM_TOPIC_SUFFIX))
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return StageLag("consumer", county, 0, 0)
        try:
            views = ViewStore(views_url, TABLES)
        except Exception as e:  # its database is the county's own: name why it is unreadable
            return StageLag("consumer", county, 0, 0, error=f"views unreadable: {e}")
        try:
            stored = {p: views.position(tracking_name(p)) for p in partitions}
        finally:
            views.close()
        consumer.assign(partitions)
        for partition, offset in stored.items():
            if offset:
                consumer.seek(partition, offset)
            else:
                consumer.seek_to_beginning(partition)
        beginning = {p: consumer.position(p) for p in partitions}
        first: dict[Any, int] = {}
        for _ in range(10):  # fetches until every partition's high-water mark is known
            for partition, records in consumer.poll(timeout_ms=500).items():
                first.setdefault(partition, records[0].timestamp)
            if all(consumer.highwater(p) is not None and
                   (p in first or beginning[p] >= consumer.highwater(p)) for p in partitions):
                break
        head = sum(consumer.highwater(p) or beginning[p] for p in partitions)
        oldest = min(first.values(), default=None)
        return StageLag("consumer", county, sum(beginning.values()), head,
                        None if oldest is None else now.timestamp() - oldest / 1000)

    def _checkpoint(self, now: datetime) -> tuple[int | None, float | None]:
        for stored in self.recorder.select_events(AUDIT_TRAIL_ID, desc=True, limit=10):
            if stored.topic == SIGNED_TOPIC:
                payload = event_payload(stored.state)
                return payload["tree_size"], (now - datetime.fromisoformat(
                    payload["timestamp"])).total_seconds()
        return None, None

    def _cascades(self) -> list[CascadeRun]:
        runs = []
        with self.views.snapshot() as tx:
            for level in CASCADE_LEVELS:
                latest = tx.rows(
                    "SELECT s.period, COUNT(DISTINCT s.unit_code), COUNT(DISTINCT CASE WHEN "
                    "s.late = 1 THEN s.unit_code END), MAX(s.rec) FROM view_submissions s "
                    "JOIN view_units u ON u.code = s.unit_code WHERE u.level = ? AND "
                    "s.draft = 0 GROUP BY s.period ORDER BY MAX(s.rec) DESC LIMIT 1",
                    (level.value,))
                if not latest:
                    continue
                period, submitted, late, rec = latest[0]
                missing = tx.rows("SELECT COUNT(*) FROM view_missing m JOIN view_units u ON "
                                  "u.code = m.unit_code WHERE m.period = ? AND u.level = ?",
                                  (period, level.value))[0][0]
                runs.append(CascadeRun(level.value, period, submitted, late, missing,
                                       from_micros(rec)))
        return runs

