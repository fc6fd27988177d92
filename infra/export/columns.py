"""Arrow schemas of the events datasets, derived from the event catalogue
(`domain/event_types.py`), so the Parquet layout cannot drift from the domain.

Every dataset has the envelope columns, then the event type's own fields:

- value objects (a rectification plan, a listing, an enterprise's flags) become prefixed
  columns (`plan_measures`, `listing_deadline`, `flags_high_risk`);
- tuples become lists (of strings, or of structs for team members and sealed blocks);
- dates are date32, instants timestamp[us, UTC], ids and codes strings;
- money is stored in the domain as integer fen (`…_fen`) and exported as yuan,
  decimal(18, 2), under the name `…_yuan`;
- enumerations and a few known low-cardinality fields are dictionary-encoded.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc

from domain.event_types import event_classes, own_fields

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)
DICTIONARY = pa.dictionary(pa.int32(), pa.string())

LOW_CARDINALITY = frozenset({"sector", "discovering_level", "owner_level", "kind", "channel",
                             "responsible_unit", "section"})
"""Plain-string fields that take few distinct values, whatever the event type."""

YUAN_PER_FEN = pa.scalar(Decimal("0.01"))


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    path: tuple[str, ...]  # where the value sits in the stored event's JSON
    doc: str = ""

    @property
    def stored_type(self) -> pa.DataType:
        """How the value is written in the stored event's JSON, as Arrow's JSON reader reads
        it: instants and dates as ISO text, money as integer fen."""
        return pa.int64() if self.type == MONEY else _as_text(self.type)

    def array(self, stored: pa.ChunkedArray) -> pa.ChunkedArray:
        """The column from its stored values (`stored_type`), converted in bulk."""
        if self.type == DICTIONARY:
            return stored.dictionary_encode()
        if self.type == MONEY:  # fen → yuan, exactly: fen × 0.01 in decimals
            return pc.multiply(stored.cast(pa.decimal128(19, 0)), YUAN_PER_FEN).cast(MONEY)
        return stored if stored.type == self.type else stored.cast(self.type)


def _as_text(arrow_type: pa.DataType) -> pa.DataType:
    """`arrow_type` with its dates, instants and dictionaries as the JSON text stored."""
    if arrow_type in (TIMESTAMP, pa.date32(), DICTIONARY):
        return pa.string()
    if pa.types.is_list(arrow_type):
        return pa.list_(_as_text(arrow_type.value_type))
    if pa.types.is_struct(arrow_type):
        return pa.struct([pa.field(field.name, _as_text(field.type)) for field in arrow_type])
    return arrow_type


ENVELOPE: tuple[Column, ...] = (
    Column("position", pa.int64(), (), doc="notification-log position: the export's watermark"),
    Column("event_id", pa.string(), (), doc="stable event id (the same event, the same id)"),
    Column("aggregate_id", pa.string(), (), doc="the aggregate (hazard, enterprise, …)"),
    Column("aggregate_version", pa.int64(), (), doc="the event's version in its aggregate"),
    Column("occurred_at", TIMESTAMP, ("occurred_at",), doc="business time"),
    Column("recorded_at", TIMESTAMP, ("timestamp",), doc="when zhibao recorded it"),
    Column("actor_person_id", pa.string(), ("actor", "person_id"), doc="who acted"),
    Column("actor_org_id", pa.string(), ("actor", "org_id"), doc="for which org"),
    Column("actor_role", DICTIONARY, ("actor", "role"), doc="in which role"),
    Column("unit_code", DICTIONARY, ("unit_code",), doc="the unit the event concerns"),
    Column("month", DICTIONARY, (), doc="YYYY-MM of occurred_at in Asia/Shanghai: the "
                                        "reporting period"),
    Column("command_id", pa.string(), ("command_id",), doc="idempotency key, if given"),
    Column("prev_hash", pa.string(), (), doc="chain hash of the aggregate's previous event"),
    Column("hash", pa.string(), (), doc="SHA-256 chain hash over the event's content"),
)
PARTITIONS: tuple[tuple[str, str], ...] = (
    ("county", "county-level unit code over the event's unit (a unit above county level: its "
               "own code; no unit: __HIVE_DEFAULT_PARTITION__)"),
    ("recorded_year", "YYYY of recorded_at in Asia/Shanghai"),
)
"""County and recorded year, neither business month nor business year: at a city's volume
one event type in one county is a few dozen rows a month, business years reach back decades
(an enterprise registered in 1998), and thousands of tiny files are what warehouses read
worst; by recorded year, each run appends to the newest partitions. The `month` column and
the statistics on `occurred_at` select business periods."""


def dataset_name(event_type: str) -> str:
    """`HazardReported` → `hazard_reported`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()


@cache
def dataset_columns(event_type: str) -> tuple[Column, ...]:
    """Envelope columns, then the flattened own fields of the event type."""
    own: list[Column] = []
    for name, hint in own_fields(event_classes()[event_type]).items():
        own.extend(_columns(name, hint, (name,)))
    taken = {column.name for column in ENVELOPE} | {name for name, _ in PARTITIONS}
    clashes = taken.intersection(column.name for column in own)
    if clashes:
        raise TypeError(f"{event_type}: fields {sorted(clashes)} clash with envelope columns")
    return ENVELOPE + tuple(own)


def dataset_schema(event_type: str) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type) for c in dataset_columns(event_type)])


def _columns(name: str, hint: Any, path: tuple[str, ...]) -> list[Column]:
    hint = _without_none(hint)
    if dataclasses.is_dataclass(hint):
        return [column for field_name, field_hint in typing.get_type_hints(hint).items()
                for column in _columns(f"{name}_{field_name}", field_hint, (*path, field_name))]
    if hint is int and name.endswith("_fen"):
        return [Column(name.removesuffix("_fen") + "_yuan", MONEY, path,
                       "money in yuan (stored as fen)")]
    if (isinstance(hint, type) and issubclass(hint, Enum)) or (
            hint is str and name in LOW_CARDINALITY):
        return [Column(name, DICTIONARY, path)]
    return [Column(name, _arrow(hint), path)]


def _arrow(hint: Any) -> pa.DataType:
    """Arrow type of a field."""
    hint = _without_none(hint)
    if hint is bool:
        return pa.bool_()
    if hint is int:
        return pa.int64()
    if hint in (str, UUID) or (isinstance(hint, type) and issubclass(hint, Enum)):
        return pa.string()
    if hint is date:
        return pa.date32()
    if hint is datetime:
        return TIMESTAMP
    if typing.get_origin(hint) is tuple:
        return pa.list_(_arrow(typing.get_args(hint)[0]))
    if dataclasses.is_dataclass(hint):
        return pa.struct([pa.field(name, _arrow(field_hint))
                          for name, field_hint in typing.get_type_hints(hint).items()])
    raise TypeError(f"no Arrow type for {hint!r}")


def _without_none(hint: Any) -> Any:
    """`X | None` → X (every column is nullable)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def markdown_tables() -> str:
    """The README's tables of envelope columns and datasets (a test keeps them current)."""
    lines = ["| envelope column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.name}` | {_short(c.type)} | {c.doc} |" for c in ENVELOPE]
    lines += [f"| `{name}` (partition) | string | {doc} |" for name, doc in PARTITIONS]
    lines += ["", "| dataset | its own columns (string unless typed) |", "| --- | --- |"]
    for event_type in event_classes():
        own = dataset_columns(event_type)[len(ENVELOPE):]
        described = ", ".join(f"`{c.name}`" + ("" if c.type == pa.string() else
                                               f" {_short(c.type)}") for c in own)
        lines.append(f"| `{dataset_name(event_type)}` | {described or '—'} |")
    return "\n".join(lines) + "\n"


def _short(arrow_type: pa.DataType) -> str:
    if arrow_type == DICTIONARY:
        return "dictionary string"
    if pa.types.is_list(arrow_type) and pa.types.is_struct(arrow_type.value_type):
        fields = ", ".join(field.name for field in arrow_type.value_type)
        return f"list of struct ({fields})"
    return str(arrow_type).replace("[day]", "").replace("item: ", "")
