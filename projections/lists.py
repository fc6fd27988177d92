"""The two lists (两清单, DOMAIN §8) and the task progress table, read from the views as they
stood at the period end and as known at the cut-off.

问题隐患清单: every hazard of the unit's subtree open at any time in the period or closed in
it, tagged new / carried_over / closed_this_period (§8.3); at the levels named in
`ZHIBAO_MAJOR_ONLY_LIST_LEVELS` only major and listed hazards (the general ones run to
millions nationally). 制度措施清单: the measures owned in the subtree, planned by the period
end. Rows are plain JSON values (dates as ISO text, money in integer fen), ordered so the
same inputs always give the same list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from domain.base import from_micros
from domain.sectors import SECTORS
from projections.stats import Window, hazards_sql
from projections.store import Tx
from projections.tree import UnitTree

Row = dict[str, Any]
LIST_ATTRS = ("criteria_ref", "progress", "treating_org")
"""Changing hazard attributes the list shows beyond those the conditions read."""
LISTABLE = "NOT COALESCE(hz.ended_at < :T0 AND hz.ended_rec <= :C, FALSE)"
"""A hazard a list may show: not ended before the period began, as known at the cut-off —
the others' changes are not even read."""
NAMED = ("enterprise_id", "discovering_org_id", "latest_treating_org", "confirmed_treating_org",
         "verifier_org_id")
"""A hazard's columns holding the id of an org or enterprise the list names."""
HIDDEN = ("_major_or_listed", "_order")
"""The keys a row carries for assembling the lists (which lists show it, its place in
them), which no list shows."""


def day_of(instant: int | None) -> str | None:
    """The business date of an instant kept as microseconds."""
    return None if instant is None else from_micros(instant).date().isoformat()


ID_BATCH = 5000
"""Ids looked up by one statement, well under SQLite's and PostgreSQL's parameter limits."""


def _by_id(tx: Tx, select: str, column: str, ids: Iterable[Any]) -> list[tuple[Any, ...]]:
    """The rows `select` (ending `WHERE`) finds for the ids in `column`, a batch a
    statement."""
    wanted = sorted({found for found in ids if isinstance(found, str) and found})
    rows = []
    for start in range(0, len(wanted), ID_BATCH):
        among, params = tx.one_of(column, wanted[start:start + ID_BATCH])
        rows += tx.rows(f"{select} {among}", params)
    return rows


def _org_names(tx: Tx, ids: Iterable[Any]) -> dict[str, str]:
    return dict(_by_id(tx, "SELECT org_id, name FROM view_orgs WHERE", "org_id", ids))


def _bodies(tx: Tx, ids: set[Any]) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Of the orgs and enterprises among `ids`: the names (an org's where both have the id)
    and each enterprise's name and USCC. Only those the rows name are read, so the read
    grows with the part of the tree listed, not with the province."""
    enterprises = {e: (name, uscc) for e, name, uscc in _by_id(
        tx, "SELECT enterprise_id, name, uscc FROM view_enterprises WHERE", "enterprise_id",
        ids)}
    names = {e: name for e, (name, _) in enterprises.items()}
    return {**names, **_org_names(tx, ids)}, enterprises


def _named(text: str | None, names: dict[str, str]) -> str | None:
    """A plan names its responsible body in words, or by an org's or enterprise's id."""
    return names.get(text, text) if text else None


def without_hidden(row: Row) -> Row:
    """`row` (a copy) rid of its HIDDEN keys in place: two deletions, not a test of each of
    its 36 keys — a cascade shows 63,000 rows."""
    for key in HIDDEN:
        row.pop(key, None)
    return row


def _tag(row: Row, start: int) -> str:
    if row["is_closed"]:
        return "closed_this_period"
    return "new" if row["reported_at"] >= start else "carried_over"


def hazard_rows(tx: Tx, window: Window, tree: UnitTree, codes: Sequence[str] | None = None,
                major_only: bool = False) -> dict[str, list[Row]]:
    """List rows by the unit id each hazard belongs to (not yet rolled up): of the hazards
    recorded under `codes` (None: all), only the major or listed ones if `major_only`."""
    only, params = LISTABLE, window.params()
    if codes is not None:
        among, listed = tx.one_of("hz.unit_code", codes)
        only, params = f"{LISTABLE} AND {among}", {**params, **listed}
    major = " AND (is_major OR listed)" if major_only else ""
    found = []
    for row in tx.dict_rows(f"SELECT * FROM ({hazards_sql(tx.dialect, LIST_ATTRS, True, only)}) f "
                            f"WHERE NOT is_void AND (is_open OR ended_at >= :T0){major}",
                            params):
        unit_id = tree.resolve(row["unit_code"])
        if unit_id is not None:
            found.append((unit_id, row, orjson.loads(row["latest_plan"])
                          if row["latest_plan"] else {}))
    names, enterprises = _bodies(
        tx, {row[key] for _, row, _ in found for key in NAMED}
        | {plan.get("responsible_org") for _, _, plan in found})
    locations = {unit_id: _location(tree, unit_id) for unit_id in {u for u, _, _ in found}}
    by_unit: defaultdict[str, list[Row]] = defaultdict(list)
    for unit_id, row, plan in found:
        name, uscc = enterprises.get(row["enterprise_id"], (None, None))
        treating = row["latest_treating_org"] or (
            row["confirmed_treating_org"] if row["confirmed"] else row["discovering_org_id"])
        closed = row["is_closed"]
        by_unit[unit_id].append({
            "hazard_id": row["hazard_id"],
            "unit_code": row["unit_code"],
            "location": locations[unit_id],
            "sector": row["sector"],
            "sector_name": SECTORS.get(row["sector"], row["sector"]),
            "enterprise": name,
            "uscc": uscc,
            "description": row["description"],
            "category": row["category"],
            "grade": row["grade_at"],
            "local_grade": row["local_grade"] if row["confirmed"] else None,
            "criteria_ref": row["latest_criteria_ref"] or (
                row["confirmed_criteria_ref"] if row["confirmed"] else None),
            "channel": row["channel"],
            "discovered_by": names.get(row["discovering_org_id"]),
            "discovered_on": day_of(row["reported_at"]),
            "measures": plan.get("measures"),
            "responsible_org": _named(plan.get("responsible_org"), names) or names.get(treating),
            "responsible_person": plan.get("responsible_person"),
            "funds_fen": plan.get("funds_fen"),
            "deadline": row["deadline_at"],
            "contingency_plan": plan.get("contingency_plan") or plan.get("interim_controls"),
            "listed": bool(row["listed"]),
            "listing_level": row["listing_level"] if row["listed"] else None,
            "supervising_org": row["supervising_org"] if row["listed"] else None,
            "state": row["state_at"],
            "progress": row["latest_progress"],
            "completed_on": row["latest_completed"] or (row["ended_on"] if closed else None),
            "verifier": names.get(row["verifier_org_id"]) if row["verified"] else None,
            "verified_on": day_of(row["verified_at"]) if row["verified"] else None,
            "closed_on": row["ended_on"] if closed else None,
            "overdue": bool(row["is_overdue"]),
            "tag": _tag(row, params["T0"]),
            "_major_or_listed": bool(row["is_major"] or row["listed"]),
            "_order": (row["reported_at"], row["hazard_id"]),
        })
    return by_unit


def _location(tree: UnitTree, unit_id: str) -> str:
    """所在区划: the names from the county down, then the place's code."""
    return f"{'/'.join(u.name for u in tree.location(unit_id))} {tree.units[unit_id].code}"


def measure_rows(tx: Tx, window: Window, tree: UnitTree, codes: Sequence[str] | None = None
                 ) -> dict[str, list[Row]]:
    """List rows by the unit id each measure belongs to (not yet rolled up), of the
    measures recorded under `codes` (None: all)."""
    mine, params = "", window.params()
    if codes is not None:
        among, listed = tx.one_of("unit_code", codes)
        mine, params = f" AND {among}", {**params, **listed}
    found = tx.rows("""
            SELECT measure_id, unit_code, org_id, title, kind, sector, content, partners,
              planned_date, related,
              CASE WHEN issued_at < :T AND issued_rec <= :C THEN doc_no END,
              CASE WHEN issued_at < :T AND issued_rec <= :C THEN issued_on END,
              CASE WHEN completed_at < :T AND completed_rec <= :C THEN completed_on END,
              CASE WHEN completed_at < :T AND completed_rec <= :C THEN evidence END
            FROM view_measures WHERE planned_at < :T AND planned_rec <= :C""" + mine,
                    params)
    orgs = _org_names(tx, (row[2] for row in found))
    by_unit: defaultdict[str, list[Row]] = defaultdict(list)
    for (measure_id, unit_code, org_id, title, kind, sector, content, partners, planned_date,
         related, doc_no, issued_on, completed_on, evidence) in found:
        unit_id = tree.resolve(unit_code)
        if unit_id is None:
            continue
        by_unit[unit_id].append({
            "measure_id": measure_id,
            "title": title,
            "kind": kind,
            "sector": sector,
            "sector_name": SECTORS.get(sector, sector) if sector else None,
            "lead_org": orgs.get(org_id),
            "partners": partners or None,
            "content": content,
            "related_hazards": len(related.split(",")) if related else 0,
            "planned_date": planned_date,
            "done_on": completed_on or issued_on,
            "doc_no": doc_no,
            "state": "done" if completed_on else ("in_progress" if doc_no else "planned"),
            "remarks": evidence,
            "_order": (planned_date, measure_id),
        })
    return by_unit


def task_rows(tx: Tx, window: Window, unit_code: str) -> list[Row]:
    """Progress (完成进展) of the tasks published at this unit, one row per task and
    responsible unit (the units as the list names them: 各县区(开发区)党委、政府 is one),
    with the overdue flag at the period end."""
    params = window.params()
    events: defaultdict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for task_id, responsible, kind, text, at in tx.rows(
            "SELECT task_id, responsible_unit, kind, text, at FROM view_task_events "
            "WHERE at < :T AND rec <= :C ORDER BY task_id, version", params):
        events[task_id, responsible][kind] = text if kind == "progress" else day_of(at)
    rows = []
    for (task_id, task_no, section, item, requirement, responsible, deadline, deadline_text,
         born_overdue) in tx.rows(
            "SELECT task_id, task_no, section, item, requirement, responsible, deadline, "
            "deadline_text, born_overdue FROM view_tasks WHERE unit_code = :unit AND rec <= :C "
            "ORDER BY task_no, task_id", {**params, "unit": unit_code}):
        for responsible_unit in orjson.loads(responsible):
            done = events[task_id, responsible_unit]
            completed = done.get("completed")
            rows.append({
                "task_no": task_no, "section": section, "item": item,
                "requirement": requirement, "responsible_unit": responsible_unit,
                "deadline": deadline, "deadline_text": deadline_text,
                "progress": done.get("progress"), "completed_on": completed,
                "overdue": not completed and deadline is not None
                and deadline < window.last_day.isoformat(),
                "born_overdue": bool(born_overdue),
            })
    return rows
