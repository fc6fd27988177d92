"""The codec: a stored event → Avro single-object encoding → the same `EventRecord` the store
gives, on both stores; every kind of bad message refused with its reason; messages written
with an older released schema still decode."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_writer

from domain.base import micros
from infra.kafka.avro import HEADER_SIZE, MARKER, Codec, DecodeError, EncodeError
from infra.store.records import event_payload
from schemas.generate import EVENTS_DIR, fingerprint_of
from tests.integration.test_kafka_relay import stored_records
from tests.support.builders import build_world
from tests.support.kafka_world import varied_history


@pytest.fixture
def history(app, clock):
    varied_history(build_world(app))
    return app


def test_every_stored_event_decodes_to_the_record_the_store_gives(history):
    codec = Codec()
    notifications = history.recorder.select_notifications(start=1, limit=10_000)
    expected = stored_records(history)
    decoded = []
    for notification in notifications:
        encoded = codec.encode(notification)
        assert encoded.value[:2] == MARKER
        assert encoded.value[2:HEADER_SIZE] == codec.current[encoded.event_type].fingerprint
        decoded.append(codec.decode(encoded.value, encoded.event_type))
    assert decoded == expected
    assert {r.event_type for r in decoded} >= {"HazardListed", "RectificationPlanSubmitted",
                                               "InspectionPlanned", "AdminUnitRecoded"}
    plan = next(r for r in decoded if r.event_type == "RectificationPlanSubmitted"
                and r.data["plan"]["deadline"])
    assert plan.data["plan"] == {
        "measures": "加装报警装置", "responsible_org": "设备部", "responsible_person": "李四",
        "funds_fen": 12_500_000, "funds_source": "企业自筹", "deadline": "2021-04-15",
        "contingency_plan": "停用储罐", "interim_controls": "专人巡查"}
    stored = next(n for n in notifications if n.id == plan.position)
    assert plan.occurred_at == micros(datetime.fromisoformat(
        event_payload(stored.state)["occurred_at"]))  # the instant, as microseconds


def test_each_kind_of_bad_message_is_refused_with_its_reason(history):
    codec = Codec()
    notifications = history.recorder.select_notifications(start=1, limit=10_000)
    reported = next(codec.encode(n) for n in notifications if n.topic.endswith("HazardReported"))
    closed = next(codec.encode(n) for n in notifications if n.topic.endswith("HazardClosed"))
    cases = {
        b"": "bad_marker",
        b"\xc3\x01\x00": "bad_marker",
        b"\x00\x01" + reported.value[2:]: "bad_marker",
        MARKER + b"\x00" * 8 + reported.value[HEADER_SIZE:]: "unknown_fingerprint",
        reported.value[:-3]: "truncated",
        reported.value[:HEADER_SIZE]: "truncated",
        reported.value + b"\x00": "schema_mismatch",
        closed.value[:HEADER_SIZE] + reported.value[HEADER_SIZE:]: "schema_mismatch",
    }
    for message, reason in cases.items():
        with pytest.raises(DecodeError) as refused:
            codec.decode(message)
        assert refused.value.reason == reason, message
    with pytest.raises(DecodeError, match="header says HazardClosed") as lying:
        codec.decode(reported.value, "HazardClosed")
    assert lying.value.reason == "schema_mismatch"


def test_a_message_written_with_an_older_release_decodes_into_the_current_shape(
        history, tmp_path: Path):
    """v0 of HazardConfirmed had no local_grade and one grade fewer; v0 data still reads."""
    current = json.loads((EVENTS_DIR / "HazardConfirmed.avsc").read_text())
    older = copy.deepcopy(current)
    older["fields"] = [f for f in older["fields"] if f["name"] != "local_grade"]
    grade = next(f for f in older["fields"] if f["name"] == "grade")["type"]
    grade["symbols"].remove("major")
    (tmp_path / "v0").mkdir()
    (tmp_path / "v0" / "HazardConfirmed.avsc").write_text(json.dumps(older))
    codec = Codec(released_dirs=[tmp_path / "v0"])

    notification = next(n for n in history.recorder.select_notifications(start=1, limit=10_000)
                        if n.topic.endswith("HazardConfirmed"))
    record = next(r for r in stored_records(history) if r.position == notification.id)
    datum = fastavro_datum(codec, notification)
    del datum["local_grade"]
    body = BytesIO()
    schemaless_writer(body, parse_schema(older), datum)
    message = MARKER + fingerprint_of(older) + body.getvalue()
    assert fingerprint_of(older) != fingerprint_of(current)

    decoded = codec.decode(message)
    assert decoded.data == {**record.data, "local_grade": None}
    assert decoded.occurred_at == record.occurred_at


def fastavro_datum(codec: Codec, notification) -> dict:
    """What fastavro itself reads from the codec's message, with its logical types."""
    from fastavro import schemaless_reader

    value = codec.encode(notification).value
    schema = json.loads((EVENTS_DIR / "HazardConfirmed.avsc").read_text())
    return schemaless_reader(BytesIO(value[HEADER_SIZE:]), parse_schema(schema))


def test_an_event_without_a_published_schema_is_named_in_the_error(history, tmp_path: Path):
    for path in EVENTS_DIR.glob("*.avsc"):
        if path.stem != "HazardReported":
            (tmp_path / path.name).write_text(path.read_text())
    codec = Codec(tmp_path, released_dirs=[])
    notification = next(n for n in history.recorder.select_notifications(start=1, limit=10_000)
                        if n.topic.endswith("HazardReported"))
    with pytest.raises(EncodeError, match=rf"event {notification.id} \(HazardReported of "
                                          rf"{notification.originator_id} v1\): no schema"):
        codec.encode(notification)
