"""Compatibility rule: every current schema must be backward compatible (a reader with the
current schema reads data written with the last released one) and forward compatible (a
reader still on the released schema reads data written with the current one).

Checked by Avro schema resolution itself: fastavro writes sample data with one schema and
reads it with the other. The samples take every union branch and every enum symbol, so a
removed symbol, a new field without a default or a changed type fails here and in the suite.
"""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any
from uuid import UUID

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.generate import EVENTS_DIR, released_versions

PRIMITIVE_SAMPLES: dict[str, Any] = {
    "null": None, "string": "x", "bytes": b"x", "boolean": True, "int": 1, "long": 1,
    "float": 0.5, "double": 0.5,
}


def load_dir(directory: Path) -> dict[str, Any]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.avsc"))}


def incompatibilities(current: dict[str, Any] | None = None,
                      released: dict[str, Any] | None = None) -> list[str]:
    """Problems between the current schemas and the last released version (none released:
    nothing to break). An event type may be added, never removed."""
    current = load_dir(EVENTS_DIR) if current is None else current
    if released is None:
        versions = released_versions()
        if not versions:
            return []
        released = load_dir(versions[-1])
    problems = []
    for name, old in released.items():
        new = current.get(name)
        if new is None:
            problems.append(f"{name}: removed, but data written with it must stay readable")
            continue
        problems += [f"{name}: backward ({why})" for why in resolution_errors(old, new)]
        problems += [f"{name}: forward ({why})" for why in resolution_errors(new, old)]
    return problems


def resolution_errors(writer: Any, reader: Any) -> list[str]:
    """Why data written with `writer` cannot be read with `reader` (empty: it can)."""
    parsed_writer, parsed_reader = parse_schema(writer), parse_schema(reader)
    for datum in samples(writer):
        buffer = BytesIO()
        schemaless_writer(buffer, parsed_writer, datum)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, parsed_writer, parsed_reader)
        except Exception as e:  # any failure to resolve is an incompatibility
            return [f"{type(e).__name__}: {e}"]
    return []


def samples(schema: Any) -> list[Any]:
    """Data for `schema`: sample i takes branch i of every union and symbol i of every enum
    (cycling), so together the samples visit every branch and symbol."""
    return [_datum(schema, i, {}) for i in range(max(2, _width(schema)))]


def _full_name(schema: dict[str, Any]) -> str:
    name = schema["name"]
    return name if "." in name or "namespace" not in schema else f"{schema['namespace']}.{name}"


def _width(schema: Any) -> int:
    """The most branches or symbols any union or enum in the schema has."""
    if isinstance(schema, list):
        return max(len(schema), *(_width(s) for s in schema))
    if not isinstance(schema, dict):
        return 1  # a primitive, or a named type already counted where it was defined
    kind = schema["type"]
    if kind == "record":
        return max([1, *(_width(f["type"]) for f in schema["fields"])])
    if kind == "enum":
        return len(schema["symbols"])
    if kind == "array":
        return _width(schema["items"])
    if kind == "map":
        return _width(schema["values"])
    return _width(kind)


def _datum(schema: Any, i: int, named: dict[str, Any]) -> Any:
    if isinstance(schema, str):
        return _datum(named[schema], i, named) if schema in named else PRIMITIVE_SAMPLES[schema]
    if isinstance(schema, list):
        return _datum(schema[i % len(schema)], i, named)
    kind = schema["type"]
    if kind == "record":
        named[_full_name(schema)] = schema
        return {f["name"]: _datum(f["type"], i, named) for f in schema["fields"]}
    if kind == "enum":
        named[_full_name(schema)] = schema
        return schema["symbols"][i % len(schema["symbols"])]
    if kind == "array":
        return [_datum(schema["items"], i, named)]
    if kind == "map":
        return {"k": _datum(schema["values"], i, named)}
    if schema.get("logicalType") == "uuid":
        return str(UUID(int=i))
    return _datum(kind, i, named)
