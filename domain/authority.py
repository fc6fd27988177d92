"""Who may do what: the roles a person can hold, the powers an org can hold, and the one
permission matrix every command is judged by (issue 10 §1).

A command is done by a registered person, for the one org they belong to, under one of
their roles. The matrix says, per action (a command, or a variant of it that depends on the
aggregate, e.g. verifying a major hazard), which roles may do it and where: in which kinds
of org, from which government level up, holding which power. Jurisdiction (the org's
subtree and sectors, an enterprise's own site) is judged separately, by the aggregates.

Roles, derived from DOMAIN.md §2.1 and the "who may do it" column of §6.2; where the
sources are silent, the choice made here is marked [D]:

- grid_worker (网格员 / 村安全员), in a village committee: records in its village — hazards,
  public reports, risk points, self-inspections on an enterprise's behalf.
- town_officer (乡镇安监员), in a town office: the town's inspections; confirms, verifies
  and closes general hazards; registers enterprises.
- sector_inspector (行业部门检查员), in a department or sector committee: inspections in
  its sectors; confirms general hazards (majors from county level up) and verifies
  general ones. [D: majors are verified by regulators, not inspectors]
- regulator (监管人员), in a department, 安委会/安委办, government or sector committee:
  what inspectors do, plus regrading, plan review, extensions and — in an org holding
  can_verify_major, county up — verifying and closing major hazards.
- enforcement_officer (执法人员), in a department, 安委办 or town office: enforcement cases
  and an enterprise's status, only in an org holding enforcement_power (towns where it
  was delegated, §5.4).
- committee_staff (安委办工作人员), in a government, 安委会, 安委办 or sector committee:
  listing (挂牌督办), task lists, accountability, measures; grants powers and sector scopes
  to the bodies below. [D]
- enterprise_principal (企业主要负责人) and safety_manager (安全管理人员), in an enterprise:
  its own acts — self-inspection, its hazards' plans and rectification, risk points.
  [D: the safety manager may do all the principal may]
- auditor (审计人员), in any government body: reads only, issues no command. [D]
- administrator (系统管理员), in any org: registers persons and grants roles; in a
  territorial body (government, 安委会, 安委办, town office) also units and child orgs. [D]
- system_integration (系统对接), in any government body: a county IT system or bulk
  importer; may issue what its org's operational roles may, and division lists — never
  persons, roles, orgs or powers. [D]

What only zhibao itself does (a submission's content and hash, 漏报, overdue, opening a
period, sealing a checkpoint, the bootstrap) is in the matrix as `ZHIBAO_ONLY`: no person
may issue it as a command. A person may ask zhibao to assemble and record their unit's
submission (`SubmitReport`, `AmendReport` below), never supply its content.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from domain.base import DomainError, Level, OrgProfile, OrgType, Permit


class Role(StrEnum):
    """A person's roles, in the order a role is chosen when several allow an action."""

    GRID_WORKER = "grid_worker"  # 网格员 / 村安全员
    TOWN_OFFICER = "town_officer"  # 乡镇安监员
    SECTOR_INSPECTOR = "sector_inspector"  # 行业部门检查员
    REGULATOR = "regulator"  # 监管人员
    ENFORCEMENT_OFFICER = "enforcement_officer"  # 执法人员
    COMMITTEE_STAFF = "committee_staff"  # 安委办工作人员
    ENTERPRISE_PRINCIPAL = "enterprise_principal"  # 企业主要负责人
    SAFETY_MANAGER = "safety_manager"  # 企业安全管理人员
    AUDITOR = "auditor"  # 审计人员 (read only)
    ADMINISTRATOR = "administrator"  # 系统管理员
    SYSTEM_INTEGRATION = "system_integration"  # 系统对接


class Power(StrEnum):
    """What an org may do beyond its roles' actions, granted from above (GrantOrgPower)."""

    ENFORCEMENT = "enforcement_power"  # 执法权
    VERIFY_MAJOR = "can_verify_major"  # 重大隐患验收权


ZHIBAO_ROLE = "system"
"""The role recorded on events zhibao itself produces (the scheduler, the sweeps, audit)."""

# -- org kinds ---------------------------------------------------------------------------

LEAD_BODIES = frozenset({OrgType.GOVERNMENT, OrgType.SAFETY_COMMITTEE, OrgType.COMMITTEE_OFFICE})
"""A government and its work-safety committee and office: they list hazards and grant powers."""
REGULATORY = LEAD_BODIES | {OrgType.SECTOR_COMMITTEE, OrgType.DEPARTMENT}
TERRITORIAL = LEAD_BODIES | {OrgType.TOWN_OFFICE}
"""Bodies that keep the register of their territory: its units, child orgs and persons."""
GOVERNMENT_SIDE = REGULATORY | {OrgType.TOWN_OFFICE, OrgType.VILLAGE_COMMITTEE}

ROLE_ORGS: dict[Role, frozenset[OrgType]] = {
    Role.GRID_WORKER: frozenset({OrgType.VILLAGE_COMMITTEE}),
    Role.TOWN_OFFICER: frozenset({OrgType.TOWN_OFFICE}),
    Role.SECTOR_INSPECTOR: frozenset({OrgType.DEPARTMENT, OrgType.SECTOR_COMMITTEE}),
    Role.REGULATOR: REGULATORY,
    Role.ENFORCEMENT_OFFICER: frozenset({OrgType.DEPARTMENT, OrgType.COMMITTEE_OFFICE,
                                         OrgType.TOWN_OFFICE}),
    Role.COMMITTEE_STAFF: LEAD_BODIES | {OrgType.SECTOR_COMMITTEE},
    Role.ENTERPRISE_PRINCIPAL: frozenset({OrgType.ENTERPRISE}),
    Role.SAFETY_MANAGER: frozenset({OrgType.ENTERPRISE}),
    Role.AUDITOR: GOVERNMENT_SIDE,
    Role.ADMINISTRATOR: GOVERNMENT_SIDE | {OrgType.ENTERPRISE},
    Role.SYSTEM_INTEGRATION: GOVERNMENT_SIDE,
}
"""The kinds of org a role can be held in (checked when it is granted)."""

ORG_GROUPS: dict[frozenset[OrgType], str] = {
    LEAD_BODIES: "lead body", TERRITORIAL: "territorial body", REGULATORY: "regulatory body",
    GOVERNMENT_SIDE: "government body"}
"""Names of the kinds of org the matrix groups."""

ROLE_NAMES: dict[Role, str] = {
    Role.GRID_WORKER: "网格员/村安全员", Role.TOWN_OFFICER: "乡镇安监员",
    Role.SECTOR_INSPECTOR: "行业部门检查员", Role.REGULATOR: "监管人员",
    Role.ENFORCEMENT_OFFICER: "执法人员", Role.COMMITTEE_STAFF: "安委办工作人员",
    Role.ENTERPRISE_PRINCIPAL: "企业主要负责人", Role.SAFETY_MANAGER: "企业安全管理人员",
    Role.AUDITOR: "审计人员", Role.ADMINISTRATOR: "系统管理员",
    Role.SYSTEM_INTEGRATION: "系统对接",
}

OPERATIONAL = frozenset(Role) - {Role.AUDITOR, Role.ADMINISTRATOR, Role.SYSTEM_INTEGRATION}
"""Roles that record facts; system integration may issue what these may in its org."""


@dataclass(frozen=True)
class Where:
    """Where a role may do an action: in an org of `orgs` (default: wherever the role can
    be held), at `level` or above, holding `power`."""

    orgs: frozenset[OrgType] | None = None
    level: Level | None = None
    power: Power | None = None

    def admits(self, org: OrgProfile) -> bool:
        if self.orgs is not None and org.org_type not in self.orgs:
            return False
        if self.level is not None and not org.at_least(self.level):
            return False
        return self.power is None or holds(org, self.power)

    def describe(self) -> str:
        """The conditions in a few words, for the rendered matrix and refusals."""
        parts = []
        if self.orgs is not None:
            parts.append(ORG_GROUPS.get(self.orgs) or "/".join(sorted(self.orgs)))
        if self.level is not None:
            parts.append(f"≥ {self.level}")
        if self.power is not None:
            parts.append(self.power.value)
        return ", ".join(parts) or "✓"


ANY = Where()
TOWN_UP = Where(level=Level.TOWN)
COUNTY_UP = Where(level=Level.COUNTY)
ENFORCING = Where(power=Power.ENFORCEMENT)
VERIFYING_MAJOR = Where(level=Level.COUNTY, power=Power.VERIFY_MAJOR)


def holds(org: OrgProfile, power: Power) -> bool:
    return org.enforcement_power if power is Power.ENFORCEMENT else org.can_verify_major


def _cells(roles: Iterable[Role], where: Where = ANY) -> dict[Role, Where]:
    return dict.fromkeys(roles, where)


# abbreviations for the table below
GW, TO, SI, RG, EO, CS, EP, SM, AD, SY = (
    Role.GRID_WORKER, Role.TOWN_OFFICER, Role.SECTOR_INSPECTOR, Role.REGULATOR,
    Role.ENFORCEMENT_OFFICER, Role.COMMITTEE_STAFF, Role.ENTERPRISE_PRINCIPAL,
    Role.SAFETY_MANAGER, Role.ADMINISTRATOR, Role.SYSTEM_INTEGRATION)
ENTERPRISE = (EP, SM)
RECORDERS = (*ENTERPRISE, GW, TO, SI, RG, EO, CS)  # any body that finds a hazard (§6.2)
TREATING = (*ENTERPRISE, TO, SI, RG)  # the enterprise or, without one, the treating body
STAFF = (TO, SI, RG, CS)  # government staff at town level and above

ZHIBAO_ONLY: Mapping[Role, Where] = MappingProxyType({})
"""An action no person may do: only zhibao records it, acting as itself."""

MATRIX: dict[str, Mapping[Role, Where]] = {
    # reference data (DOMAIN §5.1)
    "RegisterTopUnit": ZHIBAO_ONLY,  # the bootstrap's top unit (`zhibao admin init`)
    "RegisterAdminUnit": _cells((AD, SY), Where(orgs=TERRITORIAL)),
    "RecodeAdminUnit": _cells((AD, SY), Where(orgs=TERRITORIAL)),
    "MergeAdminUnit": _cells((AD, SY), Where(orgs=TERRITORIAL)),
    "RetireAdminUnit": _cells((AD, SY), Where(orgs=TERRITORIAL)),
    "RegisterOrgUnit": _cells((AD,), Where(orgs=TERRITORIAL)),
    "GrantOrgPower": _cells((CS,), Where(orgs=LEAD_BODIES)),
    "RevokeOrgPower": _cells((CS,), Where(orgs=LEAD_BODIES)),
    "SetOrgSectors": _cells((CS,), Where(orgs=LEAD_BODIES)),
    "RegisterPerson": _cells((AD,)),
    "GrantRole": _cells((AD,)),
    "RevokeRole": _cells((AD,)),
    "DeactivatePerson": _cells((AD,)),
    "RegisterEnterprise": _cells((TO, SI, RG)),
    "RelocateEnterprise": _cells((TO, SI, RG)),
    "ChangeEnterpriseSectors": _cells((TO, SI, RG)),
    "ChangeEnterpriseFlags": _cells((TO, SI, RG)),
    "SuspendEnterprise": _cells((EO,), ENFORCING),
    "ResumeEnterprise": _cells((EO,), ENFORCING),
    "CloseEnterprise": _cells((EO,), ENFORCING),
    # inspections (§5.2)
    "SubmitSelfInspection": _cells((*ENTERPRISE, GW)),
    "PlanInspection": _cells((TO, SI, RG, EO, CS)),
    "RecordInspectionVisit": _cells((TO, SI, RG, EO, CS)),
    "CloseInspection": _cells((TO, SI, RG, EO, CS)),
    # hazards (§5.3, §6.2)
    "ReportHazard": _cells(RECORDERS),
    "ConfirmHazard:general": {TO: ANY, SI: TOWN_UP, RG: TOWN_UP},
    "ConfirmHazard:major": _cells((SI, RG), COUNTY_UP),
    "RegradeHazard": _cells((SI, RG), COUNTY_UP),
    "RectifyHazardOnSpot": _cells(RECORDERS),
    "SubmitRectificationPlan": _cells(TREATING),
    "ReviewRectificationPlan": _cells((RG,), COUNTY_UP),
    "ReportRectificationProgress": _cells(TREATING),
    "RequestDeadlineExtension": _cells(TREATING),
    "DecideDeadlineExtension:unlisted": {TO: ANY, SI: TOWN_UP, RG: TOWN_UP},
    "DecideDeadlineExtension:listed": _cells((RG, CS), Where(orgs=LEAD_BODIES)),
    "RecordHazardOverdue": ZHIBAO_ONLY,
    "ListHazard": _cells((CS,), Where(orgs=LEAD_BODIES)),
    "DelistHazard": _cells((CS,), Where(orgs=LEAD_BODIES)),
    "DeclareRectified": _cells(TREATING),
    "VerifyHazard:general": {TO: ANY, SI: TOWN_UP, RG: TOWN_UP},
    "VerifyHazard:major": {RG: VERIFYING_MAJOR},
    "VerifyHazard:listed": {RG: VERIFYING_MAJOR,
                            CS: Where(LEAD_BODIES, Level.COUNTY, Power.VERIFY_MAJOR)},
    "CloseHazard:general": {TO: ANY, SI: TOWN_UP, RG: TOWN_UP},
    "CloseHazard:major": {RG: VERIFYING_MAJOR},
    "CloseHazard:listed": {RG: VERIFYING_MAJOR,
                           CS: Where(LEAD_BODIES, Level.COUNTY, Power.VERIFY_MAJOR)},
    "TransferHazard": _cells(STAFF),
    "VoidHazard:reported": _cells(RECORDERS),
    "VoidHazard:confirmed": _cells(STAFF),
    "EliminateHazardByClosure": _cells((EO,), ENFORCING),
    "ReceivePublicReport": _cells((GW, *STAFF)),
    "VerifyPublicReport": _cells(STAFF, TOWN_UP),
    # risk (§5.5)
    "IdentifyRiskPoint": _cells((*ENTERPRISE, GW, TO, SI, RG)),
    "AssessRiskLevel": _cells((*ENTERPRISE, GW, TO, SI, RG)),
    "SetRiskControls": _cells((*ENTERPRISE, GW, TO, SI, RG)),
    "RetireRiskPoint": _cells((*ENTERPRISE, GW, TO, SI, RG)),
    # enforcement and accountability (§5.4)
    "OpenEnforcementCase": _cells((EO,), ENFORCING),
    "ImposeFine": _cells((EO,), ENFORCING),
    "OrderSuspension": _cells((EO,), ENFORCING),
    "LiftSuspension": _cells((EO,), ENFORCING),
    "SuspendLicence": _cells((EO,), ENFORCING),
    "RevokeLicence": _cells((EO,), ENFORCING),
    "OrderClosure": _cells((EO,), ENFORCING),
    "BlacklistEnterprise": _cells((EO,), ENFORCING),
    "ReferCase": _cells((EO,), ENFORCING),
    "CloseEnforcementCase": _cells((EO,), ENFORCING),
    "HoldInterview": _cells((TO, RG, CS)),
    "RecordExposure": _cells((TO, RG, CS)),
    "IssueAccountabilityReminder": _cells((TO, RG, CS)),
    # measures and tasks (§5.6)
    "PlanMeasure": _cells(STAFF),
    "IssueMeasure": _cells(STAFF),
    "CompleteMeasure": _cells(STAFF),
    "PublishTaskList": _cells((CS,)),
    "DefineTask": _cells((CS,)),
    "ReportTaskProgress": _cells(STAFF),
    "CompleteTaskForUnit": _cells(STAFF),
    # reporting (§5.7): a person asks zhibao to assemble and record their unit's submission
    "OpenReportingPeriod": ZHIBAO_ONLY,
    "SubmitReport": {GW: ANY, TO: ANY, CS: Where(orgs=LEAD_BODIES)},
    "AmendReport": {GW: ANY, TO: ANY, CS: Where(orgs=LEAD_BODIES)},
    "MarkReportMissing": ZHIBAO_ONLY,
    # the audit trail and the bootstrap
    "SignCheckpoint": ZHIBAO_ONLY,
    "RecordCredentialIssued": ZHIBAO_ONLY,  # the front door's credentials (no secret)
    "RecordCredentialRevoked": ZHIBAO_ONLY,
    "RecordSignInFailed": ZHIBAO_ONLY,
    "Bootstrap": ZHIBAO_ONLY,
}
"""Action → the roles that may do it and where. An action named `Command:variant` is
decided by the aggregate, which knows which variant applies (e.g. a listed hazard)."""

ADMINISTRATION = frozenset({"RegisterOrgUnit", "GrantOrgPower", "RevokeOrgPower",
                            "SetOrgSectors", "RegisterPerson", "GrantRole", "RevokeRole",
                            "DeactivatePerson"})
"""Actions system integration never does: persons, roles, orgs and powers."""


_VARIANTS: dict[str, tuple[str, ...]] = {action: (action,) for action in MATRIX}
for _action in MATRIX:
    _command, _, _variant = _action.partition(":")
    if _variant:
        _VARIANTS[_command] = (*_VARIANTS.get(_command, ()), _action)


def variants(command: str) -> tuple[str, ...]:
    """The actions a command may turn out to be: itself, or each of its variants."""
    return _VARIANTS.get(command, ())


def zhibao_only(command: str) -> bool:
    return all(MATRIX[action] is ZHIBAO_ONLY for action in variants(command))


def allows(action: str, role: str, org: OrgProfile) -> bool:
    """May a holder of `role` in `org` do `action`? A command name stands for any of its
    variants (the aggregate then decides which applies)."""
    actions = variants(action)
    return any(_allows(name, role, org) for name in actions)


def _allows(action: str, role: str, org: OrgProfile) -> bool:
    if org.org_type not in ROLE_ORGS[role]:  # type: ignore[index]
        return False
    cells = MATRIX[action]
    where = cells.get(role)  # type: ignore[call-overload]
    if where is not None and where.admits(org):
        return True
    if role != Role.SYSTEM_INTEGRATION or action in ADMINISTRATION:
        return False
    return any(other in OPERATIONAL and org.org_type in ROLE_ORGS[other]
               and where.admits(org) for other, where in cells.items())


def first_allowed(action: str, roles: Iterable[str], org: OrgProfile) -> str | None:
    """The first of `roles` (held in enum order) under which `org`'s person may do
    `action`, or None."""
    return next((role for role in roles if allows(action, role, org)), None)


def who_may(action: str) -> str:
    """The roles that may do `action` and where, in words (for refusals)."""
    actions = variants(action)
    parts = [f"{role} ({where.describe()})" if where != ANY else str(role)
             for name in actions for role, where in MATRIX[name].items()]
    return ", ".join(dict.fromkeys(parts)) or "zhibao itself only"


# -- administering persons, roles, orgs and powers ------------------------------------------


def may_hold(role: Role, org_type: OrgType) -> bool:
    return org_type in ROLE_ORGS[role]


def is_above(upper: OrgProfile, lower: OrgProfile) -> bool:
    """`upper` ranks above `lower` in the hierarchy: at a higher level, or a lead body
    above the other bodies of its own unit (e.g. the county 安委办 above the county's
    departments). Coverage of `lower`'s unit is judged separately (jurisdiction)."""
    if upper.org_type is OrgType.SYSTEM:
        return True
    if upper.org_id == lower.org_id or upper.level is None:
        return False
    if lower.level is None:  # an enterprise ranks below every body covering it
        return True
    if upper.level.rank != lower.level.rank:
        return upper.level.rank > lower.level.rank
    return upper.org_type in LEAD_BODIES and lower.org_type not in LEAD_BODIES


def oversees(admin_org: OrgProfile, target: OrgProfile) -> bool:
    """Whether an administrator of `admin_org` may administer persons of `target`: their
    own org, or — for a territorial body — the orgs and enterprises in its territory
    (coverage of the territory is judged separately)."""
    return admin_org.org_id == target.org_id or admin_org.org_type in TERRITORIAL \
        or admin_org.org_type is OrgType.SYSTEM


def permit(person: str, roles: tuple[str, ...], org: OrgProfile) -> Permit:
    """The `Context.permit` of a person holding `roles` (in enum order) in `org`: the first
    role that allows an action, or a refusal naming who may (AUTH-ROLE)."""
    decided: dict[str, str] = {}

    def decide(action: str) -> str:
        role = decided.get(action)
        if role is None:
            role = first_allowed(action, roles, org)
            if role is None:
                held = ", ".join(roles) or "no role"
                raise DomainError("actor", f"person {person} ({held} at {org.org_type} "
                                           f"{org.org_id}) may not do {action}; who may: "
                                           f"{who_may(action)}", "AUTH-ROLE")
            decided[action] = role
        return role
    return decide


def zhibao_permit(action: str) -> str:
    """zhibao itself, acting through its internal path, may do anything."""
    return ZHIBAO_ROLE


# -- the matrix as documentation ------------------------------------------------------------


def cell(action: str, role: Role) -> str:
    """One cell of the rendered matrix: where `role` may do `action`, or "—"."""
    cells = MATRIX[action]
    if role in cells:
        return cells[role].describe()
    if role is Role.SYSTEM_INTEGRATION and action not in ADMINISTRATION and any(
            other in OPERATIONAL for other in cells):
        return "as its org's roles"
    return "—"


def markdown() -> str:
    """docs/permissions.md: the roles and the matrix, generated from this module."""
    lines = [
        "# Who may do what",
        "",
        "Generated from `domain/authority.py` (`python -m domain.authority > "
        "docs/permissions.md`); a test fails when it is stale.",
        "",
        "A command is issued by a registered person, for the one org they belong to, under "
        "one of their roles: the first role (in the order below) that the matrix allows for "
        "the command in that org, which the event records. Jurisdiction — the org's "
        "subtree and sector scope, an enterprise's own site — is judged besides (V7). An "
        "action `Command:variant` is decided by the aggregate, which knows which applies. "
        "What is *zhibao only* no person may issue: zhibao's own flows record it. "
        "`SubmitReport` and `AmendReport` say who may ask zhibao to assemble and record "
        "their own unit's submission (`zhibao report --as`); its content and SHA-256 are "
        "always zhibao's.",
        "",
        "## Roles",
        "",
        "| role | 中文 | held in |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{role}` | {ROLE_NAMES[role]} | "
              f"{', '.join(sorted(ROLE_ORGS[role]))} |" for role in Role]
    lines += [
        "",
        "Kinds of org: a *lead body* is a government, its 安委会 or 安委办; a *territorial "
        "body* a lead body or a town office. Powers (`enforcement_power`, "
        "`can_verify_major`) and sector scopes are granted by a lead body above the org "
        "(a higher level, or the lead body of the org's own unit) that holds them itself "
        "— never by the org itself or at its registration; the bootstrap's top org "
        "starts with both. Persons and roles are administered by an administrator of "
        "their own org or of a territorial body covering it — never by themselves.",
        "",
        "## The matrix",
        "",
        "| action | " + " | ".join(f"`{role}`" for role in Role) + " |",
        "| --- | " + " | ".join("---" for _ in Role) + " |",
    ]
    for action in MATRIX:
        name = f"`{action}` (zhibao only)" if MATRIX[action] is ZHIBAO_ONLY else f"`{action}`"
        lines.append(f"| {name} | " + " | ".join(cell(action, role) for role in Role) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
