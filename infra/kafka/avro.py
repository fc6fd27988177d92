"""The Avro codec of published events: a stored event becomes one message in Avro
single-object encoding, and a message becomes the `EventRecord` every fold reads.

    0xC3 0x01 | 8-byte CRC-64-AVRO fingerprint of the writer schema (little-endian) | body

The schemas are the committed files in schemas/ (the current ones and every released
version), so a message written with an older release still decodes: it is resolved against
the current schema of its event type.

Speed: the stored JSON already holds UUIDs as strings, so the codec encodes and decodes with
copies of the schemas stripped of logical types (the bytes are the same; logical types are
only annotations). Only dates and instants are converted, by converters compiled once per
schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from domain.base import event_id_text, from_micros
from infra.store.records import event_type, iso_micros, unpack_record
from projections.events import EventRecord
from schemas.generate import ENVELOPE, EVENTS_DIR, fingerprint_of, released_versions

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
ENVELOPE_NAMES = frozenset(name for name, _ in ENVELOPE)

Convert = Callable[[Any], Any]


class DecodeError(ValueError):
    """A message that is not a zhibao event. `reason` is one of REASONS."""

    REASONS = ("bad_marker", "unknown_fingerprint", "truncated", "schema_mismatch")

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in self.REASONS
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EncodeError(ValueError):
    """A stored event that does not fit its published schema (the schemas are out of date)."""


class Encoded(NamedTuple):
    """One stored event ready to publish (a tuple: the relay makes one per event)."""

    position: int
    event_type: str
    aggregate_id: str  # also the Kafka key
    aggregate_version: int
    unit_code: str
    fingerprint: bytes
    value: bytes

    def describe(self) -> str:
        return (f"event {self.position} ({self.event_type} of {self.aggregate_id} "
                f"v{self.aggregate_version}, {len(self.value)} bytes)")


def _date_to_days(iso: str) -> int:
    return date.fromisoformat(iso).toordinal() - EPOCH_ORDINAL


def _days_to_date(days: int) -> str:
    return date.fromordinal(days + EPOCH_ORDINAL).isoformat()


def _instant_to_iso(value: int) -> str:
    return from_micros(value).isoformat()


LOGICAL: dict[str, tuple[Convert, Convert]] = {
    "date": (_date_to_days, _days_to_date),
    "timestamp-micros": (iso_micros, _instant_to_iso),
}
"""Logical type → (stored JSON value → Avro value, Avro value → stored JSON value)."""


def strip_logical_types(schema: Any) -> Any:
    if isinstance(schema, list):
        return [strip_logical_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: (strip_logical_types(value) if key in ("type", "items", "values", "fields")
                  else value)
            for key, value in schema.items() if key != "logicalType"}


def compile_converter(schema: Any, direction: int, named: dict[str, Any]) -> Convert | None:
    """A function converting a value of `schema` between stored JSON (dates as ISO strings)
    and Avro (dates as day numbers): direction 0 encodes, 1 decodes. None: nothing to do."""
    if isinstance(schema, str):
        return named.get(schema)
    if isinstance(schema, list):
        branches = [compile_converter(s, direction, named) for s in schema]
        inner = next((b for b in branches if b is not None), None)
        if inner is None:
            return None
        if len(schema) != 2 or "null" not in schema:
            raise TypeError(f"unsupported union with converted values: {schema}")
        return lambda value: None if value is None else inner(value)
    logical = schema.get("logicalType")
    if logical in LOGICAL:
        return LOGICAL[logical][direction]
    kind = schema["type"]
    if kind == "array":
        item = compile_converter(schema["items"], direction, named)
        return None if item is None else lambda values: [item(v) for v in values]
    if kind == "record":
        full_name = _full_name(schema)
        converters = {f["name"]: c for f in schema["fields"]
                      if (c := compile_converter(f["type"], direction, named)) is not None}
        convert = None if not converters else _record_converter(converters)
        named[full_name] = convert
        return convert
    if kind == "enum":
        named[_full_name(schema)] = None
        return None
    return compile_converter(kind, direction, named) if isinstance(kind, list | dict) else None


def _record_converter(converters: dict[str, Convert]) -> Convert:
    def convert(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, **{name: c(record[name]) for name, c in converters.items()}}
    return convert


def _full_name(schema: dict[str, Any]) -> str:
    name = schema["name"]
    return name if "." in name or "namespace" not in schema else f"{schema['namespace']}.{name}"


@dataclass(frozen=True)
class EventSchema:
    """One writer schema, ready to encode with or to decode from."""

    event_type: str
    fingerprint: bytes
    writer: Any  # parsed, logical types stripped
    reader: Any | None  # the current schema, when this one is an older release
    own_fields: tuple[tuple[str, Convert | None], ...]  # decode: Avro → stored JSON
    encoders: tuple[tuple[str, Convert], ...]  # encode: stored JSON → Avro

    @property
    def header(self) -> bytes:
        return MARKER + self.fingerprint

    @classmethod
    def load(cls, schema: dict[str, Any], current: EventSchema | None = None) -> EventSchema:
        encode_named: dict[str, Any] = {}
        decode_named: dict[str, Any] = {}
        own, encoders = [], []
        for field in schema["fields"]:
            enc = compile_converter(field["type"], 0, encode_named)
            dec = compile_converter(field["type"], 1, decode_named)
            if field["name"] not in ENVELOPE_NAMES:
                own.append((field["name"], dec))
                if enc is not None:
                    encoders.append((field["name"], enc))
        writer = parse_schema(strip_logical_types(schema))
        return cls(schema["name"], fingerprint_of(schema), writer,
                   None if current is None else current.writer,
                   tuple(own) if current is None else current.own_fields, tuple(encoders))


class Codec:
    """Encodes stored events with the current schemas; decodes messages written with the
    current or any released schema."""

    def __init__(self, events_dir: Path = EVENTS_DIR,
                 released_dirs: Iterable[Path] | None = None) -> None:
        self.current: dict[str, EventSchema] = {}
        self.by_fingerprint: dict[bytes, EventSchema] = {}
        for path in sorted(events_dir.glob("*.avsc")):
            loaded = EventSchema.load(json.loads(path.read_text()))
            self.current[loaded.event_type] = loaded
            self.by_fingerprint[loaded.fingerprint] = loaded
        for directory in released_versions() if released_dirs is None else released_dirs:
            for path in sorted(directory.glob("*.avsc")):
                schema = json.loads(path.read_text())
                if fingerprint_of(schema) not in self.by_fingerprint:
                    older = EventSchema.load(schema, self.current[path.stem])
                    self.by_fingerprint[older.fingerprint] = older

    # -- encoding --------------------------------------------------------------------------

    def encode(self, notification: Notification) -> Encoded:
        name = event_type(notification.topic)
        schema = self.current.get(name)
        aggregate_id = notification.originator_id
        version = notification.originator_version
        if schema is None:
            raise EncodeError(f"event {notification.id} ({name} of {aggregate_id} v{version}): "
                              f"no schema for {name} in schemas/events — run "
                              "`python -m schemas`")
        previous_hash, content_hash, payload = unpack_record(notification.state)
        datum = orjson.loads(payload)
        for field, convert in schema.encoders:
            datum[field] = convert(datum[field])
        aggregate = str(aggregate_id)
        datum.update(
            event_id=event_id_text(aggregate, version), event_type=name,
            aggregate_id=aggregate, aggregate_version=version,
            position=notification.id, occurred_at=iso_micros(datum["occurred_at"]),
            recorded_at=iso_micros(datum["timestamp"]), content_hash=content_hash,
            previous_hash=previous_hash)
        buffer = BytesIO()
        buffer.write(schema.header)
        try:
            schemaless_writer(buffer, schema.writer, datum)
        except (ValueError, TypeError, KeyError) as e:
            raise EncodeError(f"event {notification.id} ({name} of {aggregate_id} v{version}) "
                              f"does not fit schemas/events/{name}.avsc: {e}") from e
        return Encoded(notification.id, name, aggregate, version, datum["unit_code"],
                       schema.fingerprint, buffer.getvalue())

    # -- decoding --------------------------------------------------------------------------

    def schema_of(self, value: bytes) -> EventSchema:
        """The writer schema a message names, or DecodeError."""
        if len(value) < HEADER_SIZE or value[:2] != MARKER:
            raise DecodeError("bad_marker", f"does not start with C3 01 and an 8-byte "
                                            f"fingerprint (starts {value[:10].hex(' ')})")
        schema = self.by_fingerprint.get(value[2:HEADER_SIZE])
        if schema is None:
            raise DecodeError("unknown_fingerprint",
                              f"no schema in schemas/ has fingerprint {value[2:10].hex()}")
        return schema

    def decode(self, value: bytes, claimed_type: str | None = None) -> EventRecord:
        """The event in a message. `claimed_type` is the event type its header names, if
        any; a contradiction is a schema mismatch."""
        schema = self.schema_of(value)
        if claimed_type is not None and claimed_type != schema.event_type:
            raise DecodeError("schema_mismatch", f"header says {claimed_type}, fingerprint "
                                                 f"says {schema.event_type}")
        body = BytesIO(value)
        body.seek(HEADER_SIZE)
        try:
            datum = schemaless_reader(body, schema.writer, schema.reader)
        except EOFError as e:
            raise DecodeError("truncated", f"{schema.event_type} body ends early: {e}") from e
        except (ValueError, IndexError, KeyError, TypeError) as e:
            raise DecodeError("schema_mismatch",
                              f"body does not match {schema.event_type}: "
                              f"{type(e).__name__}: {e}") from e
        left = len(value) - body.tell()
        if left or datum["event_type"] != schema.event_type:
            raise DecodeError("schema_mismatch",
                              f"a {datum['event_type']} body under the {schema.event_type} "
                              f"schema ({left} bytes left over)")
        return EventRecord(
            position=datum["position"], event_type=schema.event_type,
            originator_id=str(UUID(datum["aggregate_id"])),
            originator_version=datum["aggregate_version"],
            occurred_at=datum["occurred_at"], recorded_at=datum["recorded_at"],
            unit_code=datum["unit_code"],
            actor_org_id=datum["actor"]["org_id"],
            data={name: datum[name] if convert is None else convert(datum[name])
                  for name, convert in schema.own_fields},
        )
