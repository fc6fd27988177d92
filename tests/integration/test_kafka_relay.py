"""The relay against real brokers (tansu and noida) and both stores: every stored event on
its county's topic, exactly as stored, keyed and headed as documented, in order per
aggregate, with the acknowledged position recorded in the store's database."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import threading
from collections import defaultdict
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from domain.base import micros
from infra.intake.service import Zhibao
from infra.kafka.avro import Codec
from infra.kafka.pages import EncodedPage, encode_range
from infra.kafka.positions import RelayPositions
from infra.kafka.relay import Relay, RelayError, RelayProgress
from infra.kafka.topics import Router
from infra.settings import Settings
from infra.store import workers
from projections.events import EventRecord, from_notification
from schemas.generate import EVENTS_DIR
from tests.conftest import wait_for
from tests.support.brokers import Broker, drain, partition_counts, topics_with_prefix
from tests.support.builders import build_world
from tests.support.kafka_world import hazard_traffic, varied_history

pytestmark = pytest.mark.kafka

README = Path(__file__).parents[2] / "README.md"


def kafka_settings(app: Zhibao, broker: Broker, **overrides: object) -> Settings:
    """The app's settings pointed at `broker`, under a topic prefix of this test's own."""
    values = {
        "kafka_bootstrap_servers": broker.bootstrap,
        "kafka_topic_prefix": f"t{uuid4().hex[:10]}",
        "kafka_partitions": 3, "kafka_linger_ms": 5, "kafka_request_timeout_ms": 3000,
        "kafka_retry_max_seconds": 1.0, "relay_batch_size": 200, "relay_poll_seconds": 0.05,
        **overrides,
    }
    return app.settings.model_copy(update=values)


def stored_records(app: Zhibao) -> list[EventRecord]:
    """The store's own view of every event, without the library's bookkeeping field."""
    records = []
    for notification in app.recorder.select_notifications(start=1, limit=1_000_000):
        record = from_notification(notification)
        data = {k: v for k, v in record.data.items() if k != "originator_topic"}
        records.append(record._replace(data=data))
    return records


def published(settings: Settings) -> dict[str, list]:
    """Every record on the test's topics, by topic, in partition/offset order."""
    bootstrap, prefix = settings.kafka_bootstrap_servers, settings.kafka_topic_prefix
    return {topic: drain(bootstrap, topic) for topic in topics_with_prefix(bootstrap, prefix)}


def exactly_once(messages: list, codec: Codec) -> list[EventRecord]:
    """De-duplicate a topic's records by event id the way a consumer does (keeping the
    first), and check that what remains is in version order per aggregate."""
    seen: set[UUID] = set()
    last_version: dict[UUID, int] = defaultdict(int)
    kept = []
    for message in messages:
        record = codec.decode(message.value)
        if record.event_id in seen:
            continue
        seen.add(record.event_id)
        assert record.originator_version > last_version[record.originator_id], \
            f"{record.event_type} of {record.originator_id} out of order"
        last_version[record.originator_id] = record.originator_version
        kept.append(record)
    return kept


def assert_all_published_once(app: Zhibao, settings: Settings) -> dict[str, list[EventRecord]]:
    codec = Codec()
    by_topic = {topic: exactly_once(messages, codec)
                for topic, messages in published(settings).items()}
    received = sorted((r for records in by_topic.values() for r in records),
                      key=lambda r: r.position)
    assert received == stored_records(app)
    return by_topic


def assert_each_sent_once(app: Zhibao, settings: Settings) -> None:
    """Every event published, none of them twice: no fault made the relay send again."""
    for messages in published(settings).values():
        assert len(messages) == len({m.value for m in messages}), "nothing was sent twice"
    assert_all_published_once(app, settings)


@pytest.mark.parametrize("encoded_by", ["relay", "worker"])
def test_every_event_reaches_its_county_topic_as_stored(app, clock, kafka_broker, encoded_by):
    world = build_world(app)
    varied_history(world)
    settings = kafka_settings(app, kafka_broker, relay_batch_size=20)
    progress = Relay(app, settings, parallel_from=1 if encoded_by == "worker" else 10**9).run()

    stored = stored_records(app)
    assert progress.published == progress.position == progress.head == len(stored)
    pages = -(-len(stored) // settings.relay_batch_size)
    assert pages > 1
    assert progress.pages_in_workers == (pages if encoded_by == "worker" else 0)
    prefix = settings.kafka_topic_prefix
    raw = published(settings)
    assert sorted(raw) == [f"{prefix}.events.{code}"
                           for code in ("610000", "610900", "610902", "610921")]
    assert partition_counts(kafka_broker.bootstrap, list(raw)) == {t: 3 for t in raw}
    codec = Codec()
    topic_of = {}
    for topic, messages in raw.items():
        assert len(messages) == len({m.value for m in messages}), "a duplicate without a fault"
        for message in messages:
            record = codec.decode(message.value)
            topic_of[record.event_id] = topic
            assert message.key == str(record.originator_id).encode()
            headers = dict(message.headers)
            assert headers["event-type"] == record.event_type.encode()
            assert headers["schema-fingerprint"] == message.value[2:10].hex().encode()
    assert_all_published_once(app, settings)

    def topic(event_type: str, unit_code: str) -> str:
        record = next(r for r in stored
                      if r.event_type == event_type and r.unit_code == unit_code)
        return topic_of[record.event_id].rpartition(".")[2]

    assert topic("AdminUnitRegistered", "610000") == "610000"  # the province
    assert topic("AdminUnitRegistered", "610900") == "610900"  # the city itself
    assert topic("AdminUnitRegistered", "610902") == "610902"  # a county is in its own topic
    assert topic("AdminUnitRegistered", "610902101201") == "610902"  # one of its villages
    assert topic("OrgUnitRegistered", "610900") == "610900"
    assert topic("TaskListPublished", "610900") == "610900"
    assert topic("HazardReported", "610921100201") == "610921"
    # a recoded village stays on its county's topic under its new code
    assert topic("AdminUnitRecoded", "610902101202") == "610902"


def test_the_relay_resumes_from_its_recorded_position(app, clock, kafka_broker):
    world = build_world(app)
    settings = kafka_settings(app, kafka_broker)
    first = Relay(app, settings).run()
    hazard_traffic(world, 40)
    second = Relay(app, settings).run()
    third = Relay(app, settings).run()

    assert second.published == 120 and second.position == first.position + 120
    assert third.published == 0
    assert RelayPositions(app.recorder, settings.kafka_topic_prefix).load() == third.position
    assert_each_sent_once(app, settings)


def test_a_worker_that_cannot_start_leaves_the_encoding_to_the_relay(
        app, clock, kafka_broker, monkeypatch):
    world = build_world(app)
    hazard_traffic(world, 20)
    settings = kafka_settings(app, kafka_broker)
    monkeypatch.setattr(workers, "open_worker_reader", os._exit)  # the worker dies at start
    progress = Relay(app, settings, parallel_from=1).run()

    assert progress.pages_in_workers == 0
    assert progress.position == app.recorder.max_notification_id()
    assert_each_sent_once(app, settings)


def test_a_worker_that_dies_midway_leaves_the_rest_to_the_relay(app, clock, kafka_broker):
    world = build_world(app)
    hazard_traffic(world, 40)
    settings = kafka_settings(app, kafka_broker, relay_batch_size=20)
    pages = -(-app.recorder.max_notification_id() // settings.relay_batch_size)

    def kill_the_worker(progress: RelayProgress) -> None:
        if progress.pages_in_workers == 1:
            for child in multiprocessing.active_children():
                child.kill()

    progress = Relay(app, settings, on_progress=kill_the_worker, parallel_from=1).run()

    assert 1 <= progress.pages_in_workers < pages - 3
    assert progress.position == app.recorder.max_notification_id()
    assert_each_sent_once(app, settings)


def schemas_without(name: str, directory: Path) -> Codec:
    """A codec whose schemas lack `name`'s, as if schemas/ were out of date."""
    directory.mkdir()
    for path in EVENTS_DIR.glob("*.avsc"):
        if path.stem != name:
            shutil.copy(path, directory)
    return Codec(directory, released_dirs=[])


def test_an_event_that_does_not_fit_its_schema_stops_the_relay_naming_it(
        app, clock, kafka_broker, tmp_path):
    world = build_world(app)
    hazard_traffic(world, 5)
    first = next(r.position for r in stored_records(app) if r.event_type == "HazardReported")
    settings = kafka_settings(app, kafka_broker)
    relay = Relay(app, settings)
    relay.codec = schemas_without("HazardReported", tmp_path / "events")

    with pytest.raises(RelayError, match=rf"^event {first} \(HazardReported of [0-9a-f-]+ v1\): "
                                         rf"no schema for HazardReported .* the relay stopped at "
                                         rf"position {first - 1}$"):
        relay.run()
    assert RelayPositions(app.recorder, settings.kafka_topic_prefix).load() == first - 1
    assert sum(map(len, published(settings).values())) == first - 1


def test_a_page_comes_back_from_a_worker_as_it_was_encoded(app, clock, tmp_path):
    """What a worker ships: its encoded events, its unit events for the router and, if an
    event does not fit its schema, why — the relay stops on that as on a page encoded here."""
    world = build_world(app)
    hazard_traffic(world, 5)
    head = app.recorder.max_notification_id()
    topics = Router("p").directory.topics
    for codec in (Codec(), schemas_without("HazardReported", tmp_path / "events")):
        page = encode_range(app.recorder, codec, 0, head, topics)
        assert page.units and page.events
        assert EncodedPage.unshipped(page.shipped()) == page
    assert page.problem is not None and "no schema for HazardReported" in page.problem


def test_a_following_relay_publishes_new_events_as_they_are_stored(app, clock, kafka_broker):
    world = build_world(app)
    settings = kafka_settings(app, kafka_broker)
    relay = Relay(app, settings)
    thread = threading.Thread(target=relay.run, kwargs={"follow": True})
    thread.start()
    try:
        hazard_traffic(world, 20)
        wait_for(lambda: relay.progress.position >= app.recorder.max_notification_id(),
                 timeout=20, what="the relay to follow the store", interval=0.05)
    finally:
        relay.stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert relay.progress.lag == 0
    assert_all_published_once(app, settings)


def readme_example() -> str:
    """The plain-fastavro decoding example from README.md, verbatim."""
    text = README.read_text()
    found = re.search(r"<!-- decode-example -->\s*```python\n(.*?)```", text, re.S)
    assert found, "README.md has no decode example"
    return found.group(1)


def test_a_county_decodes_a_message_with_plain_fastavro_as_the_readme_shows(
        app, clock, kafka_broker, monkeypatch):
    world = build_world(app)
    varied_history(world)
    settings = kafka_settings(app, kafka_broker)
    Relay(app, settings).run()
    messages = published(settings)[f"{settings.kafka_topic_prefix}.events.610902"]
    major = next(m for m in messages if dict(m.headers)["event-type"] == b"HazardListed")

    monkeypatch.chdir(Path(__file__).parents[2])  # the example reads schemas/ from here
    namespace: dict[str, object] = {"message_value": major.value}
    exec(readme_example(), namespace)  # the example uses only fastavro and the schemas
    event = namespace["event"]
    assert isinstance(event, dict)
    stored = next(r for r in stored_records(app) if r.event_type == "HazardListed")
    assert event["event_type"] == "HazardListed"
    assert str(event["aggregate_id"]) == stored.originator_id
    assert micros(event["occurred_at"]) == stored.occurred_at  # fastavro gives a datetime
    assert event["listing"]["level"] == "county"
    assert event["listing"]["deadline"].isoformat() == stored.data["listing"]["deadline"]
