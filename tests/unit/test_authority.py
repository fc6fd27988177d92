"""The permission matrix, cell by cell, against the specification written out below — a
second statement of DOMAIN §2.1/§6.2 as this project reads them, in its own notation — for
every role in every kind of org (type × level × powers). Plus: every command has a row,
the rendered docs are current, a person's first allowed role is the one recorded, and the
rules for administering persons and granting powers."""

from __future__ import annotations

import itertools
from pathlib import Path
from uuid import uuid4

import pytest

from domain import authority
from domain.authority import MATRIX, Role
from domain.base import DomainError, Level, OrgProfile, OrgType
from domain.commands import ENTRY_COMMANDS, INTERNAL_COMMANDS

SPEC = """
RegisterTopUnit                   -
RegisterAdminUnit                 AD:T SY:T
RecodeAdminUnit                   AD:T SY:T
MergeAdminUnit                    AD:T SY:T
RetireAdminUnit                   AD:T SY:T
RegisterOrgUnit                   AD:T
GrantOrgPower                     CS:L
RevokeOrgPower                    CS:L
SetOrgSectors                     CS:L
RegisterPerson                    AD
GrantRole                         AD
RevokeRole                        AD
DeactivatePerson                  AD
RegisterEnterprise                TO SI RG
RelocateEnterprise                TO SI RG
ChangeEnterpriseSectors           TO SI RG
ChangeEnterpriseFlags             TO SI RG
SuspendEnterprise                 EO:E
ResumeEnterprise                  EO:E
CloseEnterprise                   EO:E
SubmitSelfInspection              EP SM GW
PlanInspection                    TO SI RG EO CS
RecordInspectionVisit             TO SI RG EO CS
CloseInspection                   TO SI RG EO CS
ReportHazard                      EP SM GW TO SI RG EO CS
ConfirmHazard:general             TO SI:town RG:town
ConfirmHazard:major               SI:county RG:county
RegradeHazard                     SI:county RG:county
RectifyHazardOnSpot               EP SM GW TO SI RG EO CS
SubmitRectificationPlan           EP SM TO SI RG
ReviewRectificationPlan           RG:county
ReportRectificationProgress       EP SM TO SI RG
RequestDeadlineExtension          EP SM TO SI RG
DecideDeadlineExtension:unlisted  TO SI:town RG:town
DecideDeadlineExtension:listed    RG:L CS:L
RecordHazardOverdue               -
ListHazard                        CS:L
DelistHazard                      CS:L
DeclareRectified                  EP SM TO SI RG
VerifyHazard:general              TO SI:town RG:town
VerifyHazard:major                RG:county+V
VerifyHazard:listed               RG:county+V CS:L+county+V
CloseHazard:general               TO SI:town RG:town
CloseHazard:major                 RG:county+V
CloseHazard:listed                RG:county+V CS:L+county+V
TransferHazard                    TO SI RG CS
VoidHazard:reported               EP SM GW TO SI RG EO CS
VoidHazard:confirmed              TO SI RG CS
EliminateHazardByClosure          EO:E
ReceivePublicReport               GW TO SI RG CS
VerifyPublicReport                TO:town SI:town RG:town CS:town
IdentifyRiskPoint                 EP SM GW TO SI RG
AssessRiskLevel                   EP SM GW TO SI RG
SetRiskControls                   EP SM GW TO SI RG
RetireRiskPoint                   EP SM GW TO SI RG
OpenEnforcementCase               EO:E
ImposeFine                        EO:E
OrderSuspension                   EO:E
LiftSuspension                    EO:E
SuspendLicence                    EO:E
RevokeLicence                     EO:E
OrderClosure                      EO:E
BlacklistEnterprise               EO:E
ReferCase                         EO:E
CloseEnforcementCase              EO:E
HoldInterview                     TO RG CS
RecordExposure                    TO RG CS
IssueAccountabilityReminder       TO RG CS
PlanMeasure                       TO SI RG CS
IssueMeasure                      TO SI RG CS
CompleteMeasure                   TO SI RG CS
PublishTaskList                   CS
DefineTask                        CS
ReportTaskProgress                TO SI RG CS
CompleteTaskForUnit               TO SI RG CS
OpenReportingPeriod               -
SubmitReport                      GW TO CS:L
AmendReport                       GW TO CS:L
MarkReportMissing                 -
SignCheckpoint                    -
RecordCredentialIssued            -
RecordCredentialRevoked           -
RecordSignInFailed                -
Bootstrap                         -
"""
"""Per action, the roles that may, each with its conditions: T a territorial body, L a
lead body, town/county the lowest level, E enforcement power, V verifying majors; `-` no
person at all. system_integration (SY) may besides do what its org's operational roles
may, except administering persons, roles, orgs and powers."""

ABBREVIATIONS = {
    "GW": Role.GRID_WORKER, "TO": Role.TOWN_OFFICER, "SI": Role.SECTOR_INSPECTOR,
    "RG": Role.REGULATOR, "EO": Role.ENFORCEMENT_OFFICER, "CS": Role.COMMITTEE_STAFF,
    "EP": Role.ENTERPRISE_PRINCIPAL, "SM": Role.SAFETY_MANAGER, "AU": Role.AUDITOR,
    "AD": Role.ADMINISTRATOR, "SY": Role.SYSTEM_INTEGRATION,
}
HELD_IN = {  # where each role can be held at all (DOMAIN §2.1)
    Role.GRID_WORKER: {"village_committee"},
    Role.TOWN_OFFICER: {"town_office"},
    Role.SECTOR_INSPECTOR: {"department", "sector_committee"},
    Role.REGULATOR: {"government", "safety_committee", "committee_office", "sector_committee",
                     "department"},
    Role.ENFORCEMENT_OFFICER: {"department", "committee_office", "town_office"},
    Role.COMMITTEE_STAFF: {"government", "safety_committee", "committee_office",
                           "sector_committee"},
    Role.ENTERPRISE_PRINCIPAL: {"enterprise"},
    Role.SAFETY_MANAGER: {"enterprise"},
    Role.AUDITOR: set(OrgType) - {"enterprise", "system"},
    Role.ADMINISTRATOR: set(OrgType) - {"system"},
    Role.SYSTEM_INTEGRATION: set(OrgType) - {"enterprise", "system"},
}
LEAD = {"government", "safety_committee", "committee_office"}
TERRITORIAL = LEAD | {"town_office"}
ADMINISTRATION = {"RegisterOrgUnit", "GrantOrgPower", "RevokeOrgPower", "SetOrgSectors",
                  "RegisterPerson", "GrantRole", "RevokeRole", "DeactivatePerson"}


def spec() -> dict[str, dict[Role, set[str]]]:
    rows = {}
    for line in SPEC.strip().splitlines():
        action, *cells = line.split()
        rows[action] = {} if cells == ["-"] else {
            ABBREVIATIONS[cell.partition(":")[0]]: set(filter(None, cell.partition(":")[2]
                                                              .split("+")))
            for cell in cells}
    return rows


def meets(conditions: set[str], org: OrgProfile) -> bool:
    rank = org.level.rank if org.level is not None else -1
    return all({
        "T": org.org_type in TERRITORIAL, "L": org.org_type in LEAD,
        "town": rank >= Level.TOWN.rank, "county": rank >= Level.COUNTY.rank,
        "E": org.enforcement_power, "V": org.can_verify_major}[c] for c in conditions)


def expected(action: str, role: Role, org: OrgProfile, row: dict[Role, set[str]]) -> bool:
    if org.org_type not in HELD_IN[role]:
        return False
    if role in row and meets(row[role], org):
        return True
    return role is Role.SYSTEM_INTEGRATION and action not in ADMINISTRATION and any(
        other not in (Role.AUDITOR, Role.ADMINISTRATOR, Role.SYSTEM_INTEGRATION)
        and org.org_type in HELD_IN[other] and meets(conditions, org)
        for other, conditions in row.items())


def org_kinds() -> list[OrgProfile]:
    """Every kind of org: each type at each level it can sit, with each set of powers."""
    levels = {"village_committee": [Level.VILLAGE], "town_office": [Level.TOWN],
              "enterprise": [None]}
    kinds = []
    for org_type in set(OrgType) - {OrgType.SYSTEM}:
        for level in levels.get(org_type, [Level.TOWN, Level.COUNTY, Level.CITY,
                                           Level.PROVINCE]):
            for enforcing, verifying in itertools.product((False, True), repeat=2):
                kinds.append(OrgProfile(uuid4(), org_type, level, "610902", frozenset(),
                                        enforcing, verifying))
    return kinds


def test_every_cell_of_the_matrix_is_the_specified_one():
    rows = spec()
    assert list(rows) == list(MATRIX), "the specification and the matrix list other actions"
    checked = 0
    for action, row in rows.items():
        for role, org in itertools.product(Role, org_kinds()):
            assert authority.allows(action, role, org) == expected(action, role, org, row), \
                (action, role, org.org_type, org.level, org.enforcement_power,
                 org.can_verify_major)
            checked += 1
    assert checked > 60_000


def test_every_command_has_its_row_and_every_row_a_command():
    commands = {cls.__name__ for cls in (*ENTRY_COMMANDS, *INTERNAL_COMMANDS)}
    assert all(authority.variants(name) for name in commands)
    assert {action.partition(":")[0] for action in MATRIX} - commands == {"RegisterTopUnit"}
    assert all(authority.zhibao_only(cls.__name__) for cls in INTERNAL_COMMANDS
               if cls.__name__ not in ("SubmitReport", "AmendReport"))
    assert not any(authority.zhibao_only(cls.__name__) for cls in ENTRY_COMMANDS)


def test_the_documented_matrix_is_current():
    path = Path(__file__).parents[2] / "docs" / "permissions.md"
    assert path.read_text(encoding="utf-8") == authority.markdown(), \
        "docs/permissions.md is stale: python -m domain.authority > docs/permissions.md"


def department(level: Level = Level.COUNTY, verifies: bool = False) -> OrgProfile:
    return OrgProfile(uuid4(), OrgType.DEPARTMENT, level, "610902", frozenset(), True, verifies)


def test_a_person_acts_under_the_first_role_that_allows_the_action():
    roles = (Role.SECTOR_INSPECTOR, Role.REGULATOR, Role.ENFORCEMENT_OFFICER)
    permit = authority.permit("p", roles, department(verifies=True))
    assert permit("ReportHazard") == Role.SECTOR_INSPECTOR
    assert permit("VerifyHazard:major") == Role.REGULATOR
    assert permit("ImposeFine") == Role.ENFORCEMENT_OFFICER
    with pytest.raises(DomainError) as refused:
        permit("ListHazard")
    assert (refused.value.field, refused.value.code) == ("actor", "AUTH-ROLE")
    assert "committee_staff" in str(refused.value)  # names who may


def test_a_command_stands_for_any_of_its_variants():
    """The service's check before the aggregate: a town officer may verify some hazard
    (a general one), a county regulator without the power only a general one."""
    town = OrgProfile(uuid4(), OrgType.TOWN_OFFICE, Level.TOWN, "610902101000", frozenset(),
                      False, False)
    assert authority.allows("VerifyHazard", Role.TOWN_OFFICER, town)
    assert not authority.allows("VerifyHazard:major", Role.TOWN_OFFICER, town)
    assert authority.allows("VerifyHazard:major", Role.REGULATOR, department(verifies=True))
    assert not authority.allows("VerifyHazard:major", Role.REGULATOR, department())
    assert not authority.allows("Bootstrap", Role.ADMINISTRATOR, town)


@pytest.mark.parametrize(("upper", "lower", "above"), [
    ((OrgType.COMMITTEE_OFFICE, Level.COUNTY), (OrgType.DEPARTMENT, Level.COUNTY), True),
    ((OrgType.COMMITTEE_OFFICE, Level.CITY), (OrgType.COMMITTEE_OFFICE, Level.COUNTY), True),
    ((OrgType.COMMITTEE_OFFICE, Level.COUNTY), (OrgType.GOVERNMENT, Level.COUNTY), False),
    ((OrgType.DEPARTMENT, Level.COUNTY), (OrgType.DEPARTMENT, Level.COUNTY), False),
    ((OrgType.COMMITTEE_OFFICE, Level.COUNTY), (OrgType.COMMITTEE_OFFICE, Level.CITY), False),
    ((OrgType.TOWN_OFFICE, Level.TOWN), (OrgType.ENTERPRISE, None), True),
])
def test_who_ranks_above_whom(upper, lower, above):
    """Powers come from a lead body above: a higher level, or the lead body of the org's
    own unit; never from a peer, nor from oneself."""
    def profile(kind):
        return OrgProfile(uuid4(), kind[0], kind[1], "610902", frozenset(), True, True)
    upper_org = profile(upper)
    assert authority.is_above(upper_org, profile(lower)) is above
    assert not authority.is_above(upper_org, upper_org)
