"""The fold: what each event type writes into the view tables, and the writer that applies a
batch of `EventRecord`s in one transaction.

Every fold function maps one record to rows — it reads nothing — so a batch is folded in
memory and written with one bulk statement per table operation. Folds read only the
record (`EventRecord.data` as JSON values), never domain aggregates, so records rebuilt
from the store and from Kafka fold alike.

Duplicates: the WRITER absorbs them, callers need not filter. Every row is keyed by the
event that produced it (aggregate id and version) or is a column that only one event of its
aggregate ever sets, with the same value; applying a record a second time, in any later
batch, changes nothing. A consumer that may see an event twice (Kafka redelivery) simply
passes it again.

Unknown event types are skipped and counted in the result, never guessed at; event types
the views deliberately do not use are listed in `IGNORED`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from functools import lru_cache
from itertools import chain
from typing import Any

import orjson

from domain.base import EPOCH, MICROSECOND, SHANGHAI, from_micros
from domain.hazards import RectificationPlan
from infra.store.records import iso_micros
from projections import tables as t
from projections.catalogue import base_class
from projections.events import EventRecord
from projections.store import Track, ViewStore


def business_day(at: int) -> str:
    """The date in Shanghai of the instant `at` (`micros`), converted once per UTC hour
    instead of once per event: the conversion was a tenth of folding an event."""
    return _day_of_hour(at // _HOUR_MICROS) or from_micros(at).date().isoformat()


_HOUR = timedelta(hours=1)
_HOUR_MICROS = _HOUR // MICROSECOND


@lru_cache(maxsize=1 << 16)
def _day_of_hour(hour: int) -> str | None:
    """The business day of every instant of the UTC hour `hour` (counted from the epoch),
    or None when a midnight or a clock change falls inside it (one entry an hour of
    business time: 8,760 a year)."""
    first = EPOCH + hour * _HOUR
    start = first.astimezone(SHANGHAI)
    end = (first + _HOUR - MICROSECOND).astimezone(SHANGHAI)
    if start.date() != end.date() or start.utcoffset() != end.utcoffset():
        return None
    return start.date().isoformat()


INSERT, UPDATE, MAXIMUM = "insert", "update", "maximum"


@dataclass(frozen=True, eq=False)  # hashed by identity: looked up per row
class Op:
    """One bulk statement on `table`: insert rows of `columns` (the key first; a column left
    out stays NULL until a later event sets it), update `columns` of rows found by key (each
    row the key, then the values), or keep a running maximum of rows by key."""

    table: t.Table
    kind: str
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(self.table.column_names)
        if unknown:
            raise ValueError(f"{self.table.name} has no column {sorted(unknown)}")
        if self.kind == INSERT and self.columns[:len(self.table.key)] != self.table.key:
            raise ValueError(f"{self.table.name}: an insert's first columns are the key")

    def write(self, tx: Any, rows: list[tuple[Any, ...]]) -> None:
        if self.kind == MAXIMUM:
            tx.raise_to(self.table, rows)
        elif self.kind == UPDATE:
            tx.update(self.table, self.columns, rows)
        else:
            tx.insert(self.table, rows, self.columns)


def inserts(table: t.Table, columns: str = "") -> Op:
    """Inserts of the named columns (all the table's if none are named)."""
    return Op(table, INSERT, tuple(columns.split()) or table.column_names)


def updates(table: t.Table, columns: str) -> Op:
    return Op(table, UPDATE, tuple(columns.split()))


# The order matters only in one way: a row is inserted before any update of it.
UNIT = inserts(t.UNITS)
UNIT_CODE = inserts(t.UNIT_CODES, "code unit_id valid_from rec")
ORG = inserts(t.ORGS)
ENTERPRISE = inserts(t.ENTERPRISES)
ENTERPRISE_CHANGE = inserts(t.ENTERPRISE_CHANGES)
SELF_INSPECTION = inserts(t.SELF_INSPECTIONS)
INSPECTION = inserts(t.INSPECTIONS)
VISIT = inserts(t.VISITS)
ENFORCEMENT = inserts(t.ENFORCEMENT)
HAZARD = inserts(t.HAZARDS, "hazard_id unit_code enterprise_id sector channel "
                            "discovering_org_id discovering_level description category "
                            "proposed_grade location_detail relapse_of reported_at reported_rec")
HAZARD_CHANGE = inserts(t.HAZARD_CHANGES)
MEASURE = inserts(t.MEASURES, "measure_id unit_code org_id title kind sector content partners "
                              "planned_date related planned_at planned_rec")
TASK = inserts(t.TASKS)
TASK_EVENT = inserts(t.TASK_EVENTS)
PERIOD = inserts(t.PERIODS)
SUBMISSION = inserts(t.SUBMISSIONS)
MISSING = inserts(t.MISSING)
ACTIVITY = Op(t.ACTIVITY, MAXIMUM, t.ACTIVITY.column_names)
CODE_ENDED = updates(t.UNIT_CODES, "ended_on ended_rec successor")
HAZARD_CONFIRMED = updates(t.HAZARDS, "confirmed_at confirmed_rec confirmed_grade "
                                      "confirmed_deadline confirmed_treating_org "
                                      "confirmed_criteria_ref treatment notice_no local_grade")
HAZARD_VERIFIED = updates(t.HAZARDS, "verified_at verified_rec verifier_org_id")
HAZARD_ENDED = updates(t.HAZARDS, "ended_at ended_rec ended_on end_kind ended_by")
HAZARD_LISTED = updates(t.HAZARDS, "listed_at listed_rec listing_level listing_authority "
                                   "supervising_org listing_notice_no listing_deadline")
HAZARD_DELISTED = updates(t.HAZARDS, "delisted_at delisted_rec")
MEASURE_ISSUED = updates(t.MEASURES, "doc_no issued_on issued_at issued_rec")
MEASURE_COMPLETED = updates(t.MEASURES, "completed_on completed_at completed_rec evidence")

OPS: tuple[Op, ...] = (
    UNIT, UNIT_CODE, ORG, ENTERPRISE, ENTERPRISE_CHANGE, SELF_INSPECTION, INSPECTION, VISIT,
    ENFORCEMENT, HAZARD, HAZARD_CHANGE, MEASURE, TASK, TASK_EVENT, PERIOD, SUBMISSION, MISSING,
    ACTIVITY, CODE_ENDED, HAZARD_CONFIRMED, HAZARD_VERIFIED, HAZARD_ENDED, HAZARD_LISTED,
    HAZARD_DELISTED, MEASURE_ISSUED, MEASURE_COMPLETED,
)
MERGED_UPDATES: dict[Op, tuple[Op, ...]] = {
    HAZARD: (HAZARD_CONFIRMED, HAZARD_VERIFIED, HAZARD_ENDED, HAZARD_LISTED, HAZARD_DELISTED),
    MEASURE: (MEASURE_ISSUED, MEASURE_COMPLETED),
}
"""Updates a load into empty views makes part of the insert when the row is inserted in
the same batch (see `Batch.write`). These rows are keyed by their aggregate's id and
inserted by its first event, so in such a load each key is inserted once, by the row its
updates are merged into; elsewhere the row may exist already (a re-delivered event), its
insert skipped and with it any update merged into it."""


@dataclass
class Batch:
    """Rows collected from a batch of records, per operation."""

    rows: dict[Op, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, op: Op, *row: Any) -> None:
        self.rows.setdefault(op, []).append(row)

    def write(self, tx: Any) -> None:
        """One statement per operation; running maxima are first combined by key, once for
        the whole batch: one statement may not raise the same row twice. In a load into
        empty views (`tx.from_empty`) the `MERGED_UPDATES` of rows inserted in this batch
        are written with the insert: at 1.2M events on SQLite, a hazard's confirmation,
        verification and end took 2.4 s of the writing as UPDATEs."""
        rows = dict(self.rows)
        for op in OPS:
            if op not in rows:
                continue
            if op.kind == MAXIMUM:
                op.write(tx, _largest_by_key(op.table, rows[op]))
            elif tx.from_empty and op in MERGED_UPDATES:
                for shape, merged in _merged(op, rows):
                    shape.write(tx, merged)
            else:
                op.write(tx, rows[op])

    def extend(self, later: Batch) -> None:
        """Add the rows of a batch folded from later records, so that several pages are
        written with one statement per operation (on PostgreSQL each statement costs a
        staging table's round of COPY, merge and clean-up)."""
        for op, rows in later.rows.items():
            self.rows.setdefault(op, []).extend(rows)

    def as_lists(self) -> list[list[tuple[Any, ...]]]:
        """The rows per operation in OPS order: what a worker process sends back (an Op is
        matched by identity, which pickling does not keep)."""
        return [self.rows.get(op, []) for op in OPS]

    @classmethod
    def from_lists(cls, lists: list[list[tuple[Any, ...]]]) -> Batch:
        return cls({op: rows for op, rows in zip(OPS, lists, strict=True) if rows})


def _merged(insert: Op, rows: dict[Op, list[tuple[Any, ...]]]
            ) -> Iterator[tuple[Op, list[tuple[Any, ...]]]]:
    """The rows of `insert` with the values its `MERGED_UPDATES` in `rows` set on them,
    one insert for each set of updates met; as in the database, of the rows of one key the
    first is inserted, and of an update's rows for one key the last wins. The updates of
    rows not inserted here stay in `rows`."""
    width = len(insert.table.key)
    inserted = rows[insert]
    keys = [row[:width] for row in inserted]
    found = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))  # the first
    updated: dict[int, dict[Op, tuple[Any, ...]]] = {}
    for update in MERGED_UPDATES[insert]:
        if update in rows:
            left = []
            for row in rows[update]:
                i = found.get(row[:width])
                if i is None:
                    left.append(row)
                else:
                    updated.setdefault(i, {})[update] = row[width:]
            rows[update] = left
    shapes: dict[tuple[Op, ...], list[tuple[Any, ...]]] = {}
    for i in found.values():  # a later row of a key, which the insert would skip, is left out
        steps = updated.get(i, {})
        shapes.setdefault(tuple(steps), []).append(
            inserted[i] + tuple(chain.from_iterable(steps.values())))
    for steps, shaped in shapes.items():
        columns = insert.columns + tuple(chain.from_iterable(step.columns for step in steps))
        yield replace(insert, columns=columns), shaped


def _largest_by_key(table: t.Table, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per key, each other column the largest of the rows' values."""
    width = len(table.key)
    largest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        key, values = row[:width], row[width:]
        found = largest.get(key)
        largest[key] = values if found is None else tuple(map(max, found, values))
    return [key + values for key, values in largest.items()]


@dataclass(slots=True)
class Fact:
    """A record prepared once for its fold: ids as text, instants as microseconds, the
    business date (every fact's month of activity is taken from it)."""

    record: EventRecord
    id: str
    at: int  # occurred_at
    rec: int  # recorded_at
    day: str  # the business date the event occurred on

    @classmethod
    def of(cls, record: EventRecord) -> Fact:
        return cls(record, record.originator_id, record.occurred_at, record.recorded_at,
                   business_day(record.occurred_at))

    @property
    def actor(self) -> str:
        return self.record.actor_org_id

    @property
    def data(self) -> dict[str, Any]:
        return self.record.data

    @property
    def version(self) -> int:
        return self.record.originator_version

    @property
    def unit_code(self) -> str:
        return self.record.unit_code

    @property
    def event_type(self) -> str:
        return self.record.event_type


Fold = Callable[[Fact, Batch], None]
FOLDS: dict[str, Fold] = {}

IGNORED = frozenset({
    # facts no metric or list of DOMAIN §7–§8 uses
    "InspectionClosed", "PublicReportReceived",
    "PublicReportVerified", "PublicReportRejected", "RiskPointIdentified", "RiskLevelAssessed",
    "RiskControlMeasureSet", "RiskPointRetired", "TaskListPublished", "TaskCompleted",
    "EnforcementCaseClosed", "SuspensionLifted",
    "DeadlineExtensionRequested", "DeadlineExtensionRejected", "HazardRelapseFound",
    # the audit trail's own bookkeeping
    "AuditTrailStarted", "CheckpointSealed", "CheckpointSigned",
    # who may act: persons, their roles, orgs' powers and sector scopes
    "PersonRegistered", "RoleGranted", "RoleRevoked", "PersonDeactivated", "OrgPowerGranted",
    "OrgPowerRevoked", "OrgSectorsSet",
    # the front door's credentials: who could sign in when
    "CredentialIssued", "CredentialRevoked", "SignInFailed",
})


def folds(*event_types: str) -> Callable[[Fold], Fold]:
    def register(fold: Fold) -> Fold:
        for name in event_types:
            FOLDS[name] = fold
        return fold
    return register


# -- reference data ------------------------------------------------------------------------


@folds("AdminUnitRegistered")
def _unit_registered(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(UNIT, r.id, d["code"], d["level"], d["name"], d["parent_id"], d["valid_from"],
          r.rec)
    b.add(UNIT_CODE, d["code"], r.id, d["valid_from"], r.rec)


@folds("AdminUnitRecoded")
def _unit_recoded(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(UNIT_CODE, d["new_code"], r.id, d["valid_from"], r.rec)
    b.add(CODE_ENDED, d["old_code"], d["valid_from"], r.rec, d["new_code"])


@folds("AdminUnitMerged", "AdminUnitRetired")
def _unit_ended(r: Fact, b: Batch) -> None:
    d = r.data
    successors = [d["successor_code"]] if "successor_code" in d else d["successor_codes"]
    b.add(CODE_ENDED, r.unit_code, d["valid_from"], r.rec,
          successors[0] if successors else None)


@folds("OrgUnitRegistered")
def _org_registered(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(ORG, r.id, d["name"], d["org_type"], d["level"], r.unit_code, r.rec)


def _enterprise_change(r: Fact, b: Batch, attr: str, value: Any) -> None:
    b.add(ENTERPRISE_CHANGE, r.id, attr, r.version, r.at, r.rec, value)


@folds("EnterpriseRegistered")
def _enterprise_registered(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(ENTERPRISE, r.id, d["uscc"], d["name"], r.rec)
    _enterprise_change(r, b, "unit_code", r.unit_code)
    _enterprise_change(r, b, "status", "operating")
    _enterprise_flags(r, b)
    _enterprise_sectors(r, b)


@folds("EnterpriseFlagsChanged")
def _enterprise_flags(r: Fact, b: Batch) -> None:
    kind, key_unit = base_class(r.data["flags"])
    _enterprise_change(r, b, "base_class", kind)
    _enterprise_change(r, b, "key_unit", str(int(key_unit)))


@folds("EnterpriseSectorsChanged")
def _enterprise_sectors(r: Fact, b: Batch) -> None:
    _enterprise_change(r, b, "sectors", ",".join(sorted(r.data["sectors"])))


@folds("EnterpriseRelocated")
def _enterprise_relocated(r: Fact, b: Batch) -> None:
    _enterprise_change(r, b, "unit_code", r.data["to_unit_code"])


_STATUS = {"EnterpriseSuspended": "suspended", "EnterpriseResumed": "operating",
           "EnterpriseClosed": "closed"}


@folds(*_STATUS)
def _enterprise_status(r: Fact, b: Batch) -> None:
    _enterprise_change(r, b, "status", _STATUS[r.event_type])


@folds("SelfInspectionSubmitted")
def _self_inspection(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(SELF_INSPECTION, r.id, r.version, d["period"], r.unit_code,
          int(d["signed_by_principal"]), r.at, r.rec)


# -- inspections and enforcement -----------------------------------------------------------


@folds("InspectionPlanned")
def _inspection_planned(r: Fact, b: Batch) -> None:
    d = r.data
    led = any(member["role"] == "leader" for member in d["team"])
    b.add(INSPECTION, r.id, d["inspection_type"], d["organiser_org_id"], r.unit_code, r.at,
          r.rec, len(d["targets"]), int(d["team_121"]), int(led))


@folds("InspectionConducted")
def _inspection_conducted(r: Fact, b: Batch) -> None:
    b.add(VISIT, r.id, r.version, r.data["enterprise_id"], r.unit_code, r.at,
          r.rec)


_ACTIONS: dict[str, tuple[str, str | None]] = {  # event type: (action, field kept as detail)
    "EnforcementCaseOpened": ("case_opened", "case_no"),
    "FineImposed": ("fine", "target"),
    "SuspensionOrdered": ("suspension", "scope"),
    "LicenceSuspended": ("licence", None),
    "LicenceRevoked": ("licence", None),
    "ClosureOrdered": ("closure", None),
    "Blacklisted": ("blacklist", None),
    "CaseReferred": ("referral", "referred_to"),
    "InterviewHeld": ("interview", "target_type"),
    "PublicExposure": ("exposure", "channel"),
    "AccountabilityReminderIssued": ("reminder", "step"),
}


@folds(*_ACTIONS)
def _enforcement(r: Fact, b: Batch) -> None:
    """Penalties of a case name no enterprise themselves: readers take it from the case's
    `case_opened` row (same aggregate)."""
    d = r.data
    action, detail_field = _ACTIONS[r.event_type]
    detail = d[detail_field] if detail_field else r.event_type
    b.add(ENFORCEMENT, r.id, r.version, action, d.get("enterprise_id"),
          r.unit_code, r.actor, r.at, r.rec, d.get("amount_fen"),
          d.get("persons"), None if detail is None else str(detail))


# -- hazards -----------------------------------------------------------------------------------


def _change(r: Fact, b: Batch, attr: str, value: Any) -> None:
    b.add(HAZARD_CHANGE, r.id, attr, r.version, r.at, r.rec, value)


@folds("HazardReported")
def _hazard_reported(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(HAZARD, r.id, r.unit_code, d["enterprise_id"], d["sector"], d["channel"],
          d["discovering_org_id"], d["discovering_level"], d["description"], d["category"],
          d["proposed_grade"], d["location_detail"], d["relapse_of"], r.at, r.rec)


@folds("HazardConfirmed")
def _hazard_confirmed(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(HAZARD_CONFIRMED, r.id, r.at, r.rec, d["grade"], d["deadline"], d["treating_org_id"],
          d["criteria_ref"], d["treatment"], d["notice_no"], d["local_grade"])


@folds("HazardRegraded")
def _hazard_regraded(r: Fact, b: Batch) -> None:
    _change(r, b, "grade", r.data["to_grade"])
    if r.data["criteria_ref"]:
        _change(r, b, "criteria_ref", r.data["criteria_ref"])
    if r.data["to_grade"] == "major":  # a major's plan needs (new) approval
        _change(r, b, "plan_approved", "")


@folds("HazardRectifiedOnSpot")
def _hazard_on_spot(r: Fact, b: Batch) -> None:
    """The fast path: general, due and completed on the day, closed at once."""
    b.add(HAZARD_ENDED, r.id, r.at, r.rec, r.day, "on_spot", r.actor)


PLAN_FIELDS = tuple(f.name for f in fields(RectificationPlan))


@folds("RectificationPlanSubmitted")
def _plan_submitted(r: Fact, b: Batch) -> None:
    """The plan, whether it states all of 五到位 (the domain's own test), its funds, and
    that it awaits approval (a major's; a general one's takes effect anyway)."""
    plan = r.data["plan"]
    _change(r, b, "plan", orjson.dumps(plan, option=orjson.OPT_SORT_KEYS).decode())
    complete = not RectificationPlan(**{name: plan.get(name) for name in PLAN_FIELDS}
                                     ).missing_for_major()
    _change(r, b, "plan_complete", "1" if complete else "")
    _change(r, b, "plan_funds", "" if plan["funds_fen"] is None else str(plan["funds_fen"]))
    _change(r, b, "plan_approved", "")


@folds("RectificationPlanApproved")
def _plan_approved(r: Fact, b: Batch) -> None:
    _change(r, b, "plan_approved", "1")


@folds("RectificationPlanRejected")
def _plan_rejected(r: Fact, b: Batch) -> None:
    _change(r, b, "plan", "")


@folds("RectificationProgressReported")
def _progress(r: Fact, b: Batch) -> None:
    _change(r, b, "progress", str(r.data["percent"]))


@folds("DeadlineExtended")
def _extended(r: Fact, b: Batch) -> None:
    _change(r, b, "deadline", r.data["new_deadline"])


@folds("HazardBecameOverdue")
def _became_overdue(r: Fact, b: Batch) -> None:
    _change(r, b, "overdue_for", r.data["deadline"])


@folds("HazardListed")
def _listed(r: Fact, b: Batch) -> None:
    listing = r.data["listing"]
    b.add(HAZARD_LISTED, r.id, r.at, r.rec, listing["level"],
          listing["authority_org_id"], listing["supervising_org"], listing["notice_no"],
          listing["deadline"])


@folds("HazardDelisted")
def _delisted(r: Fact, b: Batch) -> None:
    b.add(HAZARD_DELISTED, r.id, r.at, r.rec)


@folds("RectificationCompleted")
def _completed(r: Fact, b: Batch) -> None:
    _change(r, b, "completed", r.day)


@folds("HazardVerified")
def _verified(r: Fact, b: Batch) -> None:
    if r.data["passed"]:
        b.add(HAZARD_VERIFIED, r.id, r.at, r.rec, r.data["verifier_org_id"])
    else:
        _change(r, b, "completed", "")


_ENDS = {"HazardClosed": "closed", "HazardVoided": "voided",
         "HazardEliminatedByClosure": "eliminated"}


@folds(*_ENDS)
def _ended(r: Fact, b: Batch) -> None:
    b.add(HAZARD_ENDED, r.id, r.at, r.rec, r.day, _ENDS[r.event_type], r.actor)


@folds("HazardTransferred")
def _transferred(r: Fact, b: Batch) -> None:
    _change(r, b, "treating_org", r.data["to_org_id"])


# -- measures and tasks ------------------------------------------------------------------------


@folds("MeasurePlanned")
def _measure_planned(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(MEASURE, r.id, r.unit_code, d["org_id"], d["title"], d["kind"], d["sector"],
          d["content"], "、".join(d["partners"]), d["planned_date"],
          ",".join(d["related_hazard_ids"]), r.at, r.rec)


@folds("MeasureIssued")
def _measure_issued(r: Fact, b: Batch) -> None:
    b.add(MEASURE_ISSUED, r.id, r.data["doc_no"], r.data["issued_on"], r.at, r.rec)


@folds("MeasureCompleted")
def _measure_completed(r: Fact, b: Batch) -> None:
    b.add(MEASURE_COMPLETED, r.id, r.data["completed_on"], r.at, r.rec,
          r.data["evidence"])


@folds("TaskDefined")
def _task_defined(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(TASK, r.id, r.unit_code, d["doc_no"], d["task_no"], d["section"], d["item"],
          d["requirement"], orjson.dumps(d["responsible_units"]).decode(), d["deadline"],
          d["deadline_text"], int(d["born_overdue"]), r.rec)


@folds("TaskProgressReported", "TaskCompletedByUnit")
def _task_event(r: Fact, b: Batch) -> None:
    kind = "progress" if r.event_type == "TaskProgressReported" else "completed"
    b.add(TASK_EVENT, r.id, r.version, r.data["responsible_unit"], kind,
          r.data.get("text"), r.at, r.rec)


# -- reporting -----------------------------------------------------------------------------------


@folds("ReportingPeriodOpened")
def _period_opened(r: Fact, b: Batch) -> None:
    d = r.data
    deadlines = {entry["level"]: entry["deadline"] for entry in d["deadlines"]}
    b.add(PERIOD, d["period"], orjson.dumps(deadlines, option=orjson.OPT_SORT_KEYS).decode(),
          d["programme_start"], d["stock_cutoff"], r.rec)


@folds("ReportSubmitted", "ReportAmended")
def _submitted(r: Fact, b: Batch) -> None:
    d = r.data
    b.add(SUBMISSION, r.id, d["version"], r.unit_code, d["period"], d["sha256"],
          iso_micros(d["cut_off"]), d["view_position"], int(d["draft"]),
          int(d["late"]), r.rec, orjson.dumps(d["children"]).decode())


@folds("ReportMarkedMissing")
def _missing(r: Fact, b: Batch) -> None:
    b.add(MISSING, r.data["period"], r.unit_code, r.data["deadline"], r.rec)


# -- the writer ------------------------------------------------------------------------------------


@dataclass
class Applied:
    """What a batch did: records folded, and unknown event types skipped (by name)."""

    folded: int = 0
    unknown: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Applied) -> None:
        self.folded += other.folded
        self.unknown.update(other.unknown)


REPORTING = frozenset({"ReportingPeriodOpened", "ReportSubmitted", "ReportAmended",
                       "ReportMarkedMissing"})
"""Events about submissions rather than facts: no submission's content depends on them but
through its children's statuses, which the cascade compares itself."""


def fold_batch(records: Iterable[EventRecord]) -> tuple[Batch, Applied]:
    batch, applied = Batch(), Applied()
    activity: dict[tuple[str, str], tuple[int, int]] = {}
    for record in records:
        fold = FOLDS.get(record.event_type)
        if fold is not None:
            fact = Fact.of(record)
            fold(fact, batch)
            applied.folded += 1
            if record.event_type not in REPORTING and record.unit_code:
                key = (record.unit_code, _month_concerned(fact))
                rec, position = activity.get(key, (0, 0))
                activity[key] = (max(rec, fact.rec), max(position, record.position))
        elif record.event_type not in IGNORED:
            applied.unknown[record.event_type] += 1
    for (unit_code, month), (rec, position) in activity.items():
        batch.add(ACTIVITY, unit_code, month, rec, position)
    return batch, applied


def _month_concerned(r: Fact) -> str:
    """The month a fact can change the submissions of (and every later one's 累计)."""
    if r.event_type == "TaskDefined":
        return ""  # a task list shows in every period once known
    month = r.day[:7]
    if r.event_type == "SelfInspectionSubmitted":
        return min(month, r.data["period"])  # counted for its period, filed after it
    return month


class ViewWriter:
    """Applies batches of records to the views, each batch in one transaction together
    with the caller's position (`track`), e.g.

        writer.apply(records, track=lambda tx: tx.track("kafka/610902/0", offset))

    After a crash mid-batch nothing of the batch is visible and the position is the
    previous one, so the caller resumes exactly there."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def apply(self, records: Sequence[EventRecord], track: Track | None = None) -> Applied:
        batch, applied = fold_batch(records)
        self.write(batch, track)
        return applied

    def write(self, batch: Batch, track: Track | None = None) -> None:
        """Write rows already folded (see `fold_batch`), in one transaction with `track`."""
        with self.store.transaction() as tx:
            batch.write(tx)
            if track is not None:
                track(tx)
