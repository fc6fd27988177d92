"""Report statistics per unit and period, evaluated from the views at a cut-off.

Each metric family of the catalogue is one SQL source whose rows are the family's facts as
they stood at the period end T and as known at the cut-off C: a step counts only if it
occurred before T and was recorded by C; a hazard's grade and deadline are the ones in
force at T (an extension decided after T does not change T's figures). One grouped query
per family counts all its metrics by unit code, each added at the unit and every unit above
it; a distinct count is read key by key, one at each unit the key's facts reach; rates are
recomputed from the totals.

Evaluating at report time, rather than keeping running totals, is what lets a submission
frozen at any cut-off be produced again, byte for byte, from the live views.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from itertools import groupby
from operator import add
from typing import Any

from domain.base import SHANGHAI, Level, micros
from domain.periods import Period, PeriodKind
from domain.reports import end_of_day
from projections.catalogue import (
    BY_SECTOR,
    CATALOGUE,
    HAZARD_CONDITIONS,
    HAZARD_STATE,
    NATIONAL_TABLE,
    SECTOR_COLUMNS,
    YEAR,
    Metric,
    Rate,
    metrics_for,
)
from projections.store import Tx
from projections.tree import UnitTree

Value = int | str | None


@dataclass(frozen=True)
class Window:
    """When a report is evaluated: the period, its programme and the cut-off. `until`
    moves the evaluation from the period end to an earlier instant of it (the overdue sweep
    asks the running month "as of now")."""

    period: str
    programme_start: date
    stock_cutoff: date
    cut_off: datetime
    until: datetime | None = None

    @classmethod
    def now(cls, moment: datetime, programme_start: date, stock_cutoff: date) -> Window:
        """The running month, evaluated at `moment` with everything known by then."""
        month = Period.containing(moment, PeriodKind.MONTH)
        return cls(str(month), programme_start, stock_cutoff, moment, until=moment)

    @property
    def parsed(self) -> Period:
        return Period.parse(self.period)

    @property
    def start(self) -> datetime:
        return self.parsed.start

    @property
    def end(self) -> datetime:
        return self.until or self.parsed.end

    @property
    def first_day(self) -> date:
        return self.parsed.first_day

    @property
    def last_day(self) -> date:
        """The day stocks are evaluated on (overdue: past the deadline on this day)."""
        if self.until is not None:
            return self.until.astimezone(SHANGHAI).date()
        return self.parsed.last_day

    def params(self) -> dict[str, Any]:
        period = self.parsed
        last_month = Period.containing(period.end - timedelta(days=1), PeriodKind.MONTH)
        return {
            "T0": micros(self.start), "T": micros(self.end) + (self.until is not None),
            "S": micros(end_of_day(self.programme_start - timedelta(days=1))),
            "Y0": micros(period.year_start), "C": micros(self.cut_off),
            "stock_end": micros(end_of_day(self.stock_cutoff)),
            "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
            "first_month": str(Period.month(period.year, period.first_month)),
            "last_month": str(last_month),
        }


def _latest(table: str, key: str, attrs: tuple[str, ...], before: str, dialect: str,
            among: str = "") -> str:
    """One row per entity: `latest_<attr>`, its latest value of each attribute among the
    changes occurred `before` and known at :C (the highest version wins); `among`, a query
    of the keys wanted, limits the entities read (through the key's index).

    On PostgreSQL in one grouping pass: each change is stamped with its version, fixed-width,
    ahead of its value (`_STAMPED`), so an attribute's greatest stamp is its latest change,
    and the stamp is cut off again (`_UNSTAMPED`). Joining each attribute's highest version
    back to its row sorted the changes twice: a tally at 1.2M events 3.2-3.6 → 1.6-1.9 s,
    the counties' lists 2.9-3.2 → 1.1-1.6 s. SQLite keeps the join: building a stamp for
    every change cost it more than the join saved (its tally 3.4 → 4.1 s)."""
    names = ", ".join(f"'{a}'" for a in attrs)
    wanted = f" AND {key} IN ({among})" if among else ""
    if dialect == "postgres":
        latest = ", ".join(_UNSTAMPED.format(f"MAX(CASE WHEN attr = '{a}' THEN {_STAMPED} END)")
                           + f" AS latest_{a}" for a in attrs)
        return f"""
      SELECT {key}, {latest} FROM {table}
      WHERE attr IN ({names}) AND at {before} AND rec <= :C{wanted}
      GROUP BY {key}"""
    pivot = ", ".join(f"MAX(CASE WHEN c.attr = '{a}' THEN c.value END) AS latest_{a}"
                      for a in attrs)
    read = f"\n      WHERE c.{key} IN ({among})" if among else ""
    return f"""
      SELECT c.{key}, {pivot} FROM {table} c
      JOIN (SELECT {key}, attr, MAX(version) AS version FROM {table}
            WHERE attr IN ({names}) AND at {before} AND rec <= :C{wanted}
            GROUP BY {key}, attr) m
        ON c.{key} = m.{key} AND c.attr = m.attr AND c.version = m.version{read}
      GROUP BY c.{key}"""


_STAMPED = "CAST(1000000000 + version AS TEXT) || COALESCE('=' || value, '-')"
"""A change as its version in ten digits (versions count an entity's changes: far below
nine billion), then '=' and its value, or '-' for none: as text, in the byte order of the
views' collation (C), the later version is the greater."""
_UNSTAMPED = "CASE WHEN substr({0}, 11, 1) = '=' THEN substr({0}, 12) END"
"""The value of a stamped change (None where it had none); the greatest stamp, named twice,
is computed once."""


HAZARD_ATTRS = ("grade", "deadline", "plan", "plan_approved", "plan_complete", "plan_funds")
"""Hazard attributes that change after confirmation and that the conditions read."""


def hazards_sql(dialect: str, extra_attrs: tuple[str, ...] = (), state: bool = False,
                only: str = "") -> str:
    """Every hazard reported before :T and known at :C, as it stood at :T: the stored
    columns, grade_at, deadline_at, ended_as (if ended by :T), `latest_<attr>` of each
    changing attribute (HAZARD_ATTRS and `extra_attrs`), the catalogue's conditions
    (`projections.catalogue.HAZARD_CONDITIONS`), `plan_funds_fen` and, with `state`,
    `state_at` (which reads the `completed` attribute too). `only`, a condition on the
    stored row (as `hz`), keeps only the hazards it holds for, in both tables read, so that
    a part of the hazards (a county's, through the unit code index) costs only its own."""
    within = f" AND {only}" if only else ""
    among = "SELECT hazard_id FROM known" if only else ""
    wanted = (*extra_attrs, "completed") if state else extra_attrs
    attrs = HAZARD_ATTRS + tuple(a for a in wanted if a not in HAZARD_ATTRS)
    latest = "".join(f", later.latest_{a}" for a in attrs if a not in ("grade", "deadline"))
    conditions = ",\n      ".join(f"{sql} AS {name}" for name, sql in HAZARD_CONDITIONS.items())
    return f"""
    WITH known AS (
      SELECT hz.*,
        COALESCE(hz.confirmed_at < :T AND hz.confirmed_rec <= :C, FALSE) AS confirmed,
        COALESCE(hz.verified_at < :T AND hz.verified_rec <= :C, FALSE) AS verified,
        COALESCE(hz.ended_at < :T AND hz.ended_rec <= :C, FALSE) AS ended,
        COALESCE(hz.listed_at < :T AND hz.listed_rec <= :C, FALSE) AS listed,
        COALESCE(hz.delisted_at < :T AND hz.delisted_rec <= :C, FALSE) AS delisted
      FROM view_hazards hz WHERE hz.reported_at < :T AND hz.reported_rec <= :C{within}),
    later AS ({_latest("view_hazard_changes", "hazard_id", attrs, "< :T", dialect, among)}),
    h AS (
      SELECT k.*,
        CASE WHEN k.ended THEN k.end_kind END AS ended_as,
        COALESCE(later.latest_grade, CASE WHEN k.confirmed THEN k.confirmed_grade END,
                 k.proposed_grade) AS grade_at,
        COALESCE(later.latest_deadline, CASE WHEN k.confirmed THEN k.confirmed_deadline END,
                 CASE WHEN k.ended AND k.end_kind = 'on_spot' THEN k.ended_on END)
          AS deadline_at{latest}
      FROM known k LEFT JOIN later ON later.hazard_id = k.hazard_id)
    SELECT h.*,
      {conditions},{f"{chr(10)}      {HAZARD_STATE} AS state_at," if state else ""}
      CAST(NULLIF(latest_plan_funds, '') AS BIGINT) AS plan_funds_fen
    FROM h"""


def _base_sql(dialect: str) -> str:
    """Every open enterprise at the period start, with its class and the period's checks."""
    return f"""
    WITH latest AS ({_latest("view_enterprise_changes", "enterprise_id",
                             ("unit_code", "status", "base_class", "key_unit"), "<= :T0",
                             dialect)}),
    base AS (
      SELECT enterprise_id, latest_unit_code AS unit_code, latest_base_class AS base_class,
             latest_key_unit = '1' AS key_unit
      FROM latest WHERE latest_status <> 'closed'),
    si AS (SELECT enterprise_id, MAX(signed) AS signed FROM view_self_inspections
           WHERE period >= :first_month AND period <= :last_month AND rec <= :C
           GROUP BY enterprise_id),
    visited AS (SELECT DISTINCT enterprise_id FROM view_visits
                WHERE at >= :T0 AND at < :T AND rec <= :C),
    by_town AS (SELECT DISTINCT v.enterprise_id FROM view_visits v
                JOIN view_inspections i ON i.inspection_id = v.inspection_id AND i.rec <= :C
                JOIN view_orgs o ON o.org_id = i.organiser_org_id AND o.rec <= :C
                WHERE o.level = 'town' AND v.at >= :T0 AND v.at < :T AND v.rec <= :C)
    SELECT b.unit_code, b.enterprise_id, b.base_class, b.key_unit,
           si.enterprise_id IS NOT NULL AS self_inspected,
           COALESCE(si.signed = 1, FALSE) AS signed,
           visited.enterprise_id IS NOT NULL AS inspected,
           by_town.enterprise_id IS NOT NULL AS town_supervised
    FROM base b
    LEFT JOIN si ON si.enterprise_id = b.enterprise_id
    LEFT JOIN visited ON visited.enterprise_id = b.enterprise_id
    LEFT JOIN by_town ON by_town.enterprise_id = b.enterprise_id"""


@cache
def families(dialect: str) -> dict[str, str]:
    """Each family's facts, as the views' `dialect` reads them fastest (`_latest`)."""
    return {
        "hazards": f"""
      SELECT unit_code, sector, channel, reported_at, listed_at, listing_level,
             plan_funds_fen, {", ".join(HAZARD_CONDITIONS)}
      FROM ({hazards_sql(dialect)}) h""",  # only what the metrics read: a narrow row to group
        "base": _base_sql(dialect),
        "visits": """
      SELECT v.unit_code, v.enterprise_id, v.at, i.inspection_type FROM view_visits v
      LEFT JOIN view_inspections i ON i.inspection_id = v.inspection_id AND i.rec <= :C
      WHERE v.at < :T AND v.rec <= :C""",
        "inspections": """
      WITH carried_out AS (
        SELECT inspection_id, MIN(at) AS at, COUNT(DISTINCT enterprise_id) AS enterprises
        FROM view_visits WHERE at < :T AND rec <= :C GROUP BY inspection_id)
      SELECT i.unit_code, v.at, i.inspection_type, v.enterprises AS enterprises_visited,
             i.team_121 = 1 AS team_121, i.led = 1 AS led
      FROM view_inspections i JOIN carried_out v ON v.inspection_id = i.inspection_id
      WHERE i.rec <= :C""",
        "enforcement": """
      SELECT e.unit_code, e.at, e.action, COALESCE(e.enterprise_id, c.enterprise_id)
               AS enterprise_id, e.amount_fen, e.persons, e.detail, e.org_id
      FROM view_enforcement e
      LEFT JOIN view_enforcement c ON c.aggregate_id = e.aggregate_id
                                  AND c.action = 'case_opened'
      WHERE e.at < :T AND e.rec <= :C""",
        "zero_penalty": """
      WITH inspecting AS (
        SELECT DISTINCT i.organiser_org_id AS org_id FROM view_inspections i
        JOIN view_visits v ON v.inspection_id = i.inspection_id
        WHERE i.inspection_type = 'enforcement' AND i.rec <= :C
          AND v.at >= :T0 AND v.at < :T AND v.rec <= :C),
      opening AS (
        SELECT DISTINCT org_id FROM view_enforcement
        WHERE action = 'case_opened' AND at >= :T0 AND at < :T AND rec <= :C)
      SELECT o.unit_code, o.org_id FROM view_orgs o
      JOIN inspecting ON inspecting.org_id = o.org_id
      WHERE o.rec <= :C AND o.org_id NOT IN (SELECT org_id FROM opening)""",
        "investigated": f"""
      WITH sectors AS ({_latest("view_enterprise_changes", "enterprise_id", ("sectors",),
                                "< :T", dialect)})
      SELECT f.unit_code, f.enterprise_id, f.at, s.latest_sectors AS sectors FROM (
        SELECT unit_code, enterprise_id, MIN(at) AS at FROM (
          SELECT unit_code, enterprise_id, at FROM view_self_inspections
          WHERE at >= :Y0 AND at < :T AND rec <= :C
          UNION ALL
          SELECT unit_code, enterprise_id, at FROM view_visits
          WHERE at >= :Y0 AND at < :T AND rec <= :C) e
        GROUP BY unit_code, enterprise_id) f
      LEFT JOIN sectors s ON s.enterprise_id = f.enterprise_id""",  # first time in the year
        "measures": """
      SELECT unit_code, planned_at,
             CASE WHEN completed_at < :T AND completed_rec <= :C THEN completed_at END
               AS completed_at
      FROM view_measures WHERE planned_rec <= :C""",
    }


WINDOW_STARTS = {"month": ":T0", "cumulative": ":S", YEAR: ":Y0"}


def _window(column: str, on: str | None) -> str:
    if column == "at_end" or on is None:
        return "1 = 1"
    return f"{on} >= {WINDOW_STARTS[column]} AND {on} < :T"


def _expression(metric: Metric, column: str) -> str:
    condition = f"({metric.when}) AND {_window(column, metric.on)}"
    counted = f"SUM({metric.value})" if metric.kind == "sum" else "COUNT(*)"
    return f"{counted} FILTER (WHERE {condition})"


ADDITIVE: tuple[tuple[Metric, str], ...] = tuple(
    (m, column) for family in families("sqlite") for m in CATALOGUE  # (its names)
    if isinstance(m, Metric) and m.family == family and m.kind != "distinct"
    for column in m.columns)
"""Every counted or summed figure, grouped by family: one slot each in a unit's totals."""
DISTINCT: tuple[tuple[str, str], ...] = tuple(
    (m.code, column) for m in CATALOGUE
    if isinstance(m, Metric) and m.kind == "distinct" for column in m.columns)
"""Every distinct count (metric, column): counted key by key, once at each unit a key reaches."""
SECTOR_ADDITIVE = tuple((m, column) for m, column in BY_SECTOR if m.kind != "distinct")
"""Every counted or summed figure per sector (all of the hazards family: a hazard has one
sector); distinct ones per sector are sets, re-counted over the union for the total."""
SECTOR_DISTINCT: tuple[tuple[str, str], ...] = tuple(
    (m.code, column) for m, column in BY_SECTOR if m.kind == "distinct")
OVER_SECTORS: tuple[str, ...] = tuple(dict.fromkeys(code for code, _ in SECTOR_DISTINCT))
"""The distinct counts per sector's metrics, re-counted over the union of the sectors."""
OVER_SECTORS_COLUMN = "over_sectors"
"""The column of such a metric's count over the union of the sectors (in `SLOT`)."""
SLOT = {key: slot for slot, key in enumerate(
    (*((m.code, column) for m, column in ADDITIVE), *DISTINCT,
     *((code, OVER_SECTORS_COLUMN) for code in OVER_SECTORS)))}
"""A unit's figures, one slot each: the additive ones (in ADDITIVE's order, so a family's
are contiguous), the distinct counts, then the distinct counts over the sectors."""
SECTOR_SLOT = {(m.code, column): slot for slot, (m, column) in enumerate(SECTOR_ADDITIVE)}
SECTOR_DISTINCT_SLOT = {key: slot for slot, key in enumerate(SECTOR_DISTINCT)}
assert all(m.family == "hazards" for m, _ in SECTOR_ADDITIVE)


@dataclass(frozen=True, slots=True)
class Counts:
    """A unit's rolled-up raw figures, distinct ones as counts, as flat arrays in the slot
    orders fixed once (SLOT, SECTOR_SLOT, SECTOR_DISTINCT_SLOT): a unit's are held until its
    level is assembled, so a unit holds no sets, keys or dicts of its own (2.6 kB a unit held
    in Facts, against 5 kB as dicts keyed by tuples)."""

    figures: array[int]  # SLOT
    sectors: tuple[str, ...]  # the sectors with hazards, sorted
    by_sector: array[int]  # per sector of `sectors`, SECTOR_SLOT
    distinct_sectors: tuple[str, ...]  # the sectors with keys counted, sorted
    sector_distinct: array[int]  # per sector of `distinct_sectors`, SECTOR_DISTINCT_SLOT

    def per_sector(self) -> list[tuple[str, array[int]]]:
        """Each sector with hazards and its SECTOR_SLOT figures."""
        return _rows(self.sectors, self.by_sector, len(SECTOR_ADDITIVE))

    def per_distinct_sector(self) -> list[tuple[str, array[int]]]:
        """Each sector with keys counted and its SECTOR_DISTINCT_SLOT figures."""
        return _rows(self.distinct_sectors, self.sector_distinct, len(SECTOR_DISTINCT))


def _rows(keys: tuple[str, ...], flat: array[int], width: int) -> list[tuple[str, array[int]]]:
    return [(key, flat[i * width:(i + 1) * width]) for i, key in enumerate(keys)]


def tally(tx: Tx, window: Window, tree: UnitTree) -> dict[str, Counts]:
    """Raw figures of every unit in `tree`: each fact counted at its own unit and at every
    unit above it, so no unit's total waits for its children's. A distinct count is read
    key by key, and a key adds one at each unit its facts' paths reach: no unit holds a set
    of keys (a province's sets were most of the count's peak, and grew with it)."""
    params = window.params()
    counting, apart = _Counting(tree), _Counting(tree)
    sqls = families(tx.dialect)
    with _alongside(tx, lambda other: _count(other, APART, sqls[APART], params, apart)):
        for family, sql in sqls.items():
            if family != APART:
                _count(tx, family, sql, params, counting)
            _distinct(tx, family, sql, params, counting)
    counting.take(apart)
    return {unit_id: counting.counts(unit_id) for unit_id in tree.units}


APART = "hazards"
"""The family whose additive count — two thirds of a tally's time, most of it the database's
— is read alongside the others, where the views allow (`Tx.beside`)."""


@contextmanager
def _alongside(tx: Tx, work: Callable[[Tx], None]) -> Iterator[None]:
    """`work` done in another thread on a transaction beside `tx` while the body runs, both
    finished on leaving; where there is none, done first on `tx` itself."""
    if tx.beside is None:
        work(tx)
        yield
        return
    with tx.beside() as other, ThreadPoolExecutor(1) as thread:
        done = thread.submit(work, other)
        yield
        done.result()


class _Counting:
    """Every unit's figures while the facts are read, as flat arrays in the slot orders of
    Counts (per sector with hazards, per sector with keys)."""

    def __init__(self, tree: UnitTree) -> None:
        self.tree = tree
        self.figures: defaultdict[str, array[int]] = defaultdict(lambda: _zeros(len(SLOT)))
        self.sectors: defaultdict[str, _Grid] = defaultdict(
            lambda: _Grid(len(SECTOR_ADDITIVE)))
        self.sector_distinct: defaultdict[str, _Grid] = defaultdict(
            lambda: _Grid(len(SECTOR_DISTINCT)))
        self._paths: dict[str, tuple[str, ...]] = {}

    def path(self, code: str) -> tuple[str, ...]:
        """The unit a fact's code belongs to and its ancestors (none for an unknown code)."""
        if code not in self._paths:
            unit_id = self.tree.resolve(code)
            self._paths[code] = tuple(self.tree.path(unit_id)) if unit_id is not None else ()
        return self._paths[code]

    def reached(self, codes: Iterable[str]) -> set[str]:
        """The units whose subtrees hold a fact under any of `codes`."""
        return {unit_id for code in codes for unit_id in self.path(code)}

    def take(self, other: _Counting) -> None:
        """Add the figures another counting read, of other metrics than this one's (their
        figures add; their sectors' grids are not this one's)."""
        for unit_id, figures in other.figures.items():
            self.figures[unit_id] = array("q", map(add, self.figures[unit_id], figures))
        for grids, theirs in ((self.sectors, other.sectors),
                              (self.sector_distinct, other.sector_distinct)):
            assert not grids.keys() & theirs.keys()
            grids.update(theirs)

    def counts(self, unit_id: str) -> Counts:
        """A unit's Counts, its arrays handed over (and dropped here)."""
        sectors = self.sectors.pop(unit_id, None) or _Grid(len(SECTOR_ADDITIVE))
        distinct = self.sector_distinct.pop(unit_id, None) or _Grid(len(SECTOR_DISTINCT))
        return Counts(self.figures.pop(unit_id, None) or _zeros(len(SLOT)),
                      tuple(sectors.sectors), sectors.cells,
                      tuple(distinct.sectors), distinct.cells)


@dataclass(slots=True)
class _Grid:
    """A unit's figures per sector as Counts holds them, built in place: the sectors
    sorted, their rows in one flat array (an array and a dict entry a sector held twice
    what the unit's Counts does)."""

    width: int
    sectors: list[str] = field(default_factory=list)
    cells: array[int] = field(default_factory=lambda: array("q"))

    def row(self, sector: str) -> int:
        """Where the sector's figures start (a row of zeros added for a new sector)."""
        i = bisect_left(self.sectors, sector)
        if i == len(self.sectors) or self.sectors[i] != sector:
            self.sectors.insert(i, sys.intern(sector))
            self.cells[i * self.width:i * self.width] = _zeros(self.width)
        return i * self.width


def _zeros(width: int) -> array[int]:
    return array("q", bytes(8 * width))


def _distinct(tx: Tx, family: str, sql: str, params: dict[str, Any],
              counting: _Counting) -> None:
    """The distinct counts of one family, the keys read in order so that each key's facts
    come together: one at each unit they reach (per sector too, for the national table's
    enterprises, and over its sectors)."""
    for metric in CATALOGUE:
        if isinstance(metric, Metric) and metric.family == family and metric.kind == "distinct":
            for column in metric.columns:
                slot = SLOT[metric.code, column]
                for _, facts in _by_key(tx.each_row(
                        f"SELECT DISTINCT {metric.value}, unit_code FROM ({sql}) f "
                        f"WHERE ({metric.when}) AND {_window(column, metric.on)} ORDER BY 1",
                        params)):
                    for unit_id in counting.reached(code for _, code in facts):
                        counting.figures[unit_id][slot] += 1
    for metric, column in BY_SECTOR:
        if metric.family == family and metric.kind == "distinct":
            slot = SECTOR_DISTINCT_SLOT[metric.code, column]
            over = SLOT[metric.code, OVER_SECTORS_COLUMN]
            for _, facts in _by_key(tx.each_row(
                    f"SELECT DISTINCT {metric.value}, unit_code, sectors FROM ({sql}) f "
                    f"WHERE ({metric.when}) AND {_window(column, metric.on)} ORDER BY 1",
                    params)):
                by_sector: defaultdict[str, set[str]] = defaultdict(set)
                for _, code, sectors in facts:
                    for sector in (sectors or "").split(","):
                        if sector:
                            by_sector[sector].update(counting.path(code))
                for sector, reached in by_sector.items():
                    for unit_id in reached:
                        grid = counting.sector_distinct[unit_id]
                        grid.cells[grid.row(sector) + slot] += 1
                for unit_id in set().union(*by_sector.values()):
                    counting.figures[unit_id][over] += 1


assert len(OVER_SECTORS) == len(SECTOR_DISTINCT)  # one column each: over one query's keys


def _by_key(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[str, Iterator[tuple[Any, ...]]]]:
    """Rows ordered by their first value (the key), in runs of one key (as text)."""
    return groupby(rows, key=lambda row: str(row[0]))


def _count(tx: Tx, family: str, sql: str, params: dict[str, Any],
           counting: _Counting) -> None:
    """The additive metrics of one family (and, for hazards, those per sector in the same
    pass), grouped by the facts' unit codes, added at each unit of the code's path."""
    slots = [slot for slot, (metric, _) in enumerate(ADDITIVE) if metric.family == family]
    by_sector = family == "hazards"
    expressions = [_expression(*ADDITIVE[slot]) for slot in slots]
    if by_sector:
        expressions += [_expression(metric, column) for metric, column in SECTOR_ADDITIVE]
    if not expressions:
        return
    keys = "unit_code, sector" if by_sector else "unit_code"
    selected = keys if by_sector else "unit_code, NULL"
    width, first = len(slots), slots[0] if slots else 0
    for code, sector, *values in tx.each_row(
            f"WITH f AS MATERIALIZED ({sql}) "  # each row's conditions computed once, not
            f"SELECT {selected}, {', '.join(expressions)} FROM f GROUP BY {keys}",  # per metric
            params):
        own = [(first + i, int(value)) for i, value in enumerate(values[:width]) if value]
        per_sector = [(i, int(value)) for i, value in enumerate(values[width:]) if value]
        for unit_id in counting.path(code):
            _add(counting.figures[unit_id], own)
            if by_sector:
                grid = counting.sectors[unit_id]
                _add(grid.cells, per_sector, grid.row(sector))


def _add(figures: array[int], cells: list[tuple[int, int]], start: int = 0) -> None:
    for slot, value in cells:
        figures[start + slot] += value


def rate(numerator: int, denominator: int) -> str | None:
    """A percentage with two decimals as text (no float formatting differences); None when
    there is nothing to divide by."""
    if denominator == 0:
        return None
    percent = Decimal(numerator * 100) / Decimal(denominator)
    return str(percent.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Figure:
    metric: Metric | Rate
    values: dict[str, Value]  # month / cumulative / at_end → value


def figures(counts: Counts, level: Level) -> list[Figure]:
    """The statistical table of one unit: the catalogue's metrics for its level, in order."""
    slots = counts.figures
    return [Figure(metric, {column: slots[numerator] if denominator is None
                            else rate(slots[numerator], slots[denominator])
                            for column, numerator, denominator in values})
            for metric, values in _plan(level)]


def sector_figures(counts: Counts) -> list[tuple[str, dict[str, Value]]]:
    """The sector breakdown (条) of one unit: per sector with hazards, SECTOR_COLUMNS."""
    return [(sector, {key: slots[slot] for key, slot in SECTOR_COLUMN_SLOTS})
            for sector, slots in counts.per_sector()]


SECTOR_COLUMN_SLOTS = tuple((key, SECTOR_SLOT[figure]) for key, figure in SECTOR_COLUMNS.items())
"""SECTOR_COLUMNS' keys and the SECTOR_SLOT each reads."""


NATIONAL_ADDITIVE = tuple((code, slot) for (code, column), slot in SECTOR_SLOT.items()
                          if column == YEAR)
NATIONAL_DISTINCT = tuple((code, slot) for (code, column), slot in SECTOR_DISTINCT_SLOT.items()
                          if column == YEAR)
"""The national table's figures, by metric code: their slots in a sector's figures."""


def national_figures(counts: Counts) -> tuple[list[tuple[str, dict[str, Value]]],
                                              dict[str, Value]]:
    """The national table of one unit (DOMAIN §7.3): per industry with anything to show,
    and the total — additive columns summed over the industries (a hazard has one), the
    enterprises re-counted over the union (an enterprise may have several)."""
    additive, distinct = dict(counts.per_sector()), dict(counts.per_distinct_sector())
    no_hazards, no_keys = _zeros(len(SECTOR_ADDITIVE)), _zeros(len(SECTOR_DISTINCT))
    rows = []
    for sector in sorted(additive.keys() | distinct.keys()):
        values = _national(_year_figures(additive.get(sector, no_hazards),
                                         distinct.get(sector, no_keys)))
        if any(values.values()):
            rows.append((sector, values))
    width = len(SECTOR_ADDITIVE)
    total = {code: counts.figures[SLOT[code, OVER_SECTORS_COLUMN]]
             for code, _ in NATIONAL_DISTINCT}
    total |= {code: sum(counts.by_sector[slot::width]) for code, slot in NATIONAL_ADDITIVE}
    return rows, _national(total)


def _year_figures(additive: array[int], distinct: array[int]) -> dict[str, int]:
    """The national table's figures of one sector, from its rows of figures."""
    return {**{code: distinct[slot] for code, slot in NATIONAL_DISTINCT},
            **{code: additive[slot] for code, slot in NATIONAL_ADDITIVE}}


def _national(values: dict[str, int]) -> dict[str, Value]:
    return {key: rate(values[m.numerator], values[m.denominator]) if isinstance(m, Rate)
            else values[m.code] for key, m in NATIONAL_TABLE}


@cache
def _plan(level: Level) -> tuple[tuple[Metric | Rate, tuple[tuple[str, int, int | None], ...]],
                                 ...]:
    """Per metric of the level, per column: the SLOT read, or a rate's two."""
    return tuple(
        (metric, tuple((column, SLOT[metric.numerator, column], SLOT[metric.denominator, column])
                       if isinstance(metric, Rate) else (column, SLOT[metric.code, column], None)
                       for column in metric.columns))
        for metric in metrics_for(level))
