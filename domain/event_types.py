"""The catalogue of event types: every domain event class by its name, with the typed
fields it carries beyond the envelope. Avro schemas, Parquet schemas and documentation are
all derived from this one place, so they cannot drift from the domain."""

from __future__ import annotations

import typing
from dataclasses import fields
from functools import cache
from typing import Any

from domain.audit import AuditTrail
from domain.base import ZhibaoAggregate
from domain.credentials import Credential
from domain.enforcement import AccountabilityAction, EnforcementCase
from domain.enterprises import Enterprise
from domain.hazards import Hazard
from domain.inspections import Inspection
from domain.measures import Measure
from domain.persons import Person
from domain.public_reports import PublicReport
from domain.reports import ReportingPeriod, ReportSubmission
from domain.risk import RiskPoint
from domain.tasks import TaskList, WorkTask
from domain.units import AdminUnit, OrgUnit

AGGREGATES: tuple[type[ZhibaoAggregate], ...] = (
    AdminUnit, OrgUnit, Person, Enterprise, Inspection, Hazard, PublicReport, RiskPoint,
    EnforcementCase, AccountabilityAction, Measure, TaskList, WorkTask, AuditTrail,
    ReportingPeriod, ReportSubmission, Credential,
)

ENVELOPE = ("originator_id", "originator_version", "timestamp", "occurred_at", "actor",
            "unit_code", "command_id", "originator_topic")
"""Fields every event has (or, for creation events, the library's bookkeeping)."""


def register_aggregate(cls: type[ZhibaoAggregate]) -> None:
    """Aggregates added by later features (e.g. report submissions) join the catalogue."""
    global AGGREGATES
    if cls not in AGGREGATES:
        AGGREGATES = (*AGGREGATES, cls)
        event_classes.cache_clear()


@cache
def event_classes() -> dict[str, type]:
    """Concrete event classes by name (`HazardReported` → class). Names are unique."""
    found: dict[str, type] = {}
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, ZhibaoAggregate.Event) \
                    and name not in ("Event", "Created"):
                if name in found and found[name] is not value:
                    raise TypeError(f"event type name {name} is not unique")
                found[name] = value
    return found


def own_fields(cls: type) -> dict[str, Any]:
    """The event's own fields and their resolved type hints, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.name not in ENVELOPE}
