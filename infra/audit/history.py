"""A hazard's timeline for auditors: every event of the hazard in order, who recorded it
(person, the org's name, role), where, and both clocks — when it happened (business time)
and when zhibao learned it (system time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.base import SHANGHAI, SYSTEM_ORG_ID, DomainError
from domain.hazards import Hazard
from infra.intake.service import Zhibao
from infra.store.records import event_payload, event_type

ENVELOPE_KEYS = ("occurred_at", "timestamp", "actor", "unit_code", "command_id",
                 "originator_topic")
HAZARD_CREATED = get_topic(Hazard.HazardReported)


@dataclass(frozen=True)
class Step:
    version: int
    event_type: str
    occurred_at: datetime  # business time
    recorded_at: datetime  # system time
    person_id: str
    person_name: str  # the registered person's name; the id itself for older records
    org_id: UUID
    org_name: str
    role: str
    unit_code: str
    unit_name: str
    details: dict[str, Any]  # the event's own fields that carry a value

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "event": self.event_type,
                "occurred_at": self.occurred_at.isoformat(),
                "recorded_at": self.recorded_at.isoformat(),
                "who": {"person_id": self.person_id, "person": self.person_name,
                        "org_id": str(self.org_id), "org": self.org_name, "role": self.role},
                "unit": {"code": self.unit_code, "name": self.unit_name},
                "details": self.details}


def parse_hazard_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise DomainError("hazard_id", f"{text!r} is not a hazard id (a UUID)", "INPUT") from None


def hazard_history(app: Zhibao, hazard_id: UUID) -> list[Step]:
    """The hazard's events, oldest first. Raises DomainError for an unknown id or an id
    that belongs to something other than a hazard."""
    stored = app.recorder.select_events(hazard_id)
    if not stored:
        raise DomainError("hazard_id", f"no hazard has the id {hazard_id}", "REF")
    if stored[0].topic != HAZARD_CREATED:
        kind = stored[0].topic.rpartition(":")[2].partition(".")[0]
        raise DomainError("hazard_id", f"{hazard_id} is a {kind}, not a hazard", "REF")
    app.refresh_directory()
    return [_step(app, record.originator_version, record.topic, event_payload(record.state))
            for record in stored]


def _step(app: Zhibao, version: int, topic: str, payload: dict[str, Any]) -> Step:
    actor = payload["actor"]
    org_id = UUID(actor["org_id"])
    unit_code = payload["unit_code"]
    return Step(
        version=version, event_type=event_type(topic),
        occurred_at=datetime.fromisoformat(payload["occurred_at"]).astimezone(SHANGHAI),
        recorded_at=datetime.fromisoformat(payload["timestamp"]).astimezone(SHANGHAI),
        person_id=actor["person_id"], person_name=_person_name(app, actor["person_id"]),
        org_id=org_id, org_name=_org_name(app, org_id),
        role=actor["role"], unit_code=unit_code, unit_name=_unit_name(app, unit_code),
        details={key: _named(app, key, value) for key, value in payload.items()
                 if key not in ENVELOPE_KEYS and value not in (None, [], {})})


def _named(app: Zhibao, key: str, value: Any) -> Any:
    """An org id in the details reads better with the org's name beside it."""
    if key.endswith("org_id") and isinstance(value, str):
        return f"{_org_name(app, UUID(value))} ({value})"
    return value


def _org_name(app: Zhibao, org_id: UUID) -> str:
    directory = app.directory
    if org_id == SYSTEM_ORG_ID:
        return "system"
    if (org := directory.orgs.get(org_id)) is not None:
        return org.name
    if (enterprise := directory.enterprises.get(org_id)) is not None:
        return enterprise.name
    return f"unknown org {org_id}"


def _person_name(app: Zhibao, person_id: str) -> str:
    """Persons are registered (their id is a UUID); older records named them as text."""
    try:
        entry = app.directory.persons.get(UUID(person_id))
    except ValueError:
        return person_id
    return entry.name if entry is not None else person_id


def _unit_name(app: Zhibao, code: str) -> str:
    entry = app.directory.codes.get(code)
    return app.directory.units[entry.unit_id].name if entry is not None else ""
