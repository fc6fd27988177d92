"""The county consumer against real brokers: a county's views built from its Kafka topic alone
equal the views folded from the store's events of that county, table by table and row by
row; re-sent events are dropped; undecodable records go to the dead-letter topic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.intake.service import Zhibao
from infra.kafka.avro import HEADER_SIZE, Codec
from infra.kafka.consumer import APPLIED_VERSIONS, CountyConsumer
from infra.kafka.positions import RelayPositions
from infra.kafka.relay import Relay
from infra.reporting.reporter import open_period
from infra.settings import Settings
from projections.events import EventRecord
from projections.report import Assembler
from projections.runner import Projector, project_records
from projections.store import TABLES, ViewStore
from tests.integration.test_kafka_relay import kafka_settings, stored_records
from tests.support.brokers import Broker, drain
from tests.support.builders import build_world
from tests.support.kafka_world import hazard_traffic, varied_history

pytestmark = pytest.mark.kafka

COUNTY = "610902"


@pytest.fixture
def county_views_url(database_url: str, tmp_path: Path) -> str:
    """The county system's own views database, of the same kind as the store under test."""
    return f"sqlite:///{tmp_path}/county-views.db" if database_url.startswith("sqlite") \
        else database_url


@pytest.fixture
def county_views(county_views_url: str) -> Iterator[ViewStore]:
    views = ViewStore(county_views_url, (*TABLES, APPLIED_VERSIONS))
    yield views
    views.close()


def table_rows(views: ViewStore) -> dict[str, list[tuple]]:
    with views.snapshot() as tx:
        return {table.name: sorted(tx.rows(f"SELECT * FROM {table.name}"), key=repr)
                for table in TABLES}


def for_county(record: EventRecord, county: str) -> bool:
    """Events of the county's units (in the test world every unit of a county has a code
    starting with the county's), and events of no unit, which concern every county."""
    return record.unit_code.startswith(county) or record.unit_code == ""


def store_fed_county_views(app: Zhibao, county: str) -> dict[str, list[tuple]]:
    """The views the store's own events of the county fold into."""
    expected = ViewStore.in_memory()
    try:
        project_records(expected, [r for r in stored_records(app) if for_county(r, county)])
        return table_rows(expected)
    finally:
        expected.close()


def consume(views: ViewStore, settings: Settings, county: str = COUNTY) -> CountyConsumer:
    """Run a county consumer once into the database of `views`."""
    consumer = CountyConsumer(county, views.url, settings)
    try:
        consumer.run()
    finally:
        consumer.close()
    return consumer


def relay_world(app: Zhibao, broker: Broker, traffic: int = 30) -> Settings:
    world = build_world(app)
    varied_history(world)
    hazard_traffic(world, traffic)
    settings = kafka_settings(app, broker)
    Relay(app, settings).run()
    return settings


def test_county_views_from_kafka_equal_the_store_fed_views(app, clock, kafka_broker,
                                                            county_views):
    settings = relay_world(app, kafka_broker)
    consumer = consume(county_views, settings)

    expected = store_fed_county_views(app, COUNTY)
    got = table_rows(county_views)
    for table in expected:
        assert got[table] == expected[table], f"{table} differs"
    assert len(got["view_hazards"]) == 3 + 15  # the varied history's and half the traffic
    assert len(got["view_orgs"]) == 6 and got["view_measures"] and got["view_inspections"]
    county_events = [r for r in stored_records(app) if for_county(r, COUNTY)]
    assert consumer.progress.applied == len(county_events)
    assert consumer.progress.duplicates == 0 and not consumer.progress.dead_letters
    assert consumer.progress.lag == 0


REPORT_PARTS = ("statistics", "sectors", "children", "hazard_list", "measure_list")
"""What a county's 一报表两清单 holds of its own; its parent's code and the city's task list
come from events outside the county's topic."""


def test_the_countys_report_figures_from_kafka_equal_the_store_fed_ones(
        app, clock, kafka_broker, county_views, tmp_path: Path):
    store_views = ViewStore(f"sqlite:///{tmp_path}/store-views.db")
    try:
        open_period(app, store_views, "2021-03")  # a system event: on the system topic
        settings = relay_world(app, kafka_broker)
        Projector(app.recorder, store_views).catch_up()
        consume(county_views, settings)
        cut_off = clock.advance(days=1)
        documents = []
        for views in (store_views, county_views):
            with views.snapshot() as tx:
                assembler = Assembler(tx, "2021-03", cut_off)
                document = assembler.assemble(assembler.unit(COUNTY), draft=True).document
                documents.append({part: document[part] for part in REPORT_PARTS})
    finally:
        store_views.close()
    from_store, from_kafka = documents
    for part in REPORT_PARTS:
        assert from_kafka[part] == from_store[part], f"{part} differs"
    figures = {row["code"]: row for row in from_store["statistics"]}
    assert any(value for row in figures.values() for key, value in row.items()
               if key in ("month", "cumulative", "at_end") and value not in (0, None, "0.00"))
    assert len(from_store["hazard_list"]) == 17  # the county's hazards but the voided one
    assert from_store["measure_list"]


def test_re_sent_events_are_dropped_and_the_views_stay_equal(app, clock, kafka_broker,
                                                              county_views):
    settings = relay_world(app, kafka_broker)
    positions = RelayPositions(app.recorder, settings.kafka_topic_prefix)
    end = positions.load()
    positions.save(end - 60)  # as if the last acknowledgements had been lost in a crash
    Relay(app, settings).run()
    resent = [r for r in stored_records(app)[end - 60:] if for_county(r, COUNTY)]
    assert resent

    consumer = consume(county_views, settings)
    assert consumer.progress.duplicates == len(resent)
    assert table_rows(county_views) == store_fed_county_views(app, COUNTY)


def test_a_consumer_resumes_after_what_it_applied(app, clock, kafka_broker, county_views):
    world = build_world(app)
    varied_history(world)
    settings = kafka_settings(app, kafka_broker)
    Relay(app, settings).run()
    first = consume(county_views, settings)
    hazard_traffic(world, 20)
    Relay(app, settings).run()
    second = consume(county_views, settings)
    third = consume(county_views, settings)

    assert first.progress.applied > 0
    assert second.progress.applied == 30  # ten hazards of the county, three events each
    assert second.progress.duplicates == 0 and third.progress.applied == 0
    assert table_rows(county_views) == store_fed_county_views(app, COUNTY)


def bad_records(good: bytes, other_type_header: bytes) -> dict[str, bytes]:
    """One record of each kind a consumer must refuse, by the reason it must give: `good`
    is a valid message, `other_type_header` the header of a smaller event type."""
    return {
        "bad_marker": b'{"event_type": "HazardReported"}',
        "unknown_fingerprint": good[:2] + os.urandom(8) + good[HEADER_SIZE:],
        "truncated": good[: len(good) // 2],
        "schema_mismatch": other_type_header + good[HEADER_SIZE:],
    }


def test_undecodable_records_go_to_the_dead_letter_topic_and_the_consumer_goes_on(
        app, clock, kafka_broker, county_views):
    from kafka import KafkaProducer

    settings = relay_world(app, kafka_broker, traffic=6)
    topic = f"{settings.kafka_topic_prefix}.events.{COUNTY}"
    messages = drain(kafka_broker.bootstrap, topic)
    good = next(m.value for m in messages if dict(m.headers)["event-type"] == b"HazardReported")
    short = next(m.value for m in messages if dict(m.headers)["event-type"] == b"HazardClosed")
    bad = bad_records(good, short[:HEADER_SIZE])
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    sent = {reason: producer.send(topic, value=value, key=b"bad", partition=1).get(10)
            for reason, value in bad.items()}
    lying = producer.send(topic, value=good, key=b"bad", partition=1,
                          headers=[("event-type", b"HazardClosed")]).get(10)
    producer.close()
    assert Codec().decode(good)  # the good record itself decodes

    consumer = consume(county_views, settings)
    assert consumer.progress.dead_letters == {"bad_marker": 1, "unknown_fingerprint": 1,
                                              "truncated": 1, "schema_mismatch": 2}
    assert table_rows(county_views) == store_fed_county_views(app, COUNTY)

    letters = drain(kafka_broker.bootstrap, f"{settings.kafka_topic_prefix}.dlq")
    by_offset = {int(dict(m.headers)["dlq-offset"]): m for m in letters}
    for reason, metadata in [*sent.items(), ("schema_mismatch", lying)]:
        letter = by_offset[metadata.offset]
        headers = dict(letter.headers)
        assert headers["dlq-reason"] == reason.encode()
        assert headers["dlq-topic"] == topic.encode()
        assert headers["dlq-partition"] == b"1"
        assert letter.key == b"bad"
        assert headers["dlq-detail"]
    assert by_offset[lying.offset].value == good
    assert len(letters) == 5

    again = consume(county_views, settings)  # the refused records are behind it now
    assert not again.progress.dead_letters and again.progress.applied == 0
