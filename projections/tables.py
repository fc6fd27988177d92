"""The view tables, declared once as data so the SQLite and PostgreSQL schemas, the
writer's statements and the readers cannot drift apart.

Conventions (both databases):
- instants are integers, microseconds since the Unix epoch (UTC): `*_at` is business time
  (`occurred_at`), `*_rec` is system time (`recorded_at`) of the event that set the value;
- business dates (deadlines, planned dates) are ISO `YYYY-MM-DD` text, which sorts as dates;
- every row carries the `recorded_at` of the fact it holds, so a reader can ask "as known at
  cut-off C" by ignoring facts recorded after C. That is what makes a frozen submission
  reproducible from the live views (DOMAIN §7.1, §11.2 rule 8);
- reports read whole tables (every unit's figures at once), so beyond the keys there are
  indexes only where a report looks up a part (a period's self-inspections and submissions;
  the hazards and measures of a county, which the cascade's lists read one at a time): each
  index would slow every write of the projection.

Rows are keyed by the event that produced them (aggregate id, version) or set columns that
only one event of an aggregate can set, so applying an event twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

FOLD_VERSION = 4
"""Raised whenever what the folds write changes without the tables changing: views built by
another version are dropped and rebuilt (see `ViewStore`)."""

TEXT = "text"
BIGINT = "bigint"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, TEXT | BIGINT), in row order
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.column_names[:len(self.key)] != self.key:
            raise ValueError(f"{self.name}: a row's key must be its first columns")

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def type_of(self, column: str) -> str:
        return dict(self.columns)[column]


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """'a b:int c' → (('a', text), ('b', bigint), ('c', text)); `:int` marks integers."""
    columns = []
    for word in spec.split():
        name, _, kind = word.partition(":")
        columns.append((name, BIGINT if kind == "int" else TEXT))
    return tuple(columns)


UNITS = Table("view_units", _cols(
    "unit_id code level name parent_id valid_from rec:int"), ("unit_id",))
UNIT_CODES = Table("view_unit_codes", _cols(
    "code unit_id valid_from rec:int ended_on ended_rec:int successor"), ("code",))
"""Every code a unit ever had, from when; a recoded, merged or retired code names its
successor."""

ORGS = Table("view_orgs", _cols("org_id name org_type level unit_code rec:int"), ("org_id",))

ENTERPRISES = Table("view_enterprises", _cols("enterprise_id uscc name rec:int"),
                    ("enterprise_id",))
ENTERPRISE_CHANGES = Table(
    "view_enterprise_changes",
    _cols("enterprise_id attr version:int at:int rec:int value"),
    ("enterprise_id", "attr", "version"))
"""An enterprise's location (`unit_code`), `status`, expected-reporting class (`base_class`:
high_risk | above_size | crowded | other), `key_unit` (1/0) and `sectors` (comma-separated
codes) over business time."""

SELF_INSPECTIONS = Table(
    "view_self_inspections",
    _cols("enterprise_id version:int period unit_code signed:int at:int rec:int"),
    ("enterprise_id", "version"), indexes=(("period",),))

INSPECTIONS = Table(
    "view_inspections",
    _cols("inspection_id inspection_type organiser_org_id unit_code at:int rec:int "
          "targets:int team_121:int led:int"),
    ("inspection_id",))
VISITS = Table(
    "view_visits",
    _cols("inspection_id version:int enterprise_id unit_code at:int rec:int"),
    ("inspection_id", "version"))

ENFORCEMENT = Table(
    "view_enforcement",
    _cols("aggregate_id version:int action enterprise_id unit_code org_id at:int rec:int "
          "amount_fen:int persons:int detail"),
    ("aggregate_id", "version"))
"""One row per enforcement or accountability act: case_opened, fine, suspension, licence,
closure, blacklist, referral, interview, exposure, reminder."""

HAZARDS = Table(
    "view_hazards",
    _cols("hazard_id unit_code enterprise_id sector channel discovering_org_id "
          "discovering_level description category proposed_grade location_detail relapse_of "
          "reported_at:int reported_rec:int "
          "confirmed_at:int confirmed_rec:int confirmed_grade confirmed_deadline "
          "confirmed_treating_org confirmed_criteria_ref "
          "treatment notice_no local_grade "
          "verified_at:int verified_rec:int verifier_org_id "
          "ended_at:int ended_rec:int ended_on end_kind ended_by "
          "listed_at:int listed_rec:int listing_level listing_authority supervising_org "
          "listing_notice_no listing_deadline delisted_at:int delisted_rec:int"),
    ("hazard_id",), indexes=(("unit_code",),))
"""One row per hazard: what it is, and each once-only step with its business and system
time. The grade, deadline, treating org and criteria set at confirmation are kept here; later
changes to them are rows of HAZARD_CHANGES. `end_kind` is closed | on_spot | voided |
eliminated (on the spot: general, due, completed and closed on the day)."""

HAZARD_CHANGES = Table(
    "view_hazard_changes",
    _cols("hazard_id attr version:int at:int rec:int value"),
    ("hazard_id", "attr", "version"))
"""Hazard attributes that can change more than once: grade and criteria_ref (regrading),
deadline (extensions), treating_org (transfers), plan (JSON, or '' when rejected),
completed (date, or '' when a failed verification reopened it), progress (percent),
overdue_for (the deadline a HazardBecameOverdue was recorded for); with each plan
plan_complete ('1' when it states all of 五到位), plan_funds (fen) and plan_approved ('1' once
approved, '' while awaiting approval)."""

MEASURES = Table(
    "view_measures",
    _cols("measure_id unit_code org_id title kind sector content partners planned_date "
          "related planned_at:int planned_rec:int doc_no issued_on issued_at:int "
          "issued_rec:int completed_on completed_at:int completed_rec:int evidence"),
    ("measure_id",), indexes=(("unit_code",),))

TASKS = Table(
    "view_tasks",
    _cols("task_id unit_code doc_no task_no:int section item requirement responsible "
          "deadline deadline_text born_overdue:int rec:int"),
    ("task_id",))
"""`responsible`: the responsible units as a JSON list (a unit's name may hold 、)."""
TASK_EVENTS = Table(
    "view_task_events",
    _cols("task_id version:int responsible_unit kind text at:int rec:int"),
    ("task_id", "version"))
"""Progress reports (kind progress) and completions (kind completed) per responsible unit."""

PERIODS = Table(
    "view_periods",
    _cols("period deadlines programme_start stock_cutoff rec:int"), ("period",))
"""Reporting periods as opened by the scheduler: per-level deadlines (JSON), the programme
start that 累计 counts from and the stock cut-off of 存量 (DOMAIN §7.2 C6)."""

SUBMISSIONS = Table(
    "view_submissions",
    _cols("submission_id version:int unit_code period sha256 cut_off:int position:int "
          "draft:int late:int rec:int children"),
    ("submission_id", "version"), indexes=(("period", "unit_code"),))
"""Every version of every submission; `children` as the version recorded them (JSON)."""
MISSING = Table(
    "view_missing", _cols("period unit_code deadline rec:int"), ("period", "unit_code"))

ACTIVITY = Table("view_activity", _cols("unit_code month rec:int position:int"),
                 ("unit_code", "month"))
"""When facts of a unit were last recorded, by the month they concern (their business time;
a self-inspection's own period; '' for facts shown in every period, such as tasks): the
latest record time and log position of each unit and month, however the events were
batched. A submission none of whose
subtree's facts of its months were recorded after its cut-off, nor folded after it was
assembled, is unchanged — how the cascade skips it without assembling it."""

TABLES: tuple[Table, ...] = (
    UNITS, UNIT_CODES, ORGS, ENTERPRISES, ENTERPRISE_CHANGES, SELF_INSPECTIONS, INSPECTIONS,
    VISITS, ENFORCEMENT, HAZARDS, HAZARD_CHANGES, MEASURES, TASKS, TASK_EVENTS, PERIODS,
    SUBMISSIONS, MISSING, ACTIVITY,
)
