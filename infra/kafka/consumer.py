"""The county consumer: a county's topic → its own views, with no zhibao store behind it.
It reads the system topic too: events of no unit (reporting periods, audit checkpoints)
concern every county.

    from infra.kafka.consumer import CountyConsumer

    consumer = CountyConsumer("610902", "sqlite:///hanbin-views.db")  # settings: ZHIBAO_*
    progress = consumer.run()     # what the topics hold now; run(follow=True) keeps going
    consumer.close()              # progress.applied, .duplicates, .dead_letters, .lag

Partitions are assigned explicitly (no consumer group, so no group coordinator, no
rebalancing and no member a broker could keep after a crash). Each poll becomes one
transaction of the views database holding the view rows, each partition's next offset
(tracking name `kafka/<topic>/<partition>`) and the last version applied per aggregate — so
after any crash, even `kill -9` mid-batch, the consumer resumes exactly after what it
applied. Events are de-duplicated by event id, i.e. by (aggregate id, version): a version
not above the last one applied for its aggregate is a re-send and is dropped.

A record that does not decode goes to `<prefix>.dlq` with its reason and its original
topic, partition and offset in headers, and is counted; the consumer carries on.

The consumer is also a witness of the log (`infra/audit/witness.py`): every checkpoint on
the system topic must be signed by a key of `ZHIBAO_AUDIT_TRUSTED_KEYS` and, by the
consistency proof it carries, extend the last checkpoint this consumer accepted (kept in its
views database with the batch). Otherwise it raises a fork alarm: logged, recorded where
operators see it (`zhibao consume --county CODE` prints it; `witnessed()`), and the consumer
stops — it applies nothing more from a log it can no longer trust until an operator, having
investigated, clears the alarm (`clear_alarm()`, `zhibao consume --clear-alarm`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from infra.audit.checkpoints import trusted_keys
from infra.audit.verifier import ProofError
from infra.audit.witness import Accepted, ForkDetected, accept, read_checkpoint
from infra.kafka.avro import Codec, DecodeError
from infra.kafka.client import Backoff, connection, discard, producer_config
from infra.kafka.relay import EVENT_TYPE_HEADER
from infra.kafka.topics import SYSTEM_TOPIC_SUFFIX, create_topic, dlq_topic, events_topic
from infra.settings import Settings, get_settings
from projections.events import EventRecord
from projections.fold import ViewWriter
from projections.store import TABLES, Tx, ViewStore, views_url_for
from projections.tables import BIGINT, TEXT, Table

log = logging.getLogger("zhibao.consume")

APPLIED_VERSIONS = Table("kafka_applied_versions",
                         (("aggregate_id", TEXT), ("version", BIGINT)), ("aggregate_id",))
"""The last version applied per aggregate: what makes a re-sent event recognisable."""

WITNESSED = Table("audit_witness", (("origin", TEXT), ("version", BIGINT), ("tree_size", BIGINT),
                                   ("root_hash", TEXT), ("note", TEXT), ("alarm", TEXT)),
                  ("origin", "version"))
"""Per log, every checkpoint accepted, by its version in the audit trail (so a re-sent one
must be the same, and a replaced one is found); a fork alarm is the row of version 0."""
CHECKPOINT_EVENT = "CheckpointSigned"

LOOKUP_CHUNK = 1000  # aggregate ids per query, well inside SQLite's parameter limit
DLQ_HEADERS = ("dlq-reason", "dlq-detail", "dlq-topic", "dlq-partition", "dlq-offset")


@dataclass
class ConsumeProgress:
    topics: tuple[str, ...]
    applied: int = 0  # events folded into the views
    duplicates: int = 0  # re-sent events dropped
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason
    lag: int = 0  # records between the positions and the high-water marks
    reconnections: int = 0


def tracking_name(partition: TopicPartition) -> str:
    return f"kafka/{partition.topic}/{partition.partition}"


class CountyConsumer:
    def __init__(self, county: str, views_url: str, settings: Settings | None = None,
                 on_progress: Callable[[ConsumeProgress], None] | None = None) -> None:
        self.settings = settings or get_settings()
        prefix = self.settings.kafka_topic_prefix
        self.topics = (events_topic(prefix, county), events_topic(prefix, SYSTEM_TOPIC_SUFFIX))
        self.views = ViewStore(views_url, (*TABLES, APPLIED_VERSIONS, WITNESSED))  # reset(): all
        self.log_keys = trusted_keys(self.settings)
        self.writer = ViewWriter(self.views)
        self.codec = Codec()
        self.on_progress = on_progress or (lambda progress: None)
        self.progress = ConsumeProgress(self.topics)
        self.stop = threading.Event()

    @classmethod
    def from_settings(cls, county: str, on_progress: Callable[[ConsumeProgress], None] | None
                      = None) -> CountyConsumer:
        """The county's views where the settings put views (`ZHIBAO_VIEWS_URL`, else beside
        `ZHIBAO_DATABASE_URL`)."""
        settings = get_settings()
        return cls(county, settings.views_url or views_url_for(settings.database_url), settings,
                   on_progress)

    def close(self) -> None:
        self.views.close()

    def run(self, follow: bool = False) -> ConsumeProgress:
        """Apply what the topic holds (`follow`: and keep applying until `stop` is set).
        ForkDetected, applying nothing, while a fork alarm is recorded."""
        for origin, state in self.witnessed().items():
            if state["alarm"]:
                raise ForkDetected(f"{origin}: fork alarm — {state['alarm']}; nothing is "
                                   "applied until an operator clears it")
        backoff = Backoff(self.settings.kafka_retry_max_seconds)
        while not self.stop.is_set():
            try:
                with self._clients() as (consumer, dead_letters):
                    self._consume(consumer, dead_letters, follow, backoff)
                return self.progress
            except KafkaError as e:
                self.progress.reconnections += 1
                log.warning("Kafka at %s failed (%s: %s); resuming %s from the stored offsets "
                            "after %.1f s", self.settings.kafka_bootstrap_servers,
                            type(e).__name__, e, " and ".join(self.topics), backoff.next)
                backoff.wait(self.stop)
        return self.progress

    @contextmanager
    def _clients(self) -> Iterator[tuple[KafkaConsumer, DeadLetters]]:
        consumer = KafkaConsumer(**connection(self.settings), group_id=None,
                                 enable_auto_commit=False, allow_auto_create_topics=False,
                                 max_partition_fetch_bytes=self.settings.kafka_batch_bytes * 4)
        dead_letters = DeadLetters(self.settings)
        try:
            yield consumer, dead_letters
        finally:
            dead_letters.close()
            consumer.close()

    def _consume(self, consumer: KafkaConsumer, dead_letters: DeadLetters, follow: bool,
                 backoff: Backoff) -> None:
        partitions: list[TopicPartition] = []
        poll_seconds = self.settings.relay_poll_seconds
        while not self.stop.is_set():
            if {p.topic for p in partitions} != set(self.topics):
                partitions = self._assign(consumer, partitions)  # a topic may appear later
            polled = consumer.poll(timeout_ms=int(poll_seconds * 1000),
                                   max_records=self.settings.relay_batch_size) \
                if partitions else {}
            if polled:
                self._apply(polled, dead_letters)
                backoff.reset()
            self.progress.lag = self._lag(consumer, partitions)
            self.on_progress(self.progress)
            if not polled:
                if not follow and self._caught_up(consumer, partitions):
                    return
                if not partitions:
                    self.stop.wait(poll_seconds)

    def _assign(self, consumer: KafkaConsumer,
                assigned: list[TopicPartition]) -> list[TopicPartition]:
        """Every partition of the topics that exist, each at its stored offset (the next
        one not applied). A topic that does not exist yet has nothing to consume."""
        partitions = [TopicPartition(topic, p) for topic in self.topics
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if partitions == assigned:
            return assigned
        consumer.assign(partitions)
        for partition in partitions:
            offset = self.views.position(tracking_name(partition))
            if offset:
                consumer.seek(partition, offset)
            else:
                consumer.seek_to_beginning(partition)
        return partitions

    def _apply(self, polled: dict[TopicPartition, list[ConsumerRecord]],
               dead_letters: DeadLetters) -> None:
        decoded: list[EventRecord] = []
        offsets: dict[TopicPartition, int] = {}
        for partition, messages in polled.items():
            for message in messages:
                offsets[partition] = message.offset + 1
                record = self._decode(message, dead_letters)
                if record is not None:
                    decoded.append(record)
        known = self._applied_versions({r.originator_id for r in decoded})
        applied: dict[str, int] = {}
        records = []
        for record in decoded:
            key = record.originator_id
            if record.originator_version <= applied.get(key, known.get(key, 0)):
                self.progress.duplicates += 1
                continue
            applied[key] = record.originator_version
            records.append(record)
        dead_letters.flush()  # a dead letter is on the DLQ before its offset is passed
        witnessed = self._witness(decoded)
        self.writer.apply(records, track=lambda tx: self._track(tx, offsets, applied, known,
                                                                witnessed))
        self.progress.applied += len(records)

    def _applied_versions(self, keys: set[str]) -> dict[str, int]:
        """The last version applied of each of these aggregates — looked up per batch, so
        memory does not grow with the number of aggregates."""
        found: dict[str, int] = {}
        ordered = sorted(keys)
        with self.views.snapshot() as tx:
            for start in range(0, len(ordered), LOOKUP_CHUNK):
                chunk = ordered[start:start + LOOKUP_CHUNK]
                found.update(tx.rows(f"SELECT aggregate_id, version FROM {APPLIED_VERSIONS.name} "
                                     f"WHERE aggregate_id IN ({', '.join('?' * len(chunk))})",
                                     chunk))
        return found

    def _decode(self, message: ConsumerRecord, dead_letters: DeadLetters) -> EventRecord | None:
        claimed = dict(message.headers or ()).get(EVENT_TYPE_HEADER)
        try:
            return self.codec.decode(message.value or b"",
                                     None if claimed is None else claimed.decode())
        except (DecodeError, UnicodeDecodeError) as e:
            reason = e.reason if isinstance(e, DecodeError) else "schema_mismatch"
            self.progress.dead_letters[reason] += 1
            log.warning("%s[%d]@%d is not a zhibao event (%s); sent to the dead-letter topic",
                        message.topic, message.partition, message.offset, e)
            dead_letters.send(message, reason, str(e))
            return None

    # -- witnessing the log's checkpoints

    def witnessed(self) -> dict[str, dict[str, Any]]:
        """Per log: the newest checkpoint accepted (tree_size, root_hash, note) and the
        alarm ('' while there is none)."""
        found: dict[str, dict[str, Any]] = {}
        with self.views.snapshot() as tx:
            for row in tx.dict_rows(f"SELECT origin, version, tree_size, root_hash, note, alarm "
                                    f"FROM {WITNESSED.name} ORDER BY origin, version"):
                state = found.setdefault(row["origin"], {"tree_size": 0, "root_hash": "",
                                                         "note": "", "alarm": ""})
                if row["version"] == 0:
                    state["alarm"] = row["alarm"]
                else:
                    state.update(tree_size=row["tree_size"], root_hash=row["root_hash"],
                                 note=row["note"], version=row["version"])
        return found

    def clear_alarm(self) -> None:
        """After an investigation: forget the alarm and what was accepted from that log;
        the next checkpoint is accepted as a first one."""
        with self.views.transaction() as tx:
            for (origin,) in tx.rows(f"SELECT origin FROM {WITNESSED.name} WHERE version = 0"):
                tx.execute(f"DELETE FROM {WITNESSED.name} WHERE origin = ?", (origin,))

    def _witness(self, records: list[EventRecord]) -> list[tuple[Any, ...]]:
        """Each checkpoint in the batch, re-sent ones too: one seen before must be the same,
        a new one must extend the newest accepted. The rows to store with the batch. On a
        fork: the alarm is recorded, nothing of the batch is applied, ForkDetected."""
        checkpoints = [r for r in records if r.event_type == CHECKPOINT_EVENT]
        if not checkpoints:
            return []
        seen = self.witnessed()
        rows: list[tuple[Any, ...]] = []
        newest: dict[str, Accepted | None] = {}
        for record in checkpoints:
            data = record.data
            try:
                new = read_checkpoint(data["note"], self.log_keys)
                known = self._known(new.origin, record.originator_version)
                if known is not None:
                    if known != data["note"]:
                        raise ForkDetected(f"{new.origin}: checkpoint {record.originator_version}"
                                           " of the audit trail was replaced by another")
                    continue
                if new.origin not in newest:
                    newest[new.origin] = self._accepted(new.origin, seen.get(new.origin))
                accepted = accept(newest[new.origin], new, data["previous_size"],
                                  [bytes.fromhex(h) for h in data["consistency"]])
            except (ForkDetected, ProofError) as e:
                self._alarm(data.get("origin", "?"), f"at position {record.position}: {e}")
                raise ForkDetected(f"checkpoint at position {record.position}: {e}") from None
            if accepted is new:
                newest[new.origin] = new
                rows.append((new.origin, record.originator_version, new.size, new.root.hex(),
                             new.note, ""))
        return rows

    def _known(self, origin: str, version: int) -> str | None:
        with self.views.snapshot() as tx:
            found = tx.rows(f"SELECT note FROM {WITNESSED.name} WHERE origin = ? AND "
                            "version = ?", (origin, version))
        return found[0][0] if found else None

    @staticmethod
    def _accepted(origin: str, state: dict[str, Any] | None) -> Accepted | None:
        if state is None or not state["note"]:
            return None
        return Accepted(origin, state["tree_size"], bytes.fromhex(state["root_hash"]),
                        state["note"])

    def _alarm(self, origin: str, why: str) -> None:
        log.error("FORK ALARM for the log %s: %s — the consumer stops", origin, why)
        with self.views.transaction() as tx:
            tx.execute(f"DELETE FROM {WITNESSED.name} WHERE origin = ? AND version = 0",
                       (origin,))
            tx.insert(WITNESSED, [(origin, 0, 0, "", "", why)])

    def _track(self, tx: Tx, offsets: dict[TopicPartition, int], applied: dict[str, int],
               known: dict[str, int], witnessed: list[tuple[Any, ...]]) -> None:
        tx.insert(WITNESSED, witnessed)
        for partition, offset in offsets.items():
            tx.track(tracking_name(partition), offset)
        tx.update(APPLIED_VERSIONS, ("version",),
                  [(key, version) for key, version in applied.items() if key in known])
        tx.insert(APPLIED_VERSIONS, [(key, version) for key, version in applied.items()
                                     if key not in known])

    def _lag(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> int:
        """Behind the high-water marks of the last fetches (tansu's `end_offsets` is not
        reliable right after batches)."""
        return sum(max(0, (consumer.highwater(p) or 0) - consumer.position(p))
                   for p in partitions)

    def _caught_up(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
        return all(consumer.highwater(p) is not None
                   and consumer.position(p) >= consumer.highwater(p) for p in partitions)


class DeadLetters:
    """The dead-letter topic: the original record, with why it was refused and where it
    came from in headers. The producer is only opened when a first record is refused."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = dlq_topic(settings.kafka_topic_prefix)
        self._producer: KafkaProducer | None = None
        self._pending: list[Any] = []

    def send(self, message: ConsumerRecord, reason: str, detail: str) -> None:
        if self._producer is None:
            admin = KafkaAdminClient(**connection(self.settings))
            try:
                create_topic(admin, self.topic, self.settings)
            finally:
                admin.close()
            self._producer = KafkaProducer(**producer_config(self.settings))
        origin = (reason, detail, message.topic, str(message.partition), str(message.offset))
        headers = [*(message.headers or ()),
                   *((name, value.encode()) for name, value in zip(DLQ_HEADERS, origin,
                                                                    strict=True))]
        self._pending.append(self._producer.send(self.topic, key=message.key,
                                                 value=message.value or b"", headers=headers))

    def flush(self) -> None:
        """Wait until every dead letter sent so far is acknowledged; raise if one failed."""
        if self._producer is None:
            return
        self._producer.flush()
        pending, self._pending = self._pending, []
        for future in pending:
            if future.failed():
                raise future.exception

    def close(self) -> None:
        if self._producer is not None:
            discard(self._producer)
