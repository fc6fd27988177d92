"""The steps of the commands that need more than "load the aggregate, call its method":
they resolve codes and ids in the directory, turn nested inputs into domain values, or
change two aggregates. The rules they apply are the domain's or `policy`'s; the pipeline
(`infra/intake/pipeline.py`) says which command each serves."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from domain import commands as c
from domain.audit import AUDIT_TRAIL_ID, AuditTrail
from domain.authority import Role
from domain.base import Context, DomainError, business_date
from domain.codes import prefix_mismatch
from domain.credentials import Credential
from domain.enforcement import AccountabilityAction, EnforcementCase
from domain.enterprises import Enterprise, EnterpriseFlags, EnterpriseRef, EnterpriseStatus
from domain.hazards import Discovery, Hazard, RectificationPlan
from domain.inspections import Inspection, TeamMember
from domain.persons import Person, parse_role
from domain.public_reports import PublicReport
from domain.reports import (
    ChildSubmission,
    FigureChange,
    LevelDeadline,
    ReportingPeriod,
    ReportSubmission,
    RowChanges,
    SubmissionContent,
    period_bounds,
    period_id,
    submission_id,
)
from domain.risk import RiskPoint
from domain.tasks import TaskList, WorkTask
from domain.units import AdminUnit, OrgUnit, UnitRef
from infra.intake import policy
from infra.intake.unit_of_work import UnitOfWork

# -- reference data ------------------------------------------------------------------------


def register_admin_unit(uow: UnitOfWork, cmd: c.RegisterAdminUnit, ctx: Context) -> UUID:
    policy.require_unused_code(uow.directory, "code", cmd.code)
    parent = (uow.directory.unit("parent_code", cmd.parent_code, cmd.valid_from)
              if cmd.parent_code else None)
    unit_id = uow.new_id(cmd, cmd.unit_id, "unit_id")
    unit = AdminUnit.register(ctx, unit_id, cmd.code, cmd.code_system, cmd.level, cmd.kind,
                              cmd.name, parent, cmd.valid_from, cmd.urban_rural_class)
    if parent is not None and (warning := prefix_mismatch(cmd.code, cmd.level, parent.code)):
        uow.warn(warning)
    return uow.add(unit)


def _unit_aggregate(uow: UnitOfWork, code: str) -> AdminUnit:
    ref = uow.directory.unit("code", code)
    return uow.get(AdminUnit, ref.unit_id, "code")


def recode_admin_unit(uow: UnitOfWork, cmd: c.RecodeAdminUnit, ctx: Context) -> UUID:
    policy.require_unused_code(uow.directory, "new_code", cmd.new_code)
    unit = _unit_aggregate(uow, cmd.code)
    unit.recode(ctx, cmd.new_code, cmd.valid_from)
    return unit.id


def merge_admin_unit(uow: UnitOfWork, cmd: c.MergeAdminUnit, ctx: Context) -> UUID:
    successor = uow.directory.unit("successor_code", cmd.successor_code, cmd.valid_from)
    unit = _unit_aggregate(uow, cmd.code)
    unit.merge_into(ctx, successor, cmd.valid_from)
    return unit.id


def retire_admin_unit(uow: UnitOfWork, cmd: c.RetireAdminUnit, ctx: Context) -> UUID:
    successors = tuple(uow.directory.unit("successor_codes", code, cmd.valid_from)
                       for code in cmd.successor_codes)
    unit = _unit_aggregate(uow, cmd.code)
    unit.retire(ctx, cmd.valid_from, successors)
    return unit.id


def register_org_unit(uow: UnitOfWork, cmd: c.RegisterOrgUnit, ctx: Context) -> UUID:
    unit = uow.directory.unit("unit_code", cmd.unit_code, ctx.today)
    policy.require_org(uow.directory, "parent_org_id", cmd.parent_org_id)
    org_id = uow.new_id(cmd, cmd.org_id, "org_id")
    return uow.add(OrgUnit.register(ctx, org_id, cmd.name, cmd.org_type, unit, cmd.sectors,
                                    cmd.parent_org_id, cmd.enforcement_power,
                                    cmd.can_verify_major))


def register_person(uow: UnitOfWork, cmd: c.RegisterPerson, ctx: Context) -> UUID:
    org = uow.directory.org(cmd.org_id)
    roles = tuple(parse_role("roles", role) for role in cmd.roles)
    person_id = uow.new_id(cmd, cmd.person_id, "person_id")
    return uow.add(Person.register(ctx, person_id, cmd.name, org, roles))


def grant_role(uow: UnitOfWork, cmd: c.GrantRole, ctx: Context) -> UUID:
    person = uow.get(Person, cmd.person_id, "person_id")
    person.grant_role(ctx, uow.directory.org(person.org_id), parse_role("role", cmd.role))
    return person.id


def revoke_role(uow: UnitOfWork, cmd: c.RevokeRole, ctx: Context) -> UUID:
    person = uow.get(Person, cmd.person_id, "person_id")
    person.revoke_role(ctx, uow.directory.org(person.org_id), parse_role("role", cmd.role))
    return person.id


def deactivate_person(uow: UnitOfWork, cmd: c.DeactivatePerson, ctx: Context) -> UUID:
    person = uow.get(Person, cmd.person_id, "person_id")
    person.deactivate(ctx, uow.directory.org(person.org_id), cmd.reason)
    return person.id


def register_enterprise(uow: UnitOfWork, cmd: c.RegisterEnterprise, ctx: Context) -> UUID:
    unit = uow.directory.unit("unit_code", cmd.unit_code, cmd.registered_on)
    enterprise_id = uow.new_id(cmd, cmd.enterprise_id, "enterprise_id")
    enterprise = Enterprise.register(
        ctx, enterprise_id, cmd.uscc, cmd.name, unit, cmd.address, cmd.sectors,
        EnterpriseFlags(**cmd.flags.model_dump()), cmd.principal, cmd.registered_on)
    policy.require_unused_uscc(uow.directory, enterprise.uscc)
    return uow.add(enterprise)


def relocate_enterprise(uow: UnitOfWork, cmd: c.RelocateEnterprise, ctx: Context) -> UUID:
    unit = uow.directory.unit("unit_code", cmd.unit_code, cmd.on)
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.relocate(ctx, unit, cmd.on)
    return enterprise.id


def change_flags(uow: UnitOfWork, cmd: c.ChangeEnterpriseFlags, ctx: Context) -> UUID:
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.change_flags(ctx, EnterpriseFlags(**cmd.flags.model_dump()))
    return enterprise.id


# -- inspections -----------------------------------------------------------------------------


def plan_inspection(uow: UnitOfWork, cmd: c.PlanInspection, ctx: Context) -> UUID:
    for target in cmd.targets:
        enterprise = uow.directory.enterprise_on("targets", target, cmd.date_from)
        ctx.require_jurisdiction("targets", enterprise.unit_code, enterprise.sector)
    inspection_id = uow.new_id(cmd, cmd.inspection_id, "inspection_id")
    team = tuple(TeamMember(**member.model_dump()) for member in cmd.team)
    return uow.add(Inspection.plan(ctx, inspection_id, cmd.inspection_type, cmd.programme, team,
                                   cmd.targets, cmd.date_from, cmd.date_to))


def record_visit(uow: UnitOfWork, cmd: c.RecordInspectionVisit, ctx: Context) -> UUID:
    enterprise = uow.directory.enterprise_on("enterprise_id", cmd.enterprise_id,
                                             business_date(cmd.visited_at))
    inspection = uow.get(Inspection, cmd.inspection_id, "inspection_id")
    inspection.record_visit(ctx, cmd.enterprise_id, enterprise.unit_code, cmd.visited_at,
                            cmd.findings_count, cmd.opinion_doc, cmd.signatures)
    return inspection.id


# -- hazards ---------------------------------------------------------------------------------


def _enterprise(uow: UnitOfWork, enterprise_id: UUID | None, day: date) -> EnterpriseRef | None:
    return None if enterprise_id is None else \
        uow.directory.enterprise_on("enterprise_id", enterprise_id, day)



def report_hazard(uow: UnitOfWork, cmd: c.ReportHazard, ctx: Context) -> UUID:
    discovered_on = business_date(cmd.discovered_at)
    enterprise = _enterprise(uow, cmd.enterprise_id, discovered_on)
    unit_code = policy.place_of(uow.directory, enterprise, cmd.unit_code, discovered_on)
    sector = cmd.sector or (enterprise.sector if enterprise else None)
    if sector is None:
        raise DomainError("sector", "a hazard without an enterprise names its sector", "INPUT")
    verified = cmd.public_report_id is not None and uow.get(
        PublicReport, cmd.public_report_id, "public_report_id").verified is True
    if cmd.inspection_id is not None:
        uow.get(Inspection, cmd.inspection_id, "inspection_id")
    found = Discovery(
        unit_code=unit_code, sector=sector, channel=cmd.channel, discovered_at=cmd.discovered_at,
        description=cmd.description, category=cmd.category, proposed_grade=cmd.proposed_grade,
        enterprise_id=cmd.enterprise_id, location_detail=cmd.location_detail,
        inspection_id=cmd.inspection_id, public_report_id=cmd.public_report_id,
        relapse_of=cmd.relapse_of,
    )
    hazard = Hazard.report(ctx, uow.new_id(cmd, cmd.hazard_id, "hazard_id"), found, enterprise,
                           verified)
    if cmd.relapse_of is not None:
        original = uow.get(Hazard, cmd.relapse_of, "relapse_of")
        original.record_relapse(ctx, hazard.id, cmd.discovered_at)
    return uow.add(hazard)


def confirm_hazard(uow: UnitOfWork, cmd: c.ConfirmHazard, ctx: Context) -> UUID:
    policy.require_org(uow.directory, "treating_org_id", cmd.treating_org_id)
    hazard = uow.get(Hazard, cmd.hazard_id, "hazard_id")
    hazard.confirm(ctx, cmd.grade, cmd.treatment, cmd.deadline, cmd.criteria_ref,
                   cmd.local_grade, cmd.notice_no, cmd.treating_org_id)
    return hazard.id


def submit_plan(uow: UnitOfWork, cmd: c.SubmitRectificationPlan, ctx: Context) -> UUID:
    hazard = uow.get(Hazard, cmd.hazard_id, "hazard_id")
    fields = cmd.plan.model_dump()
    fields["funds_fen"] = fields.pop("funds")
    hazard.submit_plan(ctx, RectificationPlan(**fields))
    return hazard.id


def transfer_hazard(uow: UnitOfWork, cmd: c.TransferHazard, ctx: Context) -> UUID:
    receiver = uow.directory.org(cmd.to_org_id, "to_org_id")
    hazard = uow.get(Hazard, cmd.hazard_id, "hazard_id")
    receiver_covers = uow.directory.covers(receiver, hazard.unit_code, hazard.sector, None)
    hazard.transfer(ctx, cmd.to_org_id, receiver_covers, cmd.reason)
    return hazard.id


def void_hazard(uow: UnitOfWork, cmd: c.VoidHazard, ctx: Context) -> UUID:
    if cmd.duplicate_of is not None:
        uow.get(Hazard, cmd.duplicate_of, "duplicate_of")
    hazard = uow.get(Hazard, cmd.hazard_id, "hazard_id")
    hazard.void(ctx, cmd.reason, cmd.duplicate_of)
    return hazard.id


def eliminate_hazard(uow: UnitOfWork, cmd: c.EliminateHazardByClosure, ctx: Context) -> UUID:
    hazard = uow.get(Hazard, cmd.hazard_id, "hazard_id")
    closed = hazard.enterprise_id is not None and uow.directory.enterprise(
        "enterprise_id", hazard.enterprise_id).status is EnterpriseStatus.CLOSED
    hazard.eliminate_by_closure(ctx, closed, cmd.decision_no)
    return hazard.id


def receive_public_report(uow: UnitOfWork, cmd: c.ReceivePublicReport, ctx: Context) -> UUID:
    uow.directory.unit("unit_code", cmd.unit_code, ctx.today)
    report_id = uow.new_id(cmd, cmd.report_id, "report_id")
    return uow.add(PublicReport.receive(ctx, report_id, cmd.unit_code, cmd.channel, cmd.content,
                                        cmd.location))


# -- risk, enforcement, accountability -------------------------------------------------------


def identify_risk_point(uow: UnitOfWork, cmd: c.IdentifyRiskPoint, ctx: Context) -> UUID:
    enterprise = _enterprise(uow, cmd.enterprise_id, cmd.identified_on)
    unit_code = policy.place_of(uow.directory, enterprise, cmd.unit_code, cmd.identified_on)
    sector = cmd.sector or (enterprise.sector if enterprise else None)
    risk_point_id = uow.new_id(cmd, cmd.risk_point_id, "risk_point_id")
    return uow.add(RiskPoint.identify(ctx, risk_point_id, unit_code, cmd.enterprise_id, sector,
                                      cmd.description, cmd.hazard_factors, cmd.likelihood,
                                      cmd.severity, cmd.level, cmd.identified_on))


def open_case(uow: UnitOfWork, cmd: c.OpenEnforcementCase, ctx: Context) -> UUID:
    enterprise = uow.directory.enterprise_on("enterprise_id", cmd.enterprise_id, cmd.opened_on)
    case_id = uow.new_id(cmd, cmd.case_id, "case_id")
    return uow.add(EnforcementCase.open(
        ctx, case_id, cmd.enterprise_id, enterprise.unit_code, enterprise.sector, cmd.case_no,
        cmd.related_hazard_ids, cmd.opened_on))


def hold_interview(uow: UnitOfWork, cmd: c.HoldInterview, ctx: Context) -> UUID:
    unit_code = policy.place_of(uow.directory, _enterprise(uow, cmd.enterprise_id, cmd.held_on),
                                cmd.unit_code, cmd.held_on)
    action_id = uow.new_id(cmd, cmd.action_id, "action_id")
    return uow.add(AccountabilityAction.interview(ctx, action_id, unit_code, cmd.target_type,
                                                  cmd.target_name, cmd.enterprise_id,
                                                  cmd.held_on))


def record_exposure(uow: UnitOfWork, cmd: c.RecordExposure, ctx: Context) -> UUID:
    unit_code = policy.place_of(uow.directory, _enterprise(uow, cmd.enterprise_id,
                                                           cmd.published_on),
                                cmd.unit_code, cmd.published_on)
    action_id = uow.new_id(cmd, cmd.action_id, "action_id")
    return uow.add(AccountabilityAction.expose(ctx, action_id, unit_code, cmd.enterprise_id,
                                               cmd.channel, cmd.subject, cmd.published_on))


def issue_reminder(uow: UnitOfWork, cmd: c.IssueAccountabilityReminder, ctx: Context) -> UUID:
    unit_code = policy.place_of(uow.directory, None, cmd.unit_code, cmd.issued_on)
    action_id = uow.new_id(cmd, cmd.action_id, "action_id")
    return uow.add(AccountabilityAction.remind(ctx, action_id, unit_code, cmd.step,
                                               cmd.addressee, cmd.subject, cmd.issued_on))


# -- tasks -----------------------------------------------------------------------------------


def define_task(uow: UnitOfWork, cmd: c.DefineTask, ctx: Context) -> UUID:
    task_list = uow.get(TaskList, cmd.task_list_id, "task_list_id")
    task_id = uow.new_id(cmd, cmd.task_id, "task_id")
    task = WorkTask.define(ctx, task_id, task_list, cmd.task_no, cmd.section, cmd.item,
                           cmd.requirement, cmd.responsible_units, cmd.deadline_text)
    if task.born_overdue:
        uow.warn(f"task {cmd.task_no}: deadline precedes the list's issue date "
                 f"{task_list.issued_on} (born overdue, V29)")
    return uow.add(task)


# -- what only zhibao records ----------------------------------------------------------------


def bootstrap(uow: UnitOfWork, cmd: c.Bootstrap, ctx: Context) -> UUID:
    """The top unit (unless a store from before persons already holds it), the top org with
    every power, and the first administrator — on a store without persons."""
    if uow.directory.persons:
        raise DomainError("command", "the store already has persons: zhibao admin init runs "
                                     "once, on a store without them", "AUTH-GRANT")
    if cmd.unit_code in uow.directory.codes:
        top = uow.directory.unit("unit_code", cmd.unit_code)
        if uow.directory.units[top.unit_id].parent_id is not None:
            raise DomainError("unit_code", f"{cmd.unit_code} has a parent: not a top unit",
                              "UNIT-TREE")
    else:
        unit = AdminUnit.register(ctx, uow.new_id(cmd, cmd.unit_id, "unit_id"), cmd.unit_code,
                                  cmd.code_system, cmd.level, cmd.kind, cmd.unit_name, None,
                                  cmd.valid_from)
        uow.add(unit)
        top = UnitRef(unit.id, unit.unit_code, unit.level, unit.valid_from, None)
    org = OrgUnit.establish_top(ctx, uow.new_id(cmd, cmd.org_id, "org_id"), cmd.org_name,
                                cmd.org_type, top)
    uow.add(org)
    person = Person.register(ctx, uow.new_id(cmd, cmd.person_id, "person_id"),
                             cmd.person_name, org.profile, (Role.ADMINISTRATOR,))
    return uow.add(person)


def _reporting_period(uow: UnitOfWork, period: str) -> ReportingPeriod:
    if uow.find(period_id(period)) is None:
        raise DomainError("period", f"reporting period {period} has not been opened "
                                    "(OpenReportingPeriod)", "LIFECYCLE")
    return uow.get(ReportingPeriod, period_id(period), "period")


def _report_unit(uow: UnitOfWork, unit_code: str, period: str) -> UnitRef:
    """The reporting unit, as it exists on the period's last day."""
    _, end = period_bounds(period)
    return uow.directory.unit("unit_code", unit_code, end.date() - timedelta(days=1))


def _content(content: c.SubmissionContentIn) -> SubmissionContent:
    return SubmissionContent(
        cut_off=content.cut_off, view_position=content.view_position, sha256=content.sha256,
        draft=content.draft,
        children=tuple(ChildSubmission(**child.model_dump()) for child in content.children))


def open_reporting_period(uow: UnitOfWork, cmd: c.OpenReportingPeriod, ctx: Context) -> UUID:
    if uow.find(period_id(cmd.period)) is not None:
        raise DomainError("period", f"reporting period {cmd.period} is already open", "LIFECYCLE")
    deadlines = tuple(LevelDeadline(d.level, d.deadline) for d in cmd.deadlines)
    return uow.add(ReportingPeriod.open(ctx, cmd.period, deadlines, cmd.programme_start,
                                        cmd.stock_cutoff))


def submit_report(uow: UnitOfWork, cmd: c.SubmitReport, ctx: Context) -> UUID:
    unit = _report_unit(uow, cmd.unit_code, cmd.period)
    period = _reporting_period(uow, cmd.period)
    aggregate_id = submission_id(unit.unit_id, cmd.period)
    uow.claim(aggregate_id, DomainError("period", f"{cmd.unit_code} has already submitted "
                                                  f"{cmd.period}; a correction is an "
                                                  "AmendReport", "LIFECYCLE"))
    return uow.add(ReportSubmission.submit(ctx, aggregate_id, cmd.unit_code, cmd.period,
                                           _content(cmd.content), period.deadline(unit.level)))


def amend_report(uow: UnitOfWork, cmd: c.AmendReport, ctx: Context) -> UUID:
    unit = _report_unit(uow, cmd.unit_code, cmd.period)
    period = _reporting_period(uow, cmd.period)
    aggregate_id = submission_id(unit.unit_id, cmd.period)
    if uow.find(aggregate_id) is None:
        raise DomainError("period", f"{cmd.unit_code} has not submitted {cmd.period} yet; "
                                    "submit it first", "LIFECYCLE")
    submission = uow.get(ReportSubmission, aggregate_id, "period")
    submission.amend(ctx, _content(cmd.content), period.deadline(unit.level),
                     tuple(FigureChange(**change.model_dump()) for change in cmd.changes),
                     tuple(RowChanges(**rows.model_dump()) for rows in cmd.rows))
    return submission.id


def mark_report_missing(uow: UnitOfWork, cmd: c.MarkReportMissing, ctx: Context) -> UUID:
    unit = _report_unit(uow, cmd.unit_code, cmd.period)
    period = _reporting_period(uow, cmd.period)
    period.mark_missing(ctx, cmd.unit_code, unit.level)
    return period.id


def sign_checkpoint(uow: UnitOfWork, cmd: c.SignCheckpoint, ctx: Context) -> UUID:
    trail = uow.find(AUDIT_TRAIL_ID)
    if trail is None:
        trail = AuditTrail.start(ctx)
        uow.add(trail)
    assert isinstance(trail, AuditTrail)
    trail.sign(ctx, cmd.origin, cmd.tree_size, cmd.root_hash, cmd.through_position,
               cmd.consistency, cmd.note)
    return trail.id


def record_credential_issued(uow: UnitOfWork, cmd: c.RecordCredentialIssued,
                             ctx: Context) -> UUID:
    """A credential of a registered, active person, counted at their org's unit."""
    person = uow.directory.person(cmd.person_id)
    org = uow.directory.org(person.org_id)
    return uow.add(Credential.issue(ctx, uow.new_id(cmd, cmd.credential_id, "credential_id"),
                                    org.unit_code, cmd.kind, cmd.person_id, person.org_id,
                                    cmd.scope, cmd.expires_at, cmd.label))
