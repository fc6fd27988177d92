"""The published Avro schemas: derived from the domain, documented, and compatible both ways
with the last released version — checked by fastavro's own schema resolution."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fastavro import parse_schema

from domain import event_types
from domain.base import ZhibaoAggregate
from schemas.compat import incompatibilities, load_dir, resolution_errors
from schemas.generate import (
    DOCS_FILE,
    EVENTS_DIR,
    SCHEMA_DIR,
    UNKNOWN_SYMBOL,
    Docs,
    SchemaDocError,
    build,
    expected_files,
    fingerprint_of,
    released_versions,
)


def test_committed_schemas_are_generated_from_the_current_domain():
    expected = expected_files()
    for relative, content in expected.items():
        path = SCHEMA_DIR / relative
        assert path.is_file(), f"{relative} is missing: run python -m schemas"
        assert path.read_text() == content, f"{relative} drifted: run python -m schemas"
    committed = {p.relative_to(SCHEMA_DIR) for p in EVENTS_DIR.glob("*.avsc")}
    assert committed == {p for p in expected if p.parts[0] == "events"}


def test_every_event_type_and_field_is_documented_and_no_doc_is_stale():
    docs = Docs()
    for schema in build(docs).values():
        assert schema["doc"]
        assert all(field["doc"] for field in schema["fields"])
    expected_files(docs)
    assert docs.unused() == []


def test_schemas_use_logical_types_and_forward_compatible_enums():
    schema = json.loads((EVENTS_DIR / "HazardConfirmed.avsc").read_text())
    types = {field["name"]: field["type"] for field in schema["fields"]}
    assert types["occurred_at"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert types["deadline"] == {"type": "int", "logicalType": "date"}
    assert types["treating_org_id"] == {"type": "string", "logicalType": "uuid"}
    assert types["local_grade"] == ["null", "string"]
    assert types["grade"]["type"] == "enum"
    assert types["grade"]["symbols"][-1] == types["grade"]["default"] == UNKNOWN_SYMBOL
    fine = json.loads((EVENTS_DIR / "FineImposed.avsc").read_text())
    amount = next(f for f in fine["fields"] if f["name"] == "amount_fen")
    assert amount["type"] == "long" and "fen" in amount["doc"]


def test_the_current_schemas_are_compatible_with_the_last_release():
    assert released_versions(), "no released version under schemas/released"
    assert incompatibilities() == []


def _released(name: str) -> dict:
    return json.loads((released_versions()[-1] / f"{name}.avsc").read_text())


def _with_field(schema: dict, field: dict) -> dict:
    changed = copy.deepcopy(schema)
    changed["fields"].append(field)
    return changed


def _retyped(schema: dict, name: str, new_type: object) -> dict:
    changed = copy.deepcopy(schema)
    next(f for f in changed["fields"] if f["name"] == name)["type"] = new_type
    return changed


def _without(schema: dict, name: str) -> dict:
    changed = copy.deepcopy(schema)
    changed["fields"] = [f for f in changed["fields"] if f["name"] != name]
    return changed


def _enum_symbol_added(schema: dict) -> dict:
    changed = copy.deepcopy(schema)
    grade = next(f for f in changed["fields"] if f["name"] == "grade")["type"]
    grade["symbols"].insert(-1, "serious")
    return changed


BREAKING = {
    "a new field without a default": (
        lambda s: _with_field(s, {"name": "new", "type": "string", "doc": "x"}), "backward"),
    "a field's type changed": (lambda s: _retyped(s, "notice_no", ["null", "long"]), "backward"),
    "a required field removed": (lambda s: _without(s, "deadline"), "forward"),
}
COMPATIBLE = {
    "a new field with a default": lambda s: _with_field(
        s, {"name": "new", "type": ["null", "string"], "default": None, "doc": "x"}),
    "an optional field removed": lambda s: _without(s, "notice_no"),
    "an enum symbol added": _enum_symbol_added,
}


@pytest.mark.parametrize("change", BREAKING)
def test_a_breaking_change_fails_the_check(change):
    mutate, direction = BREAKING[change]
    released = _released("HazardConfirmed")
    problems = incompatibilities({"HazardConfirmed": mutate(released)},
                                 {"HazardConfirmed": released})
    assert problems and all(p.startswith("HazardConfirmed: ") for p in problems)
    assert any(direction in p for p in problems), problems


@pytest.mark.parametrize("change", COMPATIBLE)
def test_a_compatible_change_passes_the_check(change):
    released = _released("HazardConfirmed")
    assert incompatibilities({"HazardConfirmed": COMPATIBLE[change](released)},
                             {"HazardConfirmed": released}) == []


def test_removing_an_event_type_fails_the_check():
    released = load_dir(released_versions()[-1])
    current = {k: v for k, v in released.items() if k != "HazardVoided"}
    assert incompatibilities(current, released) == [
        "HazardVoided: removed, but data written with it must stay readable"]


def test_an_old_reader_sees_a_new_enum_symbol_as_unknown():
    released = _released("HazardConfirmed")
    newer = _enum_symbol_added(released)
    assert resolution_errors(newer, released) == []
    without_default = copy.deepcopy(released)
    grade = next(f for f in without_default["fields"] if f["name"] == "grade")["type"]
    del grade["default"]
    assert resolution_errors(newer, without_default) != []


def test_fingerprints_are_crc64_avro_as_java_computes_them():
    """Reference values from the Avro project's own fingerprint tests (Java longs)."""
    assert fingerprint_of("null") == (7195948357588979594).to_bytes(8, "little", signed=True)
    record = {"name": "foo", "type": "record", "fields": [{"name": "f1", "type": "boolean"}]}
    assert fingerprint_of(record) == (7843277075252814651).to_bytes(8, "little", signed=True)


def test_every_committed_schema_parses_and_the_index_names_each_fingerprint():
    index = json.loads((SCHEMA_DIR / "fingerprints.json").read_text())
    for path in [*EVENTS_DIR.glob("*.avsc"), *(SCHEMA_DIR / "released").glob("v*/*.avsc")]:
        schema = json.loads(path.read_text())
        parse_schema(schema)
        entry = index[fingerprint_of(schema).hex()]
        assert entry["event_type"] == path.stem
        assert (SCHEMA_DIR / entry["schema"]).read_text() == path.read_text()


class Inventory(ZhibaoAggregate):
    """A stand-in for an aggregate a later feature registers."""

    class StockCounted(ZhibaoAggregate.Created):
        items: int
        counted_on: str | None


@pytest.fixture
def inventory_registered(monkeypatch):
    monkeypatch.setattr(event_types, "AGGREGATES", event_types.AGGREGATES)
    event_types.register_aggregate(Inventory)
    yield
    event_types.event_classes.cache_clear()


def test_a_newly_registered_aggregate_gets_a_schema_once_documented(inventory_registered,
                                                                    tmp_path: Path):
    with pytest.raises(SchemaDocError, match=r"StockCounted\.items: no doc in docs.toml"):
        build()
    docs = tmp_path / "docs.toml"
    docs.write_text(DOCS_FILE.read_text().replace(
        "[events]\n", "[events]\nStockCounted = \"Stock was counted.\"\n", 1).replace(
        "[fields]\n", "[fields]\nitems = \"Items counted.\"\n"
                      "\"StockCounted.counted_on\" = \"Day of the count.\"\n", 1))
    schema = build(Docs(docs))["StockCounted"]
    own = {f["name"]: f for f in schema["fields"][-2:]}
    assert own["items"] == {"name": "items", "type": "long", "doc": "Items counted."}
    assert own["counted_on"]["type"] == ["null", "string"]
    assert own["counted_on"]["default"] is None


def test_an_undocumented_field_is_named_in_the_error(inventory_registered, tmp_path: Path):
    docs = tmp_path / "docs.toml"
    docs.write_text(DOCS_FILE.read_text().replace(
        "[events]\n", "[events]\nStockCounted = \"Stock was counted.\"\n", 1))
    with pytest.raises(SchemaDocError, match=r"StockCounted.items: no doc in docs.toml; add "
                                             r"\[fields\] StockCounted.items or \[fields\] items"):
        build(Docs(docs))
