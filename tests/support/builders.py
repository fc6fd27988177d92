"""A small, fully registered world for tests: a province, a city, two counties, towns,
villages, the bodies acting in them and a few enterprises, plus a `do` helper that applies
commands through the application service exactly as the CLI does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.base import SYSTEM_ORG_ID, DomainError
from domain.codes import complete_uscc
from domain.commands import parse_command
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import Outcome
from infra.store.records import event_type

SYSTEM = {"person_id": "admin", "org_id": str(SYSTEM_ORG_ID), "role": "admin"}

UNITS = [  # code, system, level, kind, name, parent
    ("610000", "GB2260", "province", "省", "陕西省", None),
    ("610900", "GB2260", "city", "地级市", "安康市", "610000"),
    ("610902", "GB2260", "county", "区", "汉滨区", "610900"),
    ("610921", "GB2260", "county", "县", "汉阴县", "610900"),
    ("610902101000", "NBS12", "town", "镇", "关庙镇", "610902"),
    ("610902102000", "NBS12", "town", "镇", "张滩镇", "610902"),
    ("610921100000", "NBS12", "town", "镇", "城关镇", "610921"),
    ("610902101201", "NBS12", "village", "村委会", "一村", "610902101000"),
    ("610902101202", "NBS12", "village", "村委会", "二村", "610902101000"),
    ("610902102201", "NBS12", "village", "村委会", "三村", "610902102000"),
    ("610921100201", "NBS12", "village", "村委会", "四村", "610921100000"),
]

ORGS = {  # name: (org_type, unit, sectors, enforcement_power, can_verify_major)
    "city_office": ("committee_office", "610900", (), True, True),
    "county_gov": ("government", "610902", (), False, False),
    "county_ema": ("department", "610902", (), True, True),
    "county_chem": ("department", "610902", ("hazchem",), True, True),
    "other_county_ema": ("department", "610921", (), True, True),
    "town": ("town_office", "610902101000", (), False, False),
    "other_town": ("town_office", "610902102000", (), False, False),
    "village": ("village_committee", "610902101201", (), False, False),
}

ENTERPRISES = {  # name: (village, sectors)
    "chem": ("610902101201", ("hazchem",)),
    "shop": ("610902101202", ("fire", "commerce")),
    "mine": ("610921100201", ("non_coal_mine",)),
}


def actor(org_id: UUID | str, person: str = "p1", role: str = "inspector") -> dict[str, str]:
    return {"person_id": person, "org_id": str(org_id), "role": role}


@dataclass
class World:
    app: Zhibao
    orgs: dict[str, UUID] = field(default_factory=dict)
    enterprises: dict[str, UUID] = field(default_factory=dict)

    def do(self, command: str, by: str | dict[str, str], **fields: Any) -> Outcome:
        """Apply a command as the named org (or an explicit actor dict)."""
        who = by if isinstance(by, dict) else actor(self.orgs.get(by) or self.enterprises[by])
        payload = {"command": command, "actor": who, **_jsonable(fields)}
        return self.app.execute(parse_command(payload))

    def rejects(self, command: str, by: str | dict[str, str], **fields: Any) -> DomainError:
        """Apply a command that must be rejected; check it wrote nothing and return the error
        so the test can look at its field and rule."""
        before = self.app.recorder.max_notification_id()
        with pytest.raises(DomainError) as rejected:
            self.do(command, by, **fields)
        assert self.app.recorder.max_notification_id() == before, f"rejected {command} wrote"
        return rejected.value

    def as_enterprise(self, name: str) -> dict[str, str]:
        return actor(self.enterprises[name], "principal", "enterprise_principal")


def stored_types(app: Zhibao, aggregate_id: UUID) -> list[str]:
    """The types of an aggregate's stored events, oldest first, as read from the store."""
    return [event_type(record.topic) for record in app.recorder.select_events(aggregate_id)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def build_world(app: Zhibao) -> World:
    world = World(app)
    for code, system, level, kind, name, parent in UNITS:
        world.do("RegisterAdminUnit", SYSTEM, code=code, code_system=system, level=level,
                 kind=kind, name=name, parent_code=parent, valid_from="2000-01-01")
    for name, (org_type, unit, sectors, enforcement, verify) in ORGS.items():
        org_id = uuid4()
        world.do("RegisterOrgUnit", SYSTEM, org_id=org_id, name=name, org_type=org_type,
                 unit_code=unit, sectors=list(sectors), enforcement_power=enforcement,
                 can_verify_major=verify)
        world.orgs[name] = org_id
    for serial, (name, (village, sectors)) in enumerate(ENTERPRISES.items(), start=1):
        enterprise_id = uuid4()
        world.do("RegisterEnterprise", SYSTEM, enterprise_id=enterprise_id,
                 uscc=complete_uscc(f"91{village[:6]}MA0{serial:05d}X0"[:17]), name=name,
                 unit_code=village, sectors=list(sectors), registered_on="2010-01-01")
        world.enterprises[name] = enterprise_id
    return world
