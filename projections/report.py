"""A unit's submission (一报表两清单) for a period, assembled from the views at a cut-off:
the canonical JSON document, its SHA-256, and the differences between two versions.

The document is a pure function of the events recorded up to the cut-off, the unit and the
period. The cut-off itself is not in it (the ReportSubmitted event records it), so
assembling again later without new relevant events gives the same document and no new
version. Everything is read "as known at the cut-off", lists are sorted, rates are
decimal text, money is integer fen, and the JSON has sorted keys and no floats — so the
same inputs give byte-identical JSON on SQLite and PostgreSQL, from live views or from a
throwaway database fed only the events recorded up to the cut-off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import weakref
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import IO, Any

import orjson

from domain.base import DomainError, Level, from_micros, micros
from domain.periods import Period, PeriodKind
from domain.reports import ChildSubmission, FigureChange, RowChanges, end_of_day
from domain.sectors import SECTORS
from projections.lists import Row, hazard_rows, measure_rows, task_rows, without_hidden
from projections.stats import (
    Counts,
    Value,
    Window,
    figures,
    national_figures,
    sector_figures,
    tally,
)
from projections.store import Tx
from projections.tree import Unit, UnitTree

FORMAT = "zhibao.submission/2"  # 2: the national table; inspections by their visits
LIST_KEYS = {"hazard_list": "hazard_id", "measure_list": "measure_id",
             "tasks": ("task_no", "responsible_unit")}


def canonical_json(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class PeriodRecord:
    """A reporting period as the scheduler opened it (from the views)."""

    deadlines: dict[Level, date]
    programme_start: date
    stock_cutoff: date


def period_record(tx: Tx, period: str, cut_off: datetime) -> PeriodRecord | None:
    found = tx.rows("SELECT deadlines, programme_start, stock_cutoff FROM view_periods "
                    "WHERE period = ? AND rec <= ?", (period, micros(cut_off)))
    if not found:
        return None
    deadlines, start, stock = found[0]
    by_level = {Level(k): date.fromisoformat(v) for k, v in orjson.loads(deadlines).items()}
    return PeriodRecord(by_level, date.fromisoformat(start), date.fromisoformat(stock))


@dataclass(frozen=True)
class Assembled:
    unit: Unit
    document: dict[str, Any]
    canonical: bytes
    sha256: str
    children: tuple[ChildSubmission, ...]


@dataclass(frozen=True)
class Known:
    """A submission version the views hold."""

    version: int
    sha256: str
    late: bool
    draft: bool
    cut_off: datetime
    position: int  # of the views when it was assembled
    children: tuple[ChildSubmission, ...]


@dataclass(frozen=True)
class Facts:
    """The figures and tasks of every unit's document for a period, counted once for all
    units at one cut-off: the expensive part of assembling (held: about 2.6 kB a unit, until
    its level is assembled). The lists, which grow with the hazards, are read a part of the
    tree at a time (`Lists`) — for a cascade, which assembles level after level from the
    same rows, kept on disk for as long as the facts stand (`kept`)."""

    cut_off: datetime
    tallies: dict[str, Counts]
    tasks: dict[str, list[Row]]
    kept: KeptLists | None = field(default=None, compare=False)

    @classmethod
    def count(cls, tx: Tx, window: Window, tree: UnitTree, keep_lists: bool = False) -> Facts:
        codes = {code for (code,) in tx.rows(
            "SELECT DISTINCT unit_code FROM view_tasks WHERE rec <= ?",
            (micros(window.cut_off),))}
        task_units = [unit for code in codes if (unit := tree.by_code(code)) is not None]
        return cls(window.cut_off, tally(tx, window, tree),
                   {unit.unit_id: task_rows(tx, window, unit.code) for unit in task_units},
                   KeptLists() if keep_lists else None)

    def without(self, units: Iterable[Unit]) -> Facts:
        """These facts but the figures of `units`: a cascade's level, once assembled, is
        not assembled again, and its units are most of the figures held."""
        dropped = {unit.unit_id for unit in units}
        return replace(self, tallies={unit_id: counts for unit_id, counts in self.tallies.items()
                                      if unit_id not in dropped})

    def still_valid(self, tx: Tx, cut_off: datetime) -> bool:
        """True when no fact was recorded between this count's cut-off and `cut_off`, so
        the count stands for the later cut-off too (the cascade's levels, minutes apart)."""
        return cut_off >= self.cut_off and not tx.rows(
            "SELECT 1 FROM view_activity WHERE rec > ? AND rec <= ? LIMIT 1",
            (micros(self.cut_off), micros(cut_off)))


@dataclass(frozen=True)
class Scope:
    """A part of the tree whose list rows are read together: a unit's subtree (None: the
    whole tree), with only the major or listed hazards when `major_only`."""

    root: str | None
    major_only: bool = False


WHOLE = Scope(None)


class KeptLists:
    """The lists read at the facts' cut-off, kept for the levels after it: a county's
    villages, towns and the county itself are assembled from the same rows (its subtree's),
    which were read three times, once a level — 61 ms a county each, 2/3 of what a
    cascade's main process spent reading. They are kept pickled in an unnamed temporary
    file, not in memory: a province's rows never sit in the process (what it holds grows
    with a county, not with the province), and reading them back costs a few ms."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._where: dict[Scope, tuple[int, int]] = {}  # each scope's offset and length

    def get(self, scope: Scope) -> Lists | None:
        where = self._where.get(scope)
        if where is None or self._file is None:
            return None
        offset, length = where
        self._file.seek(offset)
        return pickle.loads(self._file.read(length))  # type: ignore[no-any-return]

    def put(self, lists: Lists) -> None:
        if self._file is None:  # closed with these lists (it has no name to remove)
            self._file = tempfile.TemporaryFile(prefix="zhibao-lists-")  # noqa: SIM115
            weakref.finalize(self, self._file.close)
        data = pickle.dumps(lists, pickle.HIGHEST_PROTOCOL)
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(data)
        self._where[lists.scope] = (offset, len(data))


@dataclass(frozen=True)
class Lists:
    """The hazard and measure rows of one scope, by the unit each belongs to (not yet
    rolled up): the bulk of the documents, one dict a hazard or measure."""

    scope: Scope
    hazards: dict[str, list[Row]]
    measures: dict[str, list[Row]]

    @classmethod
    def read(cls, tx: Tx, window: Window, tree: UnitTree, scope: Scope) -> Lists:
        codes = None if scope.root is None else tree.codes_within(scope.root)
        return cls(scope, hazard_rows(tx, window, tree, codes, scope.major_only),
                   measure_rows(tx, window, tree, codes))


class Assembler:
    """Assembles any unit's submission for one period from the views at one cut-off. The
    facts of all units are counted once, in one pass per family — or not at all
    (`counted=False`) until `count` is called, so that units whose submission cannot have
    changed (`unchanged`) are found first and cost nothing. The list rows are held for one
    scope at a time (`read_lists`), or, when counted at once, for the whole tree, so that
    any unit can be assembled once the snapshot is closed."""

    def __init__(self, tx: Tx, period: str, cut_off: datetime,
                 major_only_levels: Iterable[Level] = (), facts: Facts | None = None,
                 counted: bool = True) -> None:
        record = period_record(tx, period, cut_off)
        if record is None:
            raise DomainError("period", f"reporting period {period} has not been opened",
                              "LIFECYCLE")
        self.period = period
        self.cut_off = cut_off
        self.record = record
        self.window = Window(period, record.programme_start, record.stock_cutoff, cut_off)
        self.major_only_levels = frozenset(major_only_levels)
        self.tree = UnitTree.load(tx, self.window.last_day.isoformat(), micros(cut_off))
        self.known, self.known_final = self._known_submissions(tx)
        self._changed = self._recorded_since(tx)
        self.facts = facts
        self.lists: Lists | None = None
        if counted:
            self.count(tx)
            self.lists = Lists.read(tx, self.window, self.tree, WHOLE)

    def count(self, tx: Tx, reuse: Facts | None = None, keep_lists: bool = False) -> Facts:
        """The facts of every unit at this cut-off: `reuse`d when still valid; the lists
        read at it kept for later levels if `keep_lists` (a cascade)."""
        if self.facts is None:
            valid = reuse is not None and reuse.still_valid(tx, self.cut_off)
            self.facts = reuse if valid else Facts.count(tx, self.window, self.tree,
                                                         keep_lists)
        assert self.facts is not None
        return self.facts

    def scope(self, unit: Unit) -> Scope:
        """The list rows `unit` is assembled from: those of its county-level subtree, which
        the villages, towns and county under it share (above counties, its own subtree) —
        of major or listed hazards only at the levels whose lists name only those."""
        root = self.tree.county(unit.unit_id) or unit
        return Scope(root.unit_id, unit.level in self.major_only_levels)

    def holds_lists_of(self, unit: Unit) -> bool:
        return self.lists is not None and self.lists.scope in (WHOLE, self.scope(unit))

    def hold_lists_of(self, unit: Unit,
                      snapshot: Callable[[], AbstractContextManager[Tx]]) -> None:
        """The list rows `unit` is assembled from, read in a new `snapshot` of the views
        unless they are held already (a level's units come county by county)."""
        if not self.holds_lists_of(unit):
            with snapshot() as tx:
                self.read_lists(tx, unit)

    def read_lists(self, tx: Tx, unit: Unit) -> None:
        """Hold the list rows of `unit`'s scope in place of those held before, read at this
        cut-off (the same rows as at the facts' own while they are `still_valid`): what is
        held grows with a county, not with the province. Rows the facts keep for the same
        scope (`KeptLists`) are not read again."""
        scope = self.scope(unit)
        kept = self.facts.kept if self.facts is not None else None
        lists = kept.get(scope) if kept is not None else None
        if lists is None:
            lists = Lists.read(tx, self.window, self.tree, scope)
            if kept is not None:
                kept.put(lists)
        self.lists = lists

    def unit(self, code: str) -> Unit:
        unit = self.tree.by_code(code)
        if unit is None:
            raise DomainError("unit_code", f"no unit has the code {code!r} at the end of "
                                           f"{self.period}", "V8")
        return unit

    def latest(self, unit: Unit) -> Known | None:
        """The newest version of the unit's submission known at the cut-off, drafts
        included."""
        return self.known.get(unit.unit_id)

    def unchanged(self, unit: Unit, draft: bool) -> bool:
        """True when the unit's latest version is still its submission: of the same kind
        (draft or final), no fact of its subtree and of the period's months recorded or
        folded after it was assembled, and its children's statuses as it recorded them."""
        latest = self.latest(unit)
        return (latest is not None and latest.draft == draft
                and unit.unit_id not in self._changed
                and latest.children == tuple(self._child(child)
                                             for child in self.tree.children(unit.unit_id)))

    def _recorded_since(self, tx: Tx) -> set[str]:
        """The units with a fact of the period's months (or earlier) in their subtree
        recorded after their latest version's cut-off, or folded after it was assembled."""
        last_month = str(Period.containing(self.window.end - timedelta(microseconds=1),
                                           PeriodKind.MONTH))
        newest: dict[str, tuple[int, int]] = {}
        for code, rec, position in tx.rows(
                "SELECT unit_code, MAX(rec), MAX(position) FROM view_activity "
                "WHERE month <= ? GROUP BY unit_code", (last_month,)):
            unit_id = self.tree.resolve(code)
            if unit_id is not None:
                old = newest.get(unit_id, (0, 0))
                newest[unit_id] = (max(old[0], rec), max(old[1], position))
        for unit in sorted(self.tree.units.values(), key=lambda u: u.level.rank):
            parent = unit.parent_id
            if parent in self.tree.units and unit.unit_id in newest:
                old, mine = newest.get(parent, (0, 0)), newest[unit.unit_id]  # type: ignore[arg-type]
                newest[parent] = (max(old[0], mine[0]), max(old[1], mine[1]))  # type: ignore[index]
        changed = set()
        for unit_id, (rec, position) in newest.items():
            latest = self.known.get(unit_id)
            if latest is None or rec > micros(latest.cut_off) or position > latest.position:
                changed.add(unit_id)
        return changed

    def assemble(self, unit: Unit, draft: bool) -> Assembled:
        assert self.facts is not None, "count() the facts first"
        assert self.lists is not None and self.holds_lists_of(unit), "read_lists() first"
        lists = self.lists
        child_units = self.tree.children(unit.unit_id)
        children = tuple(self._child(child) for child in child_units)
        major_only = unit.level in self.major_only_levels
        parent = self.tree.units.get(unit.parent_id or "")
        document = {
            "format": FORMAT,
            "unit": {"code": unit.code, "name": unit.name, "level": unit.level.value,
                     "parent_code": parent.code if parent else None},
            "period": self.period,
            "first_day": self.window.first_day.isoformat(),
            "last_day": self.window.last_day.isoformat(),
            "draft": draft,
            "programme_start": self.record.programme_start.isoformat(),
            "stock_cutoff": self.record.stock_cutoff.isoformat(),
            "statistics": self._statistics(unit),
            "sectors": self._sectors(unit),
            "national_table": self._national(unit),
            "children": [
                {"unit_code": c.unit_code, "name": u.name, "status": c.status,
                 "version": c.version, "sha256": c.sha256}
                for u, c in zip(child_units, children, strict=True)],
            "hazard_list_scope": "major_and_listed" if major_only else "all",
            "hazard_list": _numbered(
                row for u in self.tree.subtree(unit.unit_id)
                for row in lists.hazards.get(u, ())
                if not major_only or row["_major_or_listed"]),
            "measure_list": _numbered(
                row for u in self.tree.subtree(unit.unit_id)
                for row in lists.measures.get(u, ())),
            "tasks": self.facts.tasks.get(unit.unit_id, []),
        }
        canonical = canonical_json(document)
        return Assembled(unit, document, canonical, hashlib.sha256(canonical).hexdigest(),
                         children)

    def _statistics(self, unit: Unit) -> list[dict[str, Any]]:
        return [{"code": f.metric.code, "name": f.metric.name, "name_en": f.metric.name_en,
                 "measure": f.metric.measure, **f.values}
                for f in figures(self._tally(unit), unit.level)]

    def _sectors(self, unit: Unit) -> list[dict[str, Any]]:
        return [{"sector": code, "name": SECTORS.get(code, code), **values}
                for code, values in sector_figures(self._tally(unit))]

    def _national(self, unit: Unit) -> dict[str, Any]:
        """DOMAIN §7.3: by industry and in total, from 1 January of the report year."""
        rows, total = national_figures(self._tally(unit))
        return {"from": self.window.parsed.year_start.date().isoformat(),
                "to": self.window.last_day.isoformat(),
                "rows": [_industry(code, values) for code, values in rows],
                "total": total}

    def _tally(self, unit: Unit) -> Counts:
        assert self.facts is not None
        return self.facts.tallies[unit.unit_id]

    def _child(self, child: Unit) -> ChildSubmission:
        known = self.known_final.get(child.unit_id)
        if known is not None:
            return ChildSubmission(child.code, "late" if known.late else "on_time",
                                   known.version, known.sha256)
        deadline = self.record.deadlines.get(child.level)
        missing = deadline is not None and self.cut_off >= end_of_day(deadline)
        return ChildSubmission(child.code, "missing" if missing else "pending", None, None)

    def _known_submissions(self, tx: Tx) -> tuple[dict[str, Known], dict[str, Known]]:
        """The newest version of each unit's submission, and the newest final one."""
        latest: dict[str, Known] = {}
        final: dict[str, Known] = {}
        for unit_code, version, sha256, late, draft, cut_off, position, children in tx.rows(
                "SELECT unit_code, version, sha256, late, draft, cut_off, position, children "
                "FROM view_submissions WHERE period = ? AND rec <= ? ORDER BY version",
                (self.period, micros(self.cut_off))):
            unit_id = self.tree.resolve(unit_code)
            if unit_id is None:
                continue
            known = Known(version, sha256, bool(late), bool(draft), from_micros(cut_off),
                          position, tuple(ChildSubmission(**child)
                                          for child in orjson.loads(children)))
            latest[unit_id] = known
            if not draft:
                final[unit_id] = known
        return latest, final


def _industry(code: str, values: dict[str, Value]) -> dict[str, Any]:
    return {"sector": code, "name": SECTORS.get(code, code), **values}


def _numbered(rows: Iterable[Row]) -> list[Row]:
    ordered = sorted(rows, key=lambda row: row["_order"])
    return [without_hidden({"no": number, **row}) for number, row in enumerate(ordered, start=1)]


def differences(old: dict[str, Any], new: dict[str, Any]
                ) -> tuple[tuple[FigureChange, ...], tuple[RowChanges, ...]]:
    """What a new version changes: every figure by code and column (values as plain text:
    `3`, `82.71`), and the rows of each list added, removed or changed (matched by their
    keys, row numbers ignored)."""
    def figures_of(document: dict[str, Any]) -> dict[tuple[str, str], str | None]:
        return {(row["code"], column): None if value is None else str(value)
                for row in document["statistics"] for column, value in row.items()
                if column in ("month", "cumulative", "at_end")}

    before, after = figures_of(old), figures_of(new)
    changes = tuple(FigureChange(code, column, before.get((code, column)),
                                 after.get((code, column)))
                    for code, column in sorted(before.keys() | after.keys())
                    if before.get((code, column)) != after.get((code, column)))
    rows = []
    for name, key in LIST_KEYS.items():
        old_rows, new_rows = _keyed(old[name], key), _keyed(new[name], key)
        rows.append(RowChanges(
            name, added=len(new_rows.keys() - old_rows.keys()),
            removed=len(old_rows.keys() - new_rows.keys()),
            changed=sum(old_rows[k] != new_rows[k] for k in old_rows.keys() & new_rows.keys())))
    return changes, tuple(rows)


def as_number(text: str | None) -> orjson.Fragment | None:
    """A figure's text as a JSON number (counts, fen and rates are all decimal numbers)."""
    return None if text is None else orjson.Fragment(text.encode())


def _keyed(rows: list[Row], key: str | tuple[str, ...]) -> dict[Any, Row]:
    keys = (key,) if isinstance(key, str) else key
    return {tuple(row[k] for k in keys): {k: v for k, v in row.items() if k != "no"}
            for row in rows}

