"""The unit tree (行政区划树), walked one way by every stage: which unit, which county and
which level a fact's unit code stands for.

Each stage keeps its own fold of the unit events — the application service's directory (the
tree now), the Kafka router and the Parquet export (the tree as it stood when each event was
recorded, folded in log order), the report's `projections.tree.UnitTree` (the tree valid at
the period end) — and asks the same questions of it here, so they cannot disagree:

- `ancestry`: a unit and its ancestors, nearest first (explicit parent links, never code
  prefixes).
- `county_of`: the county-level unit over a unit — the nearest unit at or above it that is a
  county (县/区), else a city (市), else a province (省). A city's own facts and those of towns
  directly under it (cities without counties) belong to the city; province-level ones to the
  province.
- `stream_code`: **the code that names a county's Kafka topic and Parquet partition** — the
  code its county-level unit was *registered* with, kept after any recode of that unit or of
  the units below it, so a county's stream and its partition never split and an event
  exported or published before a recode stays where it is. A unit never recoded is named by
  its only code, as before. A merged or retired unit's facts recorded under its old code stay
  in the stream of the county it was in when they were recorded; facts recorded under a
  successor's code go to the successor's county. Only a submission re-maps old codes, to the
  hierarchy valid at its period end (DOMAIN §11.2 rule 10; `projections/tree.py`).
- `location`: 所在区划, the units from the county down.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Protocol, TypeVar

from domain.base import Level

STREAM_LEVELS = frozenset({Level.COUNTY, Level.CITY, Level.PROVINCE})
"""Levels whose units own a stream (a Kafka topic, a Parquet partition)."""

Key = TypeVar("Key", bound=Hashable)


class TreeUnit(Protocol[Key]):
    """What a stage's unit entry must offer to be walked."""

    @property
    def level(self) -> Level: ...

    @property
    def parent_id(self) -> Key | None: ...

    @property
    def registered_code(self) -> str: ...


Node = TypeVar("Node", bound=TreeUnit)  # type: ignore[type-arg]


def ancestry(units: Mapping[Key, Node], unit_id: Key | None) -> Iterator[Node]:
    """The unit and its ancestors, nearest first; the walk stops at a unit `units` lacks."""
    unit = units.get(unit_id) if unit_id is not None else None
    while unit is not None:
        yield unit
        unit = units.get(unit.parent_id) if unit.parent_id is not None else None


def county_of(units: Mapping[Key, Node], unit_id: Key | None) -> Node | None:
    """The county-level unit over a unit (itself, if it is one); None for an unknown unit."""
    return next((unit for unit in ancestry(units, unit_id) if unit.level in STREAM_LEVELS),
                None)


def stream_code(units: Mapping[Key, Node], unit_id: Key | None) -> str | None:
    """The code naming the stream (topic, partition) a unit's facts go to: the registered code
    of its county-level unit; None for a unit outside the tree (system records)."""
    county = county_of(units, unit_id)
    return None if county is None else county.registered_code


def location(units: Mapping[Key, Node], unit_id: Key | None) -> list[Node]:
    """所在区划: the unit and its ancestors up to county level, the highest first."""
    return [unit for unit in reversed(list(ancestry(units, unit_id)))
            if unit.level.rank <= Level.COUNTY.rank]
