"""A small, fully registered world for tests: a province, a city, two counties, towns,
villages, the bodies acting in them, a few enterprises and a person in each of them, plus
a `do` helper that applies commands through the application service exactly as the CLI
does — as a registered person.

The world starts as every store does: `zhibao admin init` (the `Bootstrap` command) makes
the province its top unit, with the province's 安委办 as its top org and a first
administrator, who registers a staff member (`ADMIN`: administrator, committee staff,
regulator, enforcement officer) that registers the rest and grants the bodies below their
powers. Each org and enterprise then has one person, with the roles its kind of body
holds (`ORGS`), so `world.do("ConfirmHazard", "town", …)` confirms as the town's officer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.base import DomainError
from domain.codes import complete_uscc
from domain.commands import Bootstrap, parse_command
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import Issuer, Outcome
from infra.store.records import event_type

ADMIN = "province"
"""The province 安委办's staff member who registers and grants everything below."""
ADMIN_ROLES = ("regulator", "enforcement_officer", "committee_staff", "administrator")

UNITS = [  # code, system, level, kind, name, parent (the province is the bootstrap's)
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

ORGS = {  # name: (org_type, unit, sectors, enforcement_power, can_verify_major, its person's roles)
    "city_office": ("committee_office", "610900", (), True, True,
                    ("regulator", "enforcement_officer", "committee_staff")),
    "county_gov": ("government", "610902", (), False, False, ("committee_staff",)),
    "county_ema": ("department", "610902", (), True, True,
                   ("regulator", "enforcement_officer")),
    "county_chem": ("department", "610902", ("hazchem",), True, True,
                    ("regulator", "enforcement_officer")),
    "other_county_ema": ("department", "610921", (), True, True,
                         ("regulator", "enforcement_officer")),
    "town": ("town_office", "610902101000", (), False, False, ("town_officer",)),
    "other_town": ("town_office", "610902102000", (), False, False, ("town_officer",)),
    "village": ("village_committee", "610902101201", (), False, False, ("grid_worker",)),
}

ENTERPRISES = {  # name: (village, sectors)
    "chem": ("610902101201", ("hazchem",)),
    "shop": ("610902101202", ("fire", "commerce")),
    "mine": ("610921100201", ("non_coal_mine",)),
}


@dataclass
class World:
    app: Zhibao
    orgs: dict[str, UUID] = field(default_factory=dict)
    enterprises: dict[str, UUID] = field(default_factory=dict)
    persons: dict[str, UUID] = field(default_factory=dict)  # the person of each org/enterprise

    def do(self, command: str, by: str | UUID, **fields: Any) -> Outcome:
        """Apply a command as the person of the named org or enterprise (or a person)."""
        payload = {"command": command, **_jsonable(fields)}
        return self.app.execute(parse_command(payload), self.issuer(by))

    def issuer(self, by: str | UUID) -> Issuer:
        return Issuer(by if isinstance(by, UUID) else self.persons[by])

    def rejects(self, command: str, by: str | UUID, **fields: Any) -> DomainError:
        """Apply a command that must be rejected; check it wrote nothing and return the error
        so the test can look at its field and rule."""
        before = self.app.recorder.max_notification_id()
        with pytest.raises(DomainError) as rejected:
            self.do(command, by, **fields)
        assert self.app.recorder.max_notification_id() == before, f"rejected {command} wrote"
        return rejected.value

    def owner(self, enterprise_id: UUID) -> str:
        """The name of the enterprise with this id (its principal acts for it)."""
        return next(name for name, known in self.enterprises.items() if known == enterprise_id)

    def org_of(self, name: str) -> UUID:
        return self.orgs.get(name) or self.enterprises[name]

    def person(self, at: str, *roles: str, name: str = "经办人") -> UUID:
        """A new person at the named org or enterprise, with `roles`."""
        person_id = uuid4()
        self.do("RegisterPerson", ADMIN, person_id=person_id, name=name,
                org_id=self.org_of(at), roles=list(roles))
        return person_id

    def register_enterprise(self, name: str, village: str, sectors: tuple[str, ...],
                            uscc: str, enterprise_id: UUID | None = None,
                            **fields: Any) -> UUID:
        """An enterprise and its principal, as the province's staff registers them."""
        enterprise_id = enterprise_id or uuid4()
        self.do("RegisterEnterprise", ADMIN, enterprise_id=enterprise_id, uscc=uscc,
                name=name, unit_code=village, sectors=list(sectors),
                **{"registered_on": "2010-01-01", **fields})
        self.enterprises[name] = enterprise_id
        self.persons[name] = self.person(name, "enterprise_principal", name="负责人")
        return enterprise_id


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


def bootstrap(app: Zhibao) -> World:
    """A store's first steps: `zhibao admin init` and the province's staff member."""
    world = World(app)
    top_org, first_admin = uuid4(), uuid4()
    app.record(Bootstrap(unit_code="610000", code_system="GB2260", level="province",
                         kind="省", unit_name="陕西省", org_id=top_org,
                         org_name="陕西省安全生产委员会办公室", person_id=first_admin,
                         person_name="管理员", valid_from="2000-01-01"))
    world.orgs[ADMIN] = top_org
    world.persons["first_admin"] = first_admin
    world.persons[ADMIN] = uuid4()
    world.do("RegisterPerson", first_admin, person_id=world.persons[ADMIN], name="省安委办",
             org_id=top_org, roles=list(ADMIN_ROLES))
    return world


def build_world(app: Zhibao) -> World:
    world = bootstrap(app)
    for code, system, level, kind, name, parent in UNITS:
        world.do("RegisterAdminUnit", ADMIN, code=code, code_system=system, level=level,
                 kind=kind, name=name, parent_code=parent, valid_from="2000-01-01")
    for name, (org_type, unit, sectors, enforcement, verify, roles) in ORGS.items():
        org_id = uuid4()
        world.do("RegisterOrgUnit", ADMIN, org_id=org_id, name=name, org_type=org_type,
                 unit_code=unit, sectors=list(sectors))
        for power, granted in (("enforcement_power", enforcement),
                               ("can_verify_major", verify)):
            if granted:
                world.do("GrantOrgPower", ADMIN, org_id=org_id, power=power)
        world.orgs[name] = org_id
        world.persons[name] = world.person(name, *roles, name=name)
    for serial, (name, (village, sectors)) in enumerate(ENTERPRISES.items(), start=1):
        world.register_enterprise(name, village, sectors,
                                  complete_uscc(f"91{village[:6]}MA0{serial:05d}X0"[:17]))
    return world
