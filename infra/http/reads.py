"""What the API and the workspace read, each within the reader's jurisdiction: the
directory (in memory, as commands are judged), a unit's figures and hazard list (assembled
from the views exactly as its submission is, `projections.report.Assembler`), a hazard's
timeline (`infra.audit.history`), submissions and their versions.

Jurisdiction for reading is the org's subtree (a village its own, a county its subtree, an
auditor everything under its org); an enterprise's persons read their own enterprise's
hazards only. Outside it, a 403 problem — never an empty answer that looks like "nothing".
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.base import SHANGHAI, Level, OrgProfile, OrgType
from domain.risk import RiskLevel, RiskPoint
from infra.http.credentials import Principal
from infra.http.problems import Problem, forbidden
from infra.intake.service import Zhibao
from infra.reporting.reporter import catch_up
from infra.store.records import event_payload
from projections.lists import hazard_rows, without_hidden
from projections.report import Assembled, Assembler
from projections.store import Tx, ViewStore

HAZARD_FILTERS = ("state", "grade", "overdue", "listed", "sector")


RISK_TOPICS = tuple(get_topic(cls) for cls in (
    RiskPoint.RiskPointIdentified, RiskPoint.RiskLevelAssessed, RiskPoint.RiskPointRetired))


@dataclass
class Reader:
    """The views of one store, kept caught up before each read — and the risk points' 四色
    levels, which no view holds, folded from the log as it grows."""

    app: Zhibao
    views: ViewStore
    lock: threading.Lock
    risk: dict[UUID, tuple[str, str]] = field(default_factory=dict)  # id → (unit, level)
    risk_position: int = 0
    analyzed: bool = False

    def fresh(self) -> None:
        """Fold what was recorded since the last read (one reader per process folds at a
        time; another server process may fold the same page first). The
        planner's statistics are refreshed once per server: views folded in small pages
        (or by another process) may never have been analysed, and PostgreSQL then plans
        the figures' joins as if the tables were tiny (seconds instead of milliseconds)."""
        head = self.app.recorder.max_notification_id() or 0
        if self.views.position() < head or not self.analyzed:
            with self.lock:
                try:
                    catch_up(self.app, self.views)
                except IntegrityError:  # another server process folded the same page
                    catch_up(self.app, self.views)  # first; carry on after it
                if not self.analyzed:
                    self.views.analyze()
                    self.analyzed = True

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        self.fresh()
        with self.views.snapshot() as tx:
            yield tx

    # -- jurisdiction --------------------------------------------------------------------

    def org(self, principal: Principal) -> OrgProfile:
        return self.app.directory.org(principal.org_id)

    def require_unit(self, principal: Principal, code: str) -> None:
        """The unit is in the reader's subtree (403 otherwise, 404 for an unknown code)."""
        org = self.org(principal)
        if code not in self.app.directory.codes:
            raise Problem(404, "not found", "unit", f"no unit has the code {code!r}")
        if org.org_type is OrgType.ENTERPRISE or org.unit_code not in self.app.directory.path(
                code):
            raise forbidden("unit", f"{code} is outside the jurisdiction of your org "
                                    f"({org.unit_code})", "V7")

    def home_unit(self, principal: Principal) -> str:
        return self.org(principal).unit_code

    def own_enterprise(self, principal: Principal) -> Any | None:
        """The enterprise a person acts for, when their org is one."""
        return self.app.directory.enterprises.get(principal.org_id)

    # -- the directory -------------------------------------------------------------------

    def unit_tree(self, principal: Principal, code: str, depth: int) -> dict[str, Any]:
        self.require_unit(principal, code)
        directory = self.app.directory
        children: dict[UUID, list[Any]] = {}
        for unit in directory.units.values():
            if unit.parent_id is not None and unit.valid_to is None:
                children.setdefault(unit.parent_id, []).append(unit)

        def node(unit: Any, left: int) -> dict[str, Any]:
            below = sorted(children.get(unit.unit_id, []), key=lambda u: u.code)
            return {"code": unit.code, "name": unit.name, "level": unit.level.value,
                    "children": [node(u, left - 1) for u in below] if left > 0 else None,
                    "child_count": len(below)}
        return node(directory.units[directory.codes[code].unit_id], depth)

    def orgs(self, principal: Principal, code: str) -> list[dict[str, Any]]:
        """The bodies registered at a unit (for an enterprise's person: their own)."""
        self.require_unit(principal, code)
        directory = self.app.directory
        unit_id = directory.codes[code].unit_id
        return [{"org_id": str(o.org_id), "name": o.name, "org_type": o.org_type.value,
                 "unit_code": code, "sectors": sorted(o.sectors),
                 "enforcement_power": o.enforcement_power,
                 "can_verify_major": o.can_verify_major}
                for o in directory.orgs.values() if o.unit_id == unit_id]

    def persons(self, principal: Principal) -> list[dict[str, Any]]:
        return [{"person_id": str(p.person_id), "name": p.name, "roles": list(p.roles),
                 "active": p.active}
                for p in self.app.directory.persons.values() if p.org_id == principal.org_id]

    def enterprises(self, principal: Principal, query: str, limit: int) -> list[dict[str, Any]]:
        """Enterprises in the reader's jurisdiction whose name holds `query`, or whose
        credit code starts with it."""
        org = self.org(principal)
        directory = self.app.directory
        found = []
        for e in directory.enterprises.values():
            if query not in e.name and not e.uscc.startswith(query.upper()):
                continue
            code = directory.current_code(e.moves[-1][1])
            if not directory.covers(org, code, None, e.enterprise_id):
                continue
            found.append({"enterprise_id": str(e.enterprise_id), "name": e.name,
                          "uscc": e.uscc, "unit_code": code, "sectors": list(e.sectors),
                          "status": e.status.value})
            if len(found) >= limit:
                break
        return found

    # -- views ---------------------------------------------------------------------------

    def periods(self) -> list[str]:
        with self.snapshot() as tx:
            return [row[0] for row in tx.rows("SELECT period FROM view_periods ORDER BY period")]

    def default_period(self) -> str:
        months = [p for p in self.periods() if len(p) == 7 and "Q" not in p]
        if not months:
            raise Problem(404, "not found", "period", "no reporting period has been "
                          "opened yet (zhibao report or the cascade opens one)")
        return months[-1]

    def assembler(self, tx: Tx, period: str) -> Assembler:
        major_only = tuple(Level(lv) for lv in self.app.settings.major_only_list_levels)
        return Assembler(tx, period, self.app.clock(), major_only, counted=False)

    def figures(self, principal: Principal, code: str, period: str) -> Assembled:
        """The unit's submission as it would be assembled now (a draft, not recorded):
        the same figures, children's statuses and lists as `zhibao report` gives."""
        self.require_unit(principal, code)
        with self.snapshot() as tx:
            assembler = self.assembler(tx, period)
            assembler.count(tx)
            unit = assembler.unit(code)
            assembler.read_lists(tx, unit)
            return assembler.assemble(unit, draft=True)

    def hazards(self, principal: Principal, code: str, period: str, filters: dict[str, Any],
                after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """The unit's hazard list rows (as in its submission) matching `filters`, from
        position `after`; the next cursor, or None at the end. An enterprise's persons get
        their own enterprise's rows."""
        org = self.org(principal)
        enterprise = self.own_enterprise(principal)
        if enterprise is None:
            self.require_unit(principal, code)
        else:
            code = self.app.directory.current_code(enterprise.moves[-1][1])
        with self.snapshot() as tx:
            assembler = self.assembler(tx, period)
            by_unit = hazard_rows(tx, assembler.window, assembler.tree)
            subtree = assembler.tree.subtree(assembler.unit(code).unit_id)
        rows = sorted((row for unit in subtree for row in by_unit.get(unit, ())
                       if _matches(row, filters)
                       and (not org.sectors or row["sector"] in org.sectors)
                       and (enterprise is None or row["uscc"] == enterprise.uscc)),
                      key=lambda row: row["_order"])
        page = rows[after:after + limit]
        following = after + limit if after + limit < len(rows) else None
        return [without_hidden(dict(row)) for row in page], following

    def trend(self, principal: Principal, code: str, months: list[str]) -> list[tuple[str, int]]:
        """Hazards found per month in the unit's subtree (by discovery date)."""
        self.require_unit(principal, code)
        directory = self.app.directory
        counts: Counter[str] = Counter()
        with self.snapshot() as tx:
            for unit_code, reported_at in tx.rows(
                    "SELECT unit_code, reported_at FROM view_hazards WHERE end_kind IS NULL "
                    "OR end_kind <> 'voided'"):
                if code in directory.path(unit_code):
                    moment = datetime.fromtimestamp(reported_at / 1e6, SHANGHAI)
                    counts[f"{moment.year:04d}-{moment.month:02d}"] += 1
        return [(month, counts[month]) for month in months]

    def risk_levels(self, principal: Principal, code: str) -> dict[str, int]:
        """Live risk points in the unit's subtree by 四色 level (red, orange, yellow, blue)."""
        self.require_unit(principal, code)
        with self.lock:
            self._fold_risk()
        directory = self.app.directory
        counts = Counter(level for unit, level in list(self.risk.values())
                         if code in directory.path(unit))
        return {level.value: counts[level.value] for level in RiskLevel}

    def _fold_risk(self) -> None:
        end = self.app.recorder.max_notification_id() or 0
        while self.risk_position < end:
            page = self.app.recorder.select_notifications(
                start=self.risk_position, stop=end, limit=5000, topics=RISK_TOPICS,
                inclusive_of_start=False)
            for notification in page:
                payload = event_payload(notification.state)
                point = notification.originator_id
                if notification.topic.endswith("RiskPointRetired"):
                    self.risk.pop(point, None)
                elif notification.topic.endswith("RiskPointIdentified"):
                    self.risk[point] = (payload["unit_code"], payload["level"])
                elif point in self.risk:
                    self.risk[point] = (self.risk[point][0], payload["level"])
            self.risk_position = page[-1].id if len(page) == 5000 else end

    def hazard_unit(self, hazard_id: UUID) -> tuple[str, str | None]:
        """Where a hazard counts and whose it is (unit code, enterprise id)."""
        with self.snapshot() as tx:
            found = tx.rows("SELECT unit_code, enterprise_id FROM view_hazards "
                            "WHERE hazard_id = ?", (str(hazard_id),))
        if not found:
            raise Problem(404, "not found", "hazard_id", f"no hazard has the id {hazard_id}")
        return found[0][0], found[0][1]

    def require_hazard(self, principal: Principal, hazard_id: UUID) -> None:
        code, enterprise_id = self.hazard_unit(hazard_id)
        org = self.org(principal)
        enterprise = UUID(enterprise_id) if enterprise_id else None
        if not self.app.directory.covers(org, code, None, enterprise):
            raise forbidden("hazard_id", f"hazard {hazard_id} is outside the jurisdiction of "
                                         "your org", "V7")

    def submissions(self, principal: Principal, code: str, period: str) -> list[dict[str, Any]]:
        self.require_unit(principal, code)
        with self.snapshot() as tx:
            rows = tx.dict_rows("SELECT version, sha256, cut_off, draft, late FROM "
                                "view_submissions WHERE unit_code = ? AND period = ? "
                                "ORDER BY version", (code, period))
        return [{"version": r["version"], "sha256": r["sha256"], "draft": bool(r["draft"]),
                 "late": bool(r["late"]),
                 "cut_off": datetime.fromtimestamp(r["cut_off"] / 1e6, SHANGHAI).isoformat()}
                for r in rows]


def _matches(row: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name, wanted in filters.items():
        if wanted is None:
            continue
        if name == "grade" and row["grade"] != wanted:
            return False
        if name in ("overdue", "listed") and row[name] != wanted:
            return False
        if name in ("state", "sector") and row[name] != wanted:
            return False
    return True

