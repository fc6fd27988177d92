"""Who may do what, through the real application service on both stores (issue 10 §1): the
service enforces the permission matrix for every command and every role; persons act only
for their own org, under roles they still hold, granted by someone who may; powers come
only from a lead body above; what only zhibao records is no command of anyone's; the unit of
a fact about an enterprise is the enterprise's. Every refusal writes nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain import authority
from domain.authority import Role
from domain.base import SYSTEM_ORG_ID, DomainError
from domain.commands import (
    ENTRY_COMMANDS,
    AmendReport,
    Bootstrap,
    SubmitReport,
    parse_command,
)
from domain.hazards import HazardState
from infra.intake.unit_of_work import ZHIBAO, Issuer, authorise
from tests.support.builders import ADMIN, World
from tests.support.hazard_paths import Hazards

ROLE_AT = {  # a person of each role, at a body of the world that can hold it
    Role.GRID_WORKER: "village", Role.TOWN_OFFICER: "town",
    Role.SECTOR_INSPECTOR: "county_chem", Role.REGULATOR: "county_ema",
    Role.ENFORCEMENT_OFFICER: "county_ema", Role.COMMITTEE_STAFF: "county_gov",
    Role.ENTERPRISE_PRINCIPAL: "chem", Role.SAFETY_MANAGER: "chem", Role.AUDITOR: "county_ema",
    Role.ADMINISTRATOR: "town", Role.SYSTEM_INTEGRATION: "county_ema",
}


@pytest.fixture(scope="module")
def staff(hazards: Hazards) -> dict[Role, UUID]:
    return {role: hazards.world.person(at, role) for role, at in ROLE_AT.items()}


def refused(world: World, by: Issuer, command: Any, code: str, field: str = "actor",
            internal: bool = False) -> DomainError:
    """Execute `command` as `by`: it must be refused with the rule `code`, writing nothing."""
    before = world.app.recorder.max_notification_id()
    with pytest.raises(DomainError) as refusal:
        (world.app.record if internal else world.app.execute)(command, by)
    assert (refusal.value.field, refusal.value.code) == (field, code), refusal.value
    assert world.app.recorder.max_notification_id() == before, "a refusal wrote"
    return refusal.value


# -- the matrix, enforced for every command and role ----------------------------------------


def test_the_service_enforces_the_matrix_for_every_command_and_role(hazards, staff):
    """Each entry command, issued by a person of each role: where the matrix has no cell
    for the role in that org, the service refuses before anything is loaded (AUTH-ROLE)
    and writes nothing; where it has one, the service lets the person through to the
    command's own checks, under that role."""
    world = hazards.world
    checked = refusals = 0
    for command_class in ENTRY_COMMANDS:
        name = command_class.__name__
        for role, person in staff.items():
            issuer = Issuer(person)
            org = world.app.directory.org(world.org_of(ROLE_AT[role]))
            if authority.allows(name, role, org):
                actor, _, _ = authorise(world.app.directory, issuer, name)
                assert actor.role == role and actor.person_id == str(person)
            else:
                refused(world, issuer, command_class.model_construct(), "AUTH-ROLE")
                refusals += 1
            checked += 1
    assert checked == len(ENTRY_COMMANDS) * len(Role)
    assert refusals > checked / 2


def test_an_auditor_reads_but_issues_nothing(hazards, staff):
    world = hazards.world
    for command_class in ENTRY_COMMANDS:
        refused(world, Issuer(staff[Role.AUDITOR]), command_class.model_construct(),
                "AUTH-ROLE")


# -- persons: registered, active, of their own org, under roles they hold ---------------------


def report(world: World, enterprise: str = "chem", **fields: Any) -> Any:
    return parse_command({"command": "ReportHazard", "channel": "supervisory_inspection",
                          "enterprise_id": str(world.enterprises[enterprise]),
                          "discovered_at": world.app.clock().isoformat(),
                          "description": "消防通道堵塞", "category": "unsafe_condition",
                          **fields})


def test_a_person_acts_only_for_the_org_they_belong_to(hazards):
    world = hazards.world
    officer = world.persons["town"]
    refused(world, Issuer(officer, org_id=world.orgs["other_town"]), report(world), "AUTH-ORG")
    refused(world, Issuer(officer, org_id=world.orgs["county_ema"]), report(world), "AUTH-ORG")
    assert world.app.execute(report(world), Issuer(officer, org_id=world.orgs["town"])).events


def test_unknown_persons_and_zhibao_itself_are_not_addressable(hazards):
    world = hazards.world
    refused(world, Issuer(uuid4()), report(world), "AUTH-PERSON")
    refused(world, Issuer(SYSTEM_ORG_ID), report(world), "AUTH-PERSON")  # the system org's id
    refused(world, ZHIBAO, report(world), "AUTH-PERSON")  # zhibao, through the entry path
    error = world.rejects("RegisterPerson", ADMIN, name="冒充系统", org_id=SYSTEM_ORG_ID,
                          roles=["administrator"])
    assert (error.field, error.code) == ("org_id", "REF")


def test_a_revoked_role_and_a_deactivated_person_act_no_more(hazards):
    world = hazards.world
    officer = world.person("town", "town_officer", "administrator")
    assert world.app.execute(report(world), Issuer(officer)).events == 1
    world.do("RevokeRole", ADMIN, person_id=officer, role="town_officer")
    error = refused(world, Issuer(officer), report(world), "AUTH-ROLE")
    assert "administrator" in str(error)  # names the role the person still holds
    world.do("DeactivatePerson", ADMIN, person_id=officer, reason="调离")
    refused(world, Issuer(officer), report(world), "AUTH-PERSON")


def test_roles_are_granted_only_by_an_administrator_who_oversees_the_person(hazards):
    world = hazards.world
    clerk = world.person("town", "town_officer")
    grant = parse_command({"command": "GrantRole", "person_id": str(clerk),
                           "role": "regulator"})
    refused(world, world.issuer("town"), grant, "AUTH-ROLE")  # an officer, no administrator
    other_town_admin = world.person("other_town", "administrator")
    refused(world, Issuer(other_town_admin), grant, "AUTH-GRANT", field="org_id")
    department_admin = world.person("county_ema", "administrator")  # not territorial
    refused(world, Issuer(department_admin), grant, "AUTH-GRANT", field="org_id")
    town_admin = world.person("town", "administrator")
    refused(world, Issuer(town_admin), grant, "AUTH-ROLE", field="role")  # not in a town office
    refused(world, Issuer(town_admin), parse_command({
        "command": "GrantRole", "person_id": str(town_admin), "role": "enforcement_officer"}),
        "AUTH-GRANT", field="person_id")  # never oneself
    county_admin = world.person("county_gov", "administrator")  # territorial, covers the town
    outcome = world.app.execute(parse_command({
        "command": "GrantRole", "person_id": str(clerk), "role": "enforcement_officer"}),
        Issuer(county_admin))
    assert outcome.events == 1
    assert world.app.directory.persons[clerk].roles == (Role.TOWN_OFFICER,
                                                       Role.ENFORCEMENT_OFFICER)


@pytest.mark.parametrize("role", ["superadmin", "grid worker", "Regulator", "system"])
def test_a_role_is_never_free_text(hazards, role):
    world = hazards.world
    clerk = world.person("town", "town_officer")
    refused(world, world.issuer(ADMIN), parse_command(
        {"command": "GrantRole", "person_id": str(clerk), "role": role}),
        "AUTH-ROLE", field="role")
    error = world.rejects("RegisterPerson", ADMIN, name="某人", org_id=world.orgs["town"],
                          roles=["town_officer", role])
    assert (error.field, error.code) == ("roles", "AUTH-ROLE")


# -- orgs and their powers ---------------------------------------------------------------------


def register_department(world: World, name: str, **fields: Any) -> UUID:
    org_id = uuid4()
    world.do("RegisterOrgUnit", ADMIN, org_id=org_id, name=name, org_type="department",
             unit_code="610902", **fields)
    world.orgs[name] = org_id
    return org_id


def test_an_org_registered_with_powers_is_refused(hazards):
    world = hazards.world
    for power in ("can_verify_major", "enforcement_power"):
        error = world.rejects("RegisterOrgUnit", ADMIN, org_id=uuid4(),
                              name="自封的验收机构", org_type="department",
                              unit_code="610902", **{power: True})
        assert (error.field, error.code) == (power, "AUTH-GRANT")


def test_powers_come_only_from_a_lead_body_above_that_holds_them(hazards):
    world = hazards.world
    brigade = register_department(world, f"消防救援大队-{uuid4().hex[:4]}", sectors=["fire"])
    grant = {"org_id": brigade, "power": "can_verify_major"}
    error = world.rejects("GrantOrgPower", "county_ema", **grant)  # a department: no role
    assert error.code == "AUTH-ROLE"
    error = world.rejects("GrantOrgPower", "county_gov", **grant)  # above, but holds nothing
    assert (error.field, error.code) == ("power", "AUTH-GRANT")
    error = world.rejects("GrantOrgPower", "county_gov", org_id=world.orgs["county_gov"],
                          power="enforcement_power")  # never oneself
    assert (error.field, error.code) == ("org_id", "AUTH-GRANT")
    world.do("GrantOrgPower", "city_office", **grant)  # the city 安委办 holds it: granted
    profile = world.app.directory.org(brigade)
    assert (profile.can_verify_major, profile.enforcement_power) == (True, False)


def test_sector_scopes_stay_inside_the_scope_of_whoever_sets_them(hazards):
    """A department's administrator registers no orgs; a sector-limited lead body registers
    and narrows bodies only within its own sectors — never widening them."""
    world = hazards.world
    chem_admin = world.person("county_chem", "administrator")
    refused(world, Issuer(chem_admin), parse_command({
        "command": "RegisterOrgUnit", "name": "子机构", "org_type": "department",
        "unit_code": "610902"}), "AUTH-ROLE")
    task_force = uuid4()
    world.do("RegisterOrgUnit", ADMIN, org_id=task_force, name="危化品专班",
             org_type="committee_office", unit_code="610902", sectors=["hazchem"])
    world.orgs["task_force"] = task_force
    admin, staff = world.person("task_force", "administrator"), \
        world.person("task_force", "committee_staff")
    unlimited = {"command": "RegisterOrgUnit", "name": "专班工作组", "org_type": "department",
                 "unit_code": "610902"}
    refused(world, Issuer(admin), parse_command(unlimited), "AUTH-GRANT", field="sectors")
    group = world.app.execute(parse_command({**unlimited, "sectors": ["hazchem"]}),
                              Issuer(admin)).aggregate_id
    widen = parse_command({"command": "SetOrgSectors", "org_id": str(group),
                           "sectors": ["hazchem", "fire"]})
    refused(world, Issuer(staff), widen, "AUTH-GRANT", field="sectors")
    refused(world, Issuer(staff), parse_command({"command": "SetOrgSectors",
                                                 "org_id": str(group), "sectors": []}),
            "AUTH-GRANT", field="sectors")
    world.do("SetOrgSectors", "city_office", org_id=group, sectors=["hazchem", "fire"])
    assert world.app.directory.org(group).sectors == {"hazchem", "fire"}


def test_an_org_without_the_power_does_not_verify_a_major_hazard(hazards):
    """The attack of issue 10: a county body that cannot verify majors tries anyway."""
    world = hazards.world
    department = register_department(world, f"县安全监管科-{uuid4().hex[:4]}")
    world.do("GrantOrgPower", "city_office", org_id=department, power="enforcement_power")
    regulator = world.person(next(k for k, v in world.orgs.items() if v == department),
                             "regulator")
    hazard_id = hazards.drive(HazardState.RECTIFIED, "major")
    error = refused(world, Issuer(regulator), parse_command({
        "command": "VerifyHazard", "hazard_id": str(hazard_id), "passed": True,
        "verified_at": hazards.clock.now.isoformat()}), "AUTH-ROLE")
    assert "VerifyHazard:major" in str(error) and "can_verify_major" in str(error)
    assert hazards.get(hazard_id).state is HazardState.RECTIFIED


# -- what only zhibao records ----------------------------------------------------------------


def submission(unit_code: str = "610902101000") -> dict[str, Any]:
    return {"unit_code": unit_code, "period": "2021-02", "content": {
        "cut_off": "2021-03-01T09:00", "view_position": 1, "sha256": "0" * 64}}


@pytest.mark.parametrize("command", [SubmitReport, AmendReport])
def test_a_submission_is_never_supplied_from_outside(hazards, command):
    world = hazards.world
    with pytest.raises(DomainError) as refusal:
        parse_command({"command": command.__name__, **submission()})
    assert (refusal.value.field, refusal.value.code) == ("command", "SYSTEM-ONLY")
    refused(world, world.issuer("town"), command.model_validate(submission()), "SYSTEM-ONLY",
            field="command")
    # zhibao's internal path takes it only from zhibao, or for a person who may submit for
    # the unit — and then the domain's own checks still hold (the period was never opened)
    refused(world, world.issuer("county_ema"), command.model_validate(submission()),
            "AUTH-ROLE", internal=True)


def test_the_bootstrap_runs_once(hazards):
    world = hazards.world
    again = Bootstrap(unit_code="620000", code_system="GB2260", level="province", kind="省",
                      unit_name="甘肃省", org_id=uuid4(), org_name="甘肃省安委办",
                      person_id=uuid4(), person_name="第二个管理员")
    refused(world, ZHIBAO, again, "AUTH-GRANT", field="command", internal=True)
    refused(world, world.issuer(ADMIN), again, "SYSTEM-ONLY", field="command")
    error = world.rejects("RegisterAdminUnit", ADMIN, code="620000", code_system="GB2260",
                          level="province", kind="省", name="甘肃省", valid_from="2000-01-01")
    assert (error.field, error.code) == ("actor", "AUTH-ROLE")  # a top unit is zhibao's


# -- the unit of a fact about an enterprise is the enterprise's (V7) --------------------------


def test_a_command_naming_another_unit_than_the_enterprises_is_refused(hazards):
    world = hazards.world
    town = world.issuer("town")
    refused(world, town, report(world, unit_code="610902101202"), "V7",
            field="unit_code")  # 二村, inside the town, but chem is in 一村
    refused(world, world.issuer("chem"), parse_command({
        "command": "IdentifyRiskPoint", "enterprise_id": str(world.enterprises["chem"]),
        "unit_code": "610902101202", "description": "储罐区", "likelihood": 3,
        "severity": 4, "level": "orange", "identified_on": "2021-02-01"}), "V7",
        field="unit_code")
    outcome = world.app.execute(report(world, unit_code="610902101201"), town)  # its own: fine
    assert outcome.events == 1


def test_a_town_office_records_nothing_for_an_enterprise_in_another_county(hazards):
    world = hazards.world
    refused(world, world.issuer("town"), report(world, "mine", unit_code="610902101201"),
            "V7", field="unit_code")
    refused(world, world.issuer("town"), report(world, "mine"), "V7", field="unit_code")
