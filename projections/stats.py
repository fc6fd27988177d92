"""Report statistics per unit and period, evaluated from the views at a cut-off.

Each metric family of the catalogue is one SQL source whose rows are the family's facts as
they stood at the period end T and as known at the cut-off C: a step counts only if it
occurred before T and was recorded by C; a hazard's grade and deadline are the ones in
force at T (an extension decided after T does not change T's figures). One grouped query
per family counts all its metrics by unit code; the counts are then added up the unit tree
(distinct counts as unions of sets), and rates are recomputed from the totals.

Evaluating at report time, rather than keeping running totals, is what lets a submission
frozen at any cut-off be produced again, byte for byte, from the live views.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from domain.base import Level
from domain.reports import end_of_day, period_bounds
from projections.catalogue import CATALOGUE, SECTOR_COLUMNS, Metric, Rate, metrics_for
from projections.fold import micros
from projections.store import Tx
from projections.tree import UnitTree

Value = int | str | None


@dataclass(frozen=True)
class Window:
    """When a report is evaluated: the period, its programme and the cut-off."""

    period: str
    programme_start: date
    stock_cutoff: date
    cut_off: datetime

    @property
    def start(self) -> datetime:
        return period_bounds(self.period)[0]

    @property
    def end(self) -> datetime:
        return period_bounds(self.period)[1]

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return self.end.date() - timedelta(days=1)

    def params(self) -> dict[str, Any]:
        return {
            "period": self.period, "T0": micros(self.start), "T": micros(self.end),
            "S": micros(end_of_day(self.programme_start - timedelta(days=1))),
            "C": micros(self.cut_off),
            "stock_end": micros(end_of_day(self.stock_cutoff)),
            "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
        }


def _latest(table: str, key: str, attrs: tuple[str, ...], before: str) -> str:
    """One row per entity: `latest_<attr>`, its latest value of each attribute among the
    changes occurred `before` and known at :C (the highest version wins)."""
    names = ", ".join(f"'{a}'" for a in attrs)
    pivot = ", ".join(f"MAX(CASE WHEN c.attr = '{a}' THEN c.value END) AS latest_{a}"
                      for a in attrs)
    return f"""
      SELECT c.{key}, {pivot} FROM {table} c
      JOIN (SELECT {key}, attr, MAX(version) AS version FROM {table}
            WHERE attr IN ({names}) AND at {before} AND rec <= :C GROUP BY {key}, attr) m
        ON c.{key} = m.{key} AND c.attr = m.attr AND c.version = m.version
      GROUP BY c.{key}"""


def hazards_sql(attrs: tuple[str, ...] = ("grade", "deadline")) -> str:
    """Every hazard reported before :T and known at :C, as it stood at :T. Columns beyond the
    stored ones: grade_at, deadline_at, ended_as (if ended by :T) and the is_* conditions the
    catalogue uses; `latest_<attr>` for each of `attrs` changed since confirmation."""
    extra = "".join(f", later.latest_{a}" for a in attrs if a not in ("grade", "deadline"))
    return f"""
    WITH later AS ({_latest("view_hazard_changes", "hazard_id", attrs, "< :T")}),
    known AS (
      SELECT hz.*,
        COALESCE(hz.confirmed_at < :T AND hz.confirmed_rec <= :C, FALSE) AS confirmed,
        COALESCE(hz.verified_at < :T AND hz.verified_rec <= :C, FALSE) AS verified,
        COALESCE(hz.ended_at < :T AND hz.ended_rec <= :C, FALSE) AS ended,
        COALESCE(hz.listed_at < :T AND hz.listed_rec <= :C, FALSE) AS listed,
        COALESCE(hz.delisted_at < :T AND hz.delisted_rec <= :C, FALSE) AS delisted
      FROM view_hazards hz WHERE hz.reported_at < :T AND hz.reported_rec <= :C),
    h AS (
      SELECT k.*,
        CASE WHEN k.ended THEN k.end_kind END AS ended_as,
        COALESCE(later.latest_grade, CASE WHEN k.confirmed THEN k.confirmed_grade END,
                 k.proposed_grade) AS grade_at,
        COALESCE(later.latest_deadline, CASE WHEN k.confirmed THEN k.confirmed_deadline END,
                 CASE WHEN k.ended AND k.end_kind = 'on_spot' THEN k.ended_on END)
          AS deadline_at{extra}
      FROM known k LEFT JOIN later ON later.hazard_id = k.hazard_id)
    SELECT h.*,
      COALESCE(ended AND ended_as = 'voided', FALSE) AS is_void,
      COALESCE(ended AND ended_as IN ('closed', 'on_spot'), FALSE) AS is_closed,
      NOT ended AS is_open,
      COALESCE(confirmed AND NOT verified AND NOT ended AND deadline_at < :last_day, FALSE)
        AS is_overdue,
      COALESCE(grade_at = 'major', FALSE) AS is_major,
      COALESCE(grade_at = 'general', FALSE) AS is_general,
      listed AS is_listed,
      listed AND NOT delisted AND NOT ended AS is_listed_open,
      reported_at < :stock_end AS is_stock,
      COALESCE(deadline_at >= :first_day AND deadline_at <= :last_day, FALSE)
        AS deadline_in_period,
      COALESCE(ended AND ended_as IN ('closed', 'on_spot') AND ended_on <= deadline_at, FALSE)
        AS is_closed_in_time,
      CASE WHEN channel = 'self_inspection' THEN 'self'
           WHEN channel IN ('supervisory_inspection', 'enforcement_inspection',
                            'covert_visit') THEN 'department'
           WHEN channel IN ('public_report_verified', 'photo_report') THEN 'public'
           ELSE 'other' END AS channel_group
    FROM h"""


BASE_SQL = f"""
    WITH latest AS ({_latest("view_enterprise_changes", "enterprise_id",
                             ("unit_code", "status", "base_class", "key_unit"), "<= :T0")}),
    base AS (
      SELECT enterprise_id, latest_unit_code AS unit_code, latest_base_class AS base_class,
             latest_key_unit = '1' AS key_unit
      FROM latest WHERE latest_status <> 'closed'),
    si AS (SELECT enterprise_id, MAX(signed) AS signed FROM view_self_inspections
           WHERE period = :period AND rec <= :C GROUP BY enterprise_id),
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

FAMILIES: dict[str, str] = {
    "hazards": hazards_sql(),
    "base": BASE_SQL,
    "visits": """
      SELECT v.unit_code, v.enterprise_id, v.at, i.inspection_type FROM view_visits v
      LEFT JOIN view_inspections i ON i.inspection_id = v.inspection_id AND i.rec <= :C
      WHERE v.at < :T AND v.rec <= :C""",
    "inspections": """
      SELECT unit_code, at, inspection_type, targets, team_121 = 1 AS team_121, led = 1 AS led
      FROM view_inspections WHERE at < :T AND rec <= :C""",
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
    "measures": """
      SELECT unit_code, planned_at,
             CASE WHEN completed_at < :T AND completed_rec <= :C THEN completed_at END
               AS completed_at
      FROM view_measures WHERE planned_rec <= :C""",
}


def _window(column: str, on: str | None) -> str:
    if column == "at_end" or on is None:
        return "1 = 1"
    start = ":T0" if column == "month" else ":S"
    return f"{on} >= {start} AND {on} < :T"


def _expression(metric: Metric, column: str) -> str:
    condition = f"({metric.when}) AND {_window(column, metric.on)}"
    counted = f"SUM({metric.value})" if metric.kind == "sum" else "COUNT(*)"
    return f"{counted} FILTER (WHERE {condition})"


ADDITIVE: tuple[tuple[Metric, str], ...] = tuple(
    (m, column) for family in FAMILIES for m in CATALOGUE
    if isinstance(m, Metric) and m.family == family and m.kind != "distinct"
    for column in m.columns)
"""Every counted or summed figure, grouped by family: one slot each in a unit's totals."""
SLOT = {(metric.code, column): slot for slot, (metric, column) in enumerate(ADDITIVE)}
SECTORS = tuple(SECTOR_COLUMNS)


@dataclass
class Tally:
    """A unit's rolled-up raw figures: the additive ones (slots of ADDITIVE), distinct sets,
    and the sector breakdown."""

    totals: list[int] = field(default_factory=lambda: [0] * len(ADDITIVE))
    sets: defaultdict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set))
    sectors: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * len(SECTORS)))

    def add(self, start: int, values: list[int]) -> None:
        end = start + len(values)
        self.totals[start:end] = [a + b for a, b in zip(self.totals[start:end], values,
                                                         strict=True)]

    def merge(self, other: Tally) -> None:
        self.add(0, other.totals)
        for key, found in other.sets.items():
            self.sets[key] |= found
        for sector, counts in other.sectors.items():
            mine = self.sectors[sector]
            mine[:] = [a + b for a, b in zip(mine, counts, strict=True)]

    def value(self, code: str, column: str) -> int:
        slot = SLOT.get((code, column))
        return self.totals[slot] if slot is not None else len(self.sets[code, column])


def tally(tx: Tx, window: Window, tree: UnitTree) -> dict[str, Tally]:
    """Raw figures of every unit in `tree`: each fact counted at its own unit, then every
    unit's total added into its parent's, lowest level first."""
    params = window.params()
    own: defaultdict[str, Tally] = defaultdict(Tally)
    for family, sql in FAMILIES.items():
        _count(tx, family, sql, params, tree, own)
        for metric in CATALOGUE:
            if isinstance(metric, Metric) and metric.family == family \
                    and metric.kind == "distinct":
                for column in metric.columns:
                    for code, key in tx.rows(
                            f"SELECT DISTINCT unit_code, {metric.value} FROM ({sql}) f "
                            f"WHERE ({metric.when}) AND {_window(column, metric.on)}", params):
                        unit_id = tree.resolve(code)
                        if unit_id is not None:
                            own[unit_id].sets[metric.code, column].add(str(key))
    totals: defaultdict[str, Tally] = defaultdict(Tally)
    for unit in sorted(tree.units.values(), key=lambda u: u.level.rank):
        total = totals[unit.unit_id]
        total.merge(own[unit.unit_id])
        if unit.parent_id in tree.units:
            totals[unit.parent_id].merge(total)  # type: ignore[index]
    return {unit_id: totals[unit_id] for unit_id in tree.units}


def _count(tx: Tx, family: str, sql: str, params: dict[str, Any], tree: UnitTree,
           own: defaultdict[str, Tally]) -> None:
    """The additive metrics of one family (and, for hazards, the sector breakdown of
    条 in the same pass), grouped by the facts' unit codes."""
    slots = [slot for slot, (metric, _) in enumerate(ADDITIVE) if metric.family == family]
    by_sector = family == "hazards"
    expressions = [_expression(*ADDITIVE[slot]) for slot in slots]
    if by_sector:
        expressions += [f"COUNT(*) FILTER (WHERE ({condition}) AND "
                        f"{_window(column or 'at_end', 'reported_at')})"
                        for condition, column in SECTOR_COLUMNS.values()]
    if not expressions:
        return
    keys = "unit_code, sector" if by_sector else "unit_code"
    selected = keys if by_sector else "unit_code, NULL"
    for code, sector, *values in tx.rows(
            f"WITH f AS MATERIALIZED ({sql}) "  # each row's conditions computed once, not
            f"SELECT {selected}, {', '.join(expressions)} FROM f GROUP BY {keys}",  # per metric
            params):
        unit_id = tree.resolve(code)
        if unit_id is None:
            continue
        counts = [int(value or 0) for value in values]
        target = own[unit_id]
        if slots:
            target.add(slots[0], counts[:len(slots)])
        if by_sector:
            mine = target.sectors[sector]
            mine[:] = [a + b for a, b in zip(mine, counts[len(slots):], strict=True)]


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


def figures(tally_: Tally, level: Level) -> list[Figure]:
    """The statistical table of one unit: the catalogue's metrics for its level, in order."""
    totals, sets = tally_.totals, tally_.sets

    def value(operand: Operand) -> int:
        return totals[operand] if isinstance(operand, int) else len(sets.get(operand, ()))

    return [Figure(metric, {column: value(numerator) if denominator is None
                            else rate(value(numerator), value(denominator))
                            for column, numerator, denominator in values})
            for metric, values in _plan(level)]


Operand = int | tuple[str, str]
"""Where a figure is read: a slot of the additive totals, or the key of a distinct set."""


def _operand(code: str, column: str) -> Operand:
    return SLOT.get((code, column), (code, column))


@cache
def _plan(level: Level) -> tuple[tuple[Metric | Rate, tuple[tuple[str, Operand, Operand | None],
                                                            ...]], ...]:
    """Per metric of the level, per column: the figure read, or a rate's two figures."""
    return tuple(
        (metric, tuple((column, _operand(metric.numerator, column),
                        _operand(metric.denominator, column))
                       if isinstance(metric, Rate) else (column, _operand(metric.code, column),
                                                         None)
                       for column in metric.columns))
        for metric in metrics_for(level))
