"""Derive the published Avro schemas from the domain: one record per event type, the
envelope first, then the event's own fields (domain/event_types.py), documented from
schemas/docs.toml.

    python -m schemas            # rewrite events/, envelope.avsc, fingerprints.json
    python -m schemas --release  # also freeze them as schemas/released/vN (after a check)

The files are committed so county teams can decode messages with any Avro library and no
zhibao code; the suite fails when they drift from the domain (tests/test_schemas.py).

Type mapping: str → string, int → long, bool → boolean, UUID → string/uuid, date →
int/date, datetime → long/timestamp-micros, X | None → ["null", X] with default null,
tuple[X, ...] → array, StrEnum → enum with an extra symbol UNKNOWN as its default (a reader
built from an older schema reads a symbol added later as UNKNOWN instead of failing),
dataclass → record.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import types
import typing
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

from fastavro.schema import fingerprint, to_parsing_canonical_form

from domain.base import Actor
from domain.event_types import event_classes, own_fields

SCHEMA_DIR = Path(__file__).parent
EVENTS_DIR = SCHEMA_DIR / "events"
RELEASED_DIR = SCHEMA_DIR / "released"
ENVELOPE_FILE = SCHEMA_DIR / "envelope.avsc"
FINGERPRINTS_FILE = SCHEMA_DIR / "fingerprints.json"
DOCS_FILE = SCHEMA_DIR / "docs.toml"

NAMESPACE = "zhibao"
EVENT_NAMESPACE = "zhibao.events"
UNKNOWN_SYMBOL = "UNKNOWN"
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

UUID_TYPE = {"type": "string", "logicalType": "uuid"}
TIMESTAMP_TYPE = {"type": "long", "logicalType": "timestamp-micros"}
DATE_TYPE = {"type": "int", "logicalType": "date"}
PRIMITIVES: dict[Any, Any] = {
    str: "string", int: "long", bool: "boolean", UUID: UUID_TYPE, date: DATE_TYPE,
    datetime: TIMESTAMP_TYPE,
}

ENVELOPE: tuple[tuple[str, Any], ...] = (
    ("event_id", UUID), ("event_type", str), ("aggregate_id", UUID),
    ("aggregate_version", int), ("position", int), ("occurred_at", datetime),
    ("recorded_at", datetime), ("actor", Actor), ("unit_code", str),
    ("command_id", str | None), ("content_hash", str), ("previous_hash", str),
)
"""The envelope every message starts with (docs under [envelope] in docs.toml)."""


class SchemaDocError(ValueError):
    """A schema element has no documentation in schemas/docs.toml."""


def fingerprint_of(schema: Any) -> bytes:
    """CRC-64-AVRO fingerprint of the schema's parsing canonical form, in the byte order
    single-object encoding writes it (little-endian)."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class Docs:
    """Lookups in docs.toml that remember what was used, so stale entries can be found."""

    def __init__(self, path: Path = DOCS_FILE) -> None:
        with path.open("rb") as f:
            self._table = tomllib.load(f)
        self.used: set[tuple[str, ...]] = set()

    def _get(self, *keys: str) -> str | None:
        node: Any = self._table
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        self.used.add(keys)
        return str(node)

    def require(self, what: str, *candidates: tuple[str, ...]) -> str:
        for keys in candidates:
            found = self._get(*keys)
            if found is not None:
                return found
        where = " or ".join("[" + ".".join(keys[:-1]) + "] " + keys[-1] for keys in candidates)
        raise SchemaDocError(f"{what}: no doc in {DOCS_FILE.name}; add {where}")

    def unused(self) -> list[str]:
        """Entries no schema element used: documentation of something that is gone."""
        found = []
        for section, entries in self._table.items():
            for key, value in entries.items():
                if isinstance(value, dict):
                    found += [f"{section}.{key}.{k}" for k in value
                              if (section, key, k) not in self.used]
                elif (section, key) not in self.used:
                    found.append(f"{section}.{key}")
        return found


class SchemaBuilder:
    """Builds one self-contained schema at a time: a named type is defined at its first use
    and referred to by name afterwards, as Avro requires."""

    def __init__(self, docs: Docs) -> None:
        self.docs = docs
        self._defined: set[str] = set()

    def event(self, name: str, cls: type) -> dict[str, Any]:
        self._defined = set()
        envelope = [self._field("envelope", field, hint, ("envelope", field))
                    for field, hint in ENVELOPE]
        taken = {field for field, _ in ENVELOPE}
        own = []
        for field, hint in own_fields(cls).items():
            if field in taken:
                raise TypeError(f"{name}.{field}: the name is taken by the envelope")
            own.append(self._field(name, field, hint, ("fields", f"{name}.{field}"),
                                   ("fields", field)))
        return {"type": "record", "name": name, "namespace": EVENT_NAMESPACE,
                "doc": self.docs.require(name, ("events", name)), "fields": envelope + own}

    def envelope(self) -> dict[str, Any]:
        self._defined = set()
        return {"type": "record", "name": "Envelope", "namespace": NAMESPACE,
                "doc": self.docs.require("envelope", ("envelope", "doc")),
                "fields": [self._field("envelope", field, hint, ("envelope", field))
                           for field, hint in ENVELOPE]}

    def _field(self, owner: str, name: str, hint: Any, *doc_keys: tuple[str, ...],
               default: Any = dataclasses.MISSING) -> dict[str, Any]:
        field: dict[str, Any] = {"name": name, "type": self._type(hint, f"{owner}.{name}"),
                                 "doc": self.docs.require(f"{owner}.{name}", *doc_keys)}
        if default is not dataclasses.MISSING:
            field["default"] = default
        elif _optional(hint):
            field["default"] = None
        return field

    def _type(self, hint: Any, where: str) -> Any:
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            if not _optional(hint):
                raise TypeError(f"{where}: only `X | None` unions map to Avro, not {hint}")
            (inner,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
            return ["null", self._type(inner, where)]
        if origin is tuple:
            item, ellipsis = typing.get_args(hint)
            if ellipsis is not Ellipsis:
                raise TypeError(f"{where}: only tuple[X, ...] maps to an Avro array")
            return {"type": "array", "items": self._type(item, where)}
        if hint in PRIMITIVES:
            return PRIMITIVES[hint]
        if isinstance(hint, type) and issubclass(hint, Enum):
            return self._named(hint, self._enum)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self._named(hint, self._record)
        raise TypeError(f"{where}: {hint!r} has no Avro mapping")

    def _named(self, cls: type, build: Any) -> Any:
        full_name = f"{NAMESPACE}.{cls.__name__}"
        if full_name in self._defined:
            return full_name
        self._defined.add(full_name)
        return build(cls)

    def _enum(self, cls: type[Enum]) -> dict[str, Any]:
        symbols = [str(member.value) for member in cls]
        for symbol in symbols:
            if not _AVRO_NAME.fullmatch(symbol) or symbol == UNKNOWN_SYMBOL:
                raise TypeError(f"{cls.__name__}: {symbol!r} cannot be an Avro enum symbol")
        return {"type": "enum", "name": cls.__name__, "namespace": NAMESPACE,
                "doc": self.docs.require(cls.__name__, ("types", cls.__name__, "doc")),
                "symbols": [*symbols, UNKNOWN_SYMBOL], "default": UNKNOWN_SYMBOL}

    def _record(self, cls: type) -> dict[str, Any]:
        name = cls.__name__
        hints = typing.get_type_hints(cls)
        fields = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
            fields.append(self._field(name, f.name, hints[f.name], ("types", name, f.name),
                                      default=default))
        return {"type": "record", "name": name, "namespace": NAMESPACE,
                "doc": self.docs.require(name, ("types", name, "doc")), "fields": fields}


def _optional(hint: Any) -> bool:
    args = typing.get_args(hint)
    return typing.get_origin(hint) in (typing.Union, types.UnionType) \
        and len(args) == 2 and type(None) in args


def build(docs: Docs | None = None) -> dict[str, dict[str, Any]]:
    """Every event type's schema by name, from the current domain."""
    builder = SchemaBuilder(docs or Docs())
    return {name: builder.event(name, cls) for name, cls in sorted(event_classes().items())}


def render(schema: Any) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def expected_files(docs: Docs | None = None) -> dict[Path, str]:
    """Every generated file and its content (paths relative to schemas/)."""
    docs = docs or Docs()
    schemas = build(docs)
    files = {Path("events") / f"{name}.avsc": render(schema) for name, schema in schemas.items()}
    files[Path(ENVELOPE_FILE.name)] = render(SchemaBuilder(docs).envelope())
    files[Path(FINGERPRINTS_FILE.name)] = render(fingerprint_index(schemas))
    return files


def fingerprint_index(current: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Fingerprint (hex, as written after the 0xC3 0x01 marker) → event type and schema file,
    for the current schemas and every released version."""
    index = {fingerprint_of(schema).hex(): {"event_type": name, "schema": f"events/{name}.avsc"}
             for name, schema in current.items()}
    for version_dir in released_versions():
        for path in sorted(version_dir.glob("*.avsc")):
            key = fingerprint_of(json.loads(path.read_text())).hex()
            index.setdefault(key, {"event_type": path.stem,
                                   "schema": str(path.relative_to(SCHEMA_DIR))})
    return dict(sorted(index.items()))


def released_versions() -> list[Path]:
    """Released schema directories, oldest first (released/v1, released/v2, …)."""
    dirs = [d for d in RELEASED_DIR.glob("v*") if d.is_dir() and d.name[1:].isdigit()]
    return sorted(dirs, key=lambda d: int(d.name[1:]))


def write(files: dict[Path, str]) -> None:
    stale = set(EVENTS_DIR.glob("*.avsc")) - {SCHEMA_DIR / p for p in files}
    for path in stale:
        path.unlink()
    for relative, content in files.items():
        path = SCHEMA_DIR / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def release() -> Path:
    """Freeze the current schemas as the next released version."""
    versions = released_versions()
    target = RELEASED_DIR / f"v{int(versions[-1].name[1:]) + 1 if versions else 1}"
    target.mkdir(parents=True)
    for path in sorted(EVENTS_DIR.glob("*.avsc")):
        (target / path.name).write_text(path.read_text())
    return target
