"""Kafka publication against real brokers (tansu and noida), per store kind:

- the relay (read the log, encode, route, send, wait for the acknowledgements, record the
  position) vs a raw kafka-python producer sending the same pre-encoded messages — same
  topics, keys, headers, sizes and producer settings — to the same broker: target ≥ 0.5;
- the county consumer (decode, de-duplicate, fold, write views and offsets in one
  transaction per poll) vs a raw consumer fetching the same records: target ≥ 0.4;
- 1M events (`bench_projection.big_store`, SQLite) through the relay and through consumers
  (every event topic in turn), each in a process of its own: peak RSS, beside the same on
  the ~140k-event demo. Memory that does not grow with the log shows as a ratio near 1.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from bench.bench_export import best_of, demo_store
from bench.bench_projection import big_store
from bench.harness import Result, fresh_store
from infra.intake.service import Zhibao
from infra.kafka.avro import Codec
from infra.kafka.client import connection, producer_config
from infra.kafka.consumer import CountyConsumer
from infra.kafka.relay import EVENT_TYPE_HEADER, FINGERPRINT_HEADER, Relay
from infra.kafka.topics import SYSTEM_TOPIC_SUFFIX, Router, create_topic
from infra.settings import Settings
from infra.store.log import log_range
from tests.support.brokers import KINDS, Broker

Message = tuple[str, bytes, bytes, list[tuple[str, bytes]]]


def run(stores: list[str]) -> list[Result]:
    results = []
    with ExitStack() as stack:
        for kind in KINDS:
            broker = Broker(kind, Path(stack.enter_context(tempfile.TemporaryDirectory()))).start()
            stack.callback(broker.stop)
            for store in stores:
                results += throughput(store, broker)
        if "sqlite" in stores:
            results += memory(broker)  # the last broker started: noida
    return results


def settings_for(url: str, broker: Broker) -> Settings:
    return Settings(database_url=url, kafka_bootstrap_servers=broker.bootstrap,
                    kafka_topic_prefix=f"bench{uuid.uuid4().hex[:8]}")


def throughput(store: str, broker: Broker) -> list[Result]:
    url = demo_store(store)
    app = Zhibao(Settings(database_url=url))
    try:
        messages = encoded_messages(app, "raw")
    finally:
        app.close()
    relayed: list[Settings] = []

    def relay() -> int:
        """The whole store through a relay of its own (a fresh topic prefix)."""
        relayed.append(settings_for(url, broker))
        app = Zhibao(relayed[-1])
        try:
            return Relay(app, relayed[-1]).run().published
        finally:
            app.close()

    (published, relay_seconds), (sent, raw_seconds) = best_of(
        relay, lambda: raw_produce(relayed[-1], messages))
    counts = Counter(topic for topic, *_ in messages)
    county = max((t for t in counts if not t.endswith(SYSTEM_TOPIC_SUFFIX)), key=counts.__getitem__)
    code = county.rpartition(".")[2]
    settings = relayed[-1]
    topics = [t.replace("raw.", f"{settings.kafka_topic_prefix}.", 1)
              for t in (county, f"raw.events.{SYSTEM_TOPIC_SUFFIX}") if t in counts]
    (applied, consume_seconds), (fetched, fetch_seconds) = best_of(
        lambda: consume(store, settings, code), lambda: raw_fetch(settings, topics))
    where = f"{broker.kind}, {store}"
    return [
        Result(f"relay ({where})", published / relay_seconds, "events/s",
               sent / raw_seconds, "raw kafka-python producer", 0.5, f"{published:,} events"),
        Result(f"county consumer {code} ({where})", applied / consume_seconds, "events/s",
               fetched / fetch_seconds, "raw fetch", 0.4, f"{applied:,} events"),
    ]


def encoded_messages(app: Zhibao, prefix: str, limit: int | None = None,
                     after: int = 0) -> list[Message]:
    """Every stored event after position `after` (or the first `limit` of them) as a relay
    starting there would send it, its router caught up on the units before, under another
    topic prefix."""
    codec, router = Codec(), Router(prefix)
    if after:
        router.catch_up(app.recorder, app.mapper, after)
    messages: list[Message] = []
    for page in log_range(app.recorder, after):
        if limit is not None and len(messages) >= limit:
            break
        router.fold(page, app.mapper)
        for notification in page:
            encoded = codec.encode(notification)
            headers = [(EVENT_TYPE_HEADER, encoded.event_type.encode()),
                       (FINGERPRINT_HEADER, encoded.fingerprint.hex().encode())]
            messages.append((router.topic(encoded.unit_code), encoded.aggregate_id.encode(),
                             encoded.value, headers))
    return messages


def raw_produce(settings: Settings, messages: list[Message]) -> int:
    """A bare producer with the relay's settings delivers `messages` to topics of its own."""
    prefix = f"raw{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**connection(settings))
    for topic in {topic for topic, *_ in messages}:
        create_topic(admin, topic.replace("raw", prefix, 1), settings)
    admin.close()
    producer = KafkaProducer(**producer_config(settings))
    for topic, key, value, headers in messages:
        producer.send(topic.replace("raw", prefix, 1), key=key, value=value, headers=headers)
    producer.flush()
    producer.close()
    return len(messages)


def raw_fetch(settings: Settings, topics: list[str]) -> int:
    """Records fetched from `topics` by a bare consumer, to the high-water marks."""
    consumer = KafkaConsumer(**connection(settings), group_id=None, enable_auto_commit=False)
    partitions = [TopicPartition(t, p) for t in topics
                  for p in sorted(consumer.partitions_for_topic(t) or ())]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    count = 0
    while True:
        polled = consumer.poll(timeout_ms=500, max_records=settings.relay_batch_size)
        count += sum(len(records) for records in polled.values())
        if not polled and all(consumer.highwater(p) is not None
                              and consumer.position(p) >= consumer.highwater(p)
                              for p in partitions):
            consumer.close()
            return count


def consume(store: str, settings: Settings, county: str) -> int:
    """Events the county consumer applies into fresh views of the store's kind."""
    with fresh_store(store) as views_url:
        consumer = CountyConsumer(county, views_url, settings)
        try:
            return consumer.run().applied
        finally:
            consumer.close()


def memory(broker: Broker) -> list[Result]:
    """Peak RSS of a relay process and of a consumer process (every event topic in turn,
    so the whole log passes through it) on the demo and on the million-event store."""
    measured: dict[str, dict[str, tuple[int, float]]] = {}
    for label, url in (("demo", demo_store("sqlite")), ("1M", big_store("sqlite"))):
        settings = settings_for(url, broker)
        relay = in_process(_relay_rss, settings)
        measured[label] = {"relay": relay,
                           "consumer": in_process(_consume_rss, settings, codes(settings))}
    results = []
    for role in ("relay", "consumer"):
        big_events, big_rss = measured["1M"][role]
        small_events, small_rss = measured["demo"][role]
        results.append(Result(
            f"{role} peak RSS, {big_events:,} events", big_rss, "MB", small_rss,
            f"{small_events:,} events", None, f"{broker.kind}, sqlite"))
    return results


def codes(settings: Settings) -> list[str]:
    """The unit codes of every event topic (counties, cities, provinces)."""
    consumer = KafkaConsumer(**connection(settings), group_id=None)
    prefix = f"{settings.kafka_topic_prefix}.events."
    try:
        return sorted(t.removeprefix(prefix) for t in consumer.topics()
                      if t.startswith(prefix) and not t.endswith(SYSTEM_TOPIC_SUFFIX))
    finally:
        consumer.close()


def in_process(target: Any, *args: Any) -> tuple[int, float]:
    """Run `target(*args, queue)` in a fresh process; (events, its peak RSS in MB)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    events, rss = queue.get()
    process.join()
    return events, rss


def resident_peak_mb() -> float:
    """This process's peak resident memory since it started (VmHWM). Not `ru_maxrss`:
    Linux carries that over from the parent through fork and exec."""
    status = Path("/proc/self/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines()
                     if line.startswith("VmHWM:"))
    return int(kilobytes) / 1024


def _relay_rss(settings: Settings, queue: Any) -> None:
    app = Zhibao(settings)
    progress = Relay(app, settings).run()
    queue.put((progress.published, resident_peak_mb()))


def _consume_rss(settings: Settings, codes: list[str], queue: Any) -> None:
    applied = 0
    with tempfile.TemporaryDirectory() as directory:
        for code in codes:
            consumer = CountyConsumer(code, f"sqlite:///{directory}/views.db", settings)
            applied += consumer.run().applied
            consumer.close()
    queue.put((applied, resident_peak_mb()))
