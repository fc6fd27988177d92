"""Sign-in for the demo store (never a real one): one person per kind of user — the
city's 安委办 staff, a county 安委办's staff, a town officer, a village grid worker, an
enterprise's principal and an auditor (registered here, as the city 安委办's administrator
would) — each with a printed demo password, set through the invitation path a real person
uses."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from domain.authority import Role
from domain.base import Level, OrgType
from domain.commands import RegisterPerson
from infra.http.credentials import Credentials
from infra.intake.directory import Directory
from infra.intake.unit_of_work import Issuer

DEMO_PASSWORD = "zhibao-demo-2021"
DEMO_PERSONS = (  # login, the role, the kind of org, its level
    ("city", Role.COMMITTEE_STAFF, OrgType.COMMITTEE_OFFICE, Level.CITY),
    ("county", Role.COMMITTEE_STAFF, OrgType.COMMITTEE_OFFICE, Level.COUNTY),
    ("town", Role.TOWN_OFFICER, OrgType.TOWN_OFFICE, Level.TOWN),
    ("village", Role.GRID_WORKER, OrgType.VILLAGE_COMMITTEE, Level.VILLAGE),
    ("enterprise", Role.ENTERPRISE_PRINCIPAL, OrgType.ENTERPRISE, None),
)


@dataclass(frozen=True)
class DemoAccount:
    login: str
    password: str
    name: str
    role: str


def _first(directory: Directory, role: Role, org_type: OrgType,
           level: Level | None) -> UUID | None:
    """The first active person (by their unit's code) holding `role` in such an org."""
    found = []
    for person in directory.persons.values():
        if not person.active or role not in person.roles:
            continue
        org = directory.org(person.org_id)
        if org.org_type is org_type and org.level == level:
            found.append((org.unit_code, str(person.person_id), person.person_id))
    return min(found)[2] if found else None


def _auditor(credentials: Credentials) -> UUID | None:
    """The demo's auditor, at the city's 安委办, registered by its administrator."""
    app = credentials.app
    admin = _first(app.directory, Role.ADMINISTRATOR, OrgType.COMMITTEE_OFFICE, Level.CITY)
    if admin is None:
        return None
    org_id = app.directory.persons[admin].org_id
    auditor = uuid5(org_id, "demo-auditor")
    if auditor not in app.directory.persons:
        with credentials.writing:
            app.execute(RegisterPerson(person_id=auditor, name="审计员（演示）", org_id=org_id,
                                       roles=("auditor",), command_id="demo/auditor"),
                        Issuer(admin))
    return auditor


def demo_accounts(credentials: Credentials) -> list[DemoAccount]:
    """Passwords for the demo persons (set once; a second run keeps them)."""
    app = credentials.app
    app.refresh_directory()
    chosen = [(login, _first(app.directory, role, org_type, level), role.value)
              for login, role, org_type, level in DEMO_PERSONS]
    chosen.append(("auditor", _auditor(credentials), Role.AUDITOR.value))
    existing = {row["login"] for row in credentials.listing() if row["kind"] == "password"
                and not row["revoked"]}
    accounts = []
    for login, person, role in chosen:
        if person is None:
            continue
        if login not in existing:
            invitation = credentials.invite(person, login)
            credentials.accept(invitation.secret, DEMO_PASSWORD)
        accounts.append(DemoAccount(login, DEMO_PASSWORD, app.directory.persons[person].name,
                                    role))
    return accounts
