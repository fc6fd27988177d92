"""The unit tree a report uses: the hierarchy valid at the period end, as known at the
cut-off, folded from AdminUnit events (explicit parent links, never code prefixes).

Facts carry the unit code valid when they happened. A code recoded since is the same unit;
a code merged or retired by the period end is re-mapped to its successor (or, without one,
to its parent), so the roll-up for a period uses the hierarchy valid at its end
(DOMAIN §11.2 rule 10) and no fact drops out of the totals. Counties, streams and
locations are walked as every stage walks them (`domain/unit_tree.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from domain.base import Level
from domain.unit_tree import ancestry, county_of, location
from projections.store import Tx


@dataclass(frozen=True)
class Unit:
    unit_id: str
    code: str  # the code valid at the period end
    level: Level
    name: str
    parent_id: str | None
    registered_code: str  # the code it was registered with: its stream's name


@dataclass(frozen=True)
class _Code:
    unit_id: str
    successor: str | None
    ended: bool  # by the period end, as known at the cut-off


class UnitTree:
    def __init__(self, units: dict[str, Unit], codes: dict[str, _Code],
                 parents: dict[str, str | None]) -> None:
        self.units = units
        self._codes = codes
        self._parents = parents  # of every registered unit, ended ones included
        self._children: dict[str, list[str]] = {}
        for unit in sorted(units.values(), key=lambda u: u.code):
            if unit.parent_id in units:
                self._children.setdefault(unit.parent_id, []).append(unit.unit_id)
        self._resolved: dict[str, str | None] = {}

    @classmethod
    def load(cls, tx: Tx, last_day: str, cut_off: int) -> UnitTree:
        """Units registered by `last_day`, with the codes and endings known at `cut_off`."""
        codes: dict[str, _Code] = {}
        current: dict[str, str] = {}
        registered: dict[str, str] = {}
        for code, unit_id, valid_from, ended_on, ended_rec, successor in tx.rows(
                "SELECT code, unit_id, valid_from, ended_on, ended_rec, successor "
                "FROM view_unit_codes WHERE rec <= ? ORDER BY rec DESC", (cut_off,)):
            registered[unit_id] = code  # oldest last: the code the unit was registered with
            ended = ended_on is not None and ended_on <= last_day and ended_rec <= cut_off
            codes[code] = _Code(unit_id, successor if ended else None, ended)
            if not ended and valid_from <= last_day:  # a code from a later recoding still
                current[unit_id] = code  # resolves to its unit, named by its code then
        units: dict[str, Unit] = {}
        parents: dict[str, str | None] = {}
        for unit_id, level, name, parent_id, valid_from in tx.rows(
                "SELECT unit_id, level, name, parent_id, valid_from FROM view_units "
                "WHERE rec <= ?", (cut_off,)):
            parents[unit_id] = parent_id
            if unit_id in current and valid_from <= last_day:
                units[unit_id] = Unit(unit_id, current[unit_id], Level(level), name, parent_id,
                                      registered[unit_id])
        return cls(units, codes, parents)

    def by_code(self, code: str) -> Unit | None:
        """The unit a code names at the period end (following recodes)."""
        unit_id = self.resolve(code)
        return self.units[unit_id] if unit_id is not None else None

    def resolve(self, code: str) -> str | None:
        """The unit id a fact recorded under `code` belongs to at the period end."""
        if code not in self._resolved:
            self._resolved[code] = self._follow(code, set())
        return self._resolved[code]

    def _follow(self, code: str, seen: set[str]) -> str | None:
        entry = self._codes.get(code)
        if entry is None or code in seen:
            return None
        seen.add(code)
        if not entry.ended:
            return entry.unit_id if entry.unit_id in self.units else None
        if entry.successor is not None:
            return self._follow(entry.successor, seen)
        parent = self._parents.get(entry.unit_id)
        while parent is not None and parent not in self.units:
            parent = self._parents.get(parent)
        return parent

    def path(self, unit_id: str) -> Iterator[str]:
        """The unit and its ancestors, nearest first."""
        return (unit.unit_id for unit in ancestry(self.units, unit_id))

    def county(self, unit_id: str) -> Unit | None:
        """The county-level unit over a unit at the period end."""
        return county_of(self.units, unit_id)

    def location(self, unit_id: str) -> list[Unit]:
        """所在区划: the unit and its ancestors up to county level, the highest first."""
        return location(self.units, unit_id)

    def children(self, unit_id: str) -> list[Unit]:
        return [self.units[child] for child in self._children.get(unit_id, ())]

    def subtree(self, unit_id: str) -> set[str]:
        found, stack = set(), [unit_id]
        while stack:
            current = stack.pop()
            found.add(current)
            stack.extend(self._children.get(current, ()))
        return found

    def codes_within(self, unit_id: str) -> list[str]:
        """Every code whose facts belong to the unit's subtree (recoded, merged and retired
        codes included): what a reader of only that part of the tree filters the facts by."""
        inside = self.subtree(unit_id)
        return sorted(code for code in self._codes if self.resolve(code) in inside)

    def at_level(self, level: Level) -> list[Unit]:
        return sorted((u for u in self.units.values() if u.level is level), key=lambda u: u.code)
