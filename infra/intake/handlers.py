"""One handler per command: resolve what the command refers to, then call the one domain
method that decides. Handlers hold no rules of their own beyond looking things up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from uuid import UUID

from domain import commands as c
from domain.base import Context, DomainError, business_date
from domain.codes import prefix_mismatch
from domain.enforcement import AccountabilityAction, EnforcementCase
from domain.enterprises import Enterprise, EnterpriseFlags, EnterpriseStatus
from domain.hazards import Discovery, Hazard, RectificationPlan
from domain.inspections import Inspection, TeamMember
from domain.measures import Measure
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
from infra.intake.directory import EnterpriseEntry
from infra.intake.unit_of_work import Handler, UnitOfWork

HANDLERS: dict[type[c.Command], Handler] = {}


def handles(command_class: type[c.Command]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[command_class] = handler
        return handler
    return register


# -- reference data ------------------------------------------------------------------------


@handles(c.RegisterAdminUnit)
def register_admin_unit(uow: UnitOfWork, cmd: c.RegisterAdminUnit, ctx: Context) -> UUID:
    if cmd.code in uow.directory.codes:
        raise DomainError("code", f"a unit with code {cmd.code} is already registered")
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


@handles(c.RecodeAdminUnit)
def recode_admin_unit(uow: UnitOfWork, cmd: c.RecodeAdminUnit, ctx: Context) -> UUID:
    if cmd.new_code in uow.directory.codes:
        raise DomainError("new_code", f"code {cmd.new_code} is taken; codes are never reused")
    unit = _unit_aggregate(uow, cmd.code)
    unit.recode(ctx, cmd.new_code, cmd.valid_from)
    return unit.id


@handles(c.MergeAdminUnit)
def merge_admin_unit(uow: UnitOfWork, cmd: c.MergeAdminUnit, ctx: Context) -> UUID:
    successor = uow.directory.unit("successor_code", cmd.successor_code, cmd.valid_from)
    unit = _unit_aggregate(uow, cmd.code)
    unit.merge_into(ctx, successor, cmd.valid_from)
    return unit.id


@handles(c.RetireAdminUnit)
def retire_admin_unit(uow: UnitOfWork, cmd: c.RetireAdminUnit, ctx: Context) -> UUID:
    successors = tuple(uow.directory.unit("successor_codes", code, cmd.valid_from)
                       for code in cmd.successor_codes)
    unit = _unit_aggregate(uow, cmd.code)
    unit.retire(ctx, cmd.valid_from, successors)
    return unit.id


@handles(c.RegisterOrgUnit)
def register_org_unit(uow: UnitOfWork, cmd: c.RegisterOrgUnit, ctx: Context) -> UUID:
    unit = uow.directory.unit("unit_code", cmd.unit_code, ctx.today)
    if cmd.parent_org_id is not None:
        uow.directory.org(cmd.parent_org_id)
    org_id = uow.new_id(cmd, cmd.org_id, "org_id")
    return uow.add(OrgUnit.register(ctx, org_id, cmd.name, cmd.org_type, unit, cmd.sectors,
                                    cmd.parent_org_id, cmd.enforcement_power,
                                    cmd.can_verify_major))


@handles(c.RegisterEnterprise)
def register_enterprise(uow: UnitOfWork, cmd: c.RegisterEnterprise, ctx: Context) -> UUID:
    unit = uow.directory.unit("unit_code", cmd.unit_code, cmd.registered_on)
    enterprise_id = uow.new_id(cmd, cmd.enterprise_id, "enterprise_id")
    enterprise = Enterprise.register(
        ctx, enterprise_id, cmd.uscc, cmd.name, unit, cmd.address, cmd.sectors,
        EnterpriseFlags(**cmd.flags.model_dump()), cmd.principal, cmd.registered_on)
    if enterprise.uscc in uow.directory.usccs:
        raise DomainError("uscc", f"{enterprise.uscc} is already registered to enterprise "
                                  f"{uow.directory.usccs[enterprise.uscc]}")
    return uow.add(enterprise)


@handles(c.RelocateEnterprise)
def relocate_enterprise(uow: UnitOfWork, cmd: c.RelocateEnterprise, ctx: Context) -> UUID:
    unit = uow.directory.unit("unit_code", cmd.unit_code, cmd.on)
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.relocate(ctx, unit, cmd.on)
    return enterprise.id


@handles(c.ChangeEnterpriseSectors)
def change_sectors(uow: UnitOfWork, cmd: c.ChangeEnterpriseSectors, ctx: Context) -> UUID:
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.change_sectors(ctx, cmd.sectors)
    return enterprise.id


@handles(c.ChangeEnterpriseFlags)
def change_flags(uow: UnitOfWork, cmd: c.ChangeEnterpriseFlags, ctx: Context) -> UUID:
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.change_flags(ctx, EnterpriseFlags(**cmd.flags.model_dump()))
    return enterprise.id


@handles(c.SuspendEnterprise)
def suspend_enterprise(uow: UnitOfWork, cmd: c.SuspendEnterprise, ctx: Context) -> UUID:
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.suspend(ctx, cmd.on, cmd.reason, cmd.decision_no)
    return enterprise.id


@handles(c.ResumeEnterprise)
def resume_enterprise(uow: UnitOfWork, cmd: c.ResumeEnterprise, ctx: Context) -> UUID:
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.resume(ctx, cmd.on, cmd.decision_no)
    return enterprise.id


@handles(c.CloseEnterprise)
def close_enterprise(uow: UnitOfWork, cmd: c.CloseEnterprise, ctx: Context) -> UUID:
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.close(ctx, cmd.on, cmd.reason, cmd.decision_no)
    return enterprise.id


@handles(c.SubmitSelfInspection)
def submit_self_inspection(uow: UnitOfWork, cmd: c.SubmitSelfInspection, ctx: Context) -> UUID:
    enterprise = uow.get(Enterprise, cmd.enterprise_id, "enterprise_id")
    enterprise.submit_self_inspection(ctx, cmd.period, cmd.submitted_at, cmd.hazards_found,
                                      cmd.signed_by_principal, cmd.published_on)
    return enterprise.id


# -- inspections -----------------------------------------------------------------------------


@handles(c.PlanInspection)
def plan_inspection(uow: UnitOfWork, cmd: c.PlanInspection, ctx: Context) -> UUID:
    for target in cmd.targets:
        entry = uow.directory.enterprise("targets", target)
        ctx.require_jurisdiction("targets", uow.directory.current_code(entry.unit_id),
                                 entry.sectors[0])
    inspection_id = uow.new_id(cmd, cmd.inspection_id, "inspection_id")
    team = tuple(TeamMember(**member.model_dump()) for member in cmd.team)
    return uow.add(Inspection.plan(ctx, inspection_id, cmd.inspection_type, cmd.programme, team,
                                   cmd.targets, cmd.date_from, cmd.date_to))


@handles(c.RecordInspectionVisit)
def record_visit(uow: UnitOfWork, cmd: c.RecordInspectionVisit, ctx: Context) -> UUID:
    entry = uow.directory.enterprise("enterprise_id", cmd.enterprise_id)
    inspection = uow.get(Inspection, cmd.inspection_id, "inspection_id")
    inspection.record_visit(ctx, cmd.enterprise_id, uow.directory.current_code(entry.unit_id),
                            cmd.visited_at, cmd.findings_count, cmd.opinion_doc, cmd.signatures)
    return inspection.id


@handles(c.CloseInspection)
def close_inspection(uow: UnitOfWork, cmd: c.CloseInspection, ctx: Context) -> UUID:
    inspection = uow.get(Inspection, cmd.inspection_id, "inspection_id")
    inspection.close(ctx, cmd.closed_at, cmd.hazard_ids, cmd.bulletin_id)
    return inspection.id


# -- hazards ---------------------------------------------------------------------------------


def _operating_enterprise(uow: UnitOfWork, enterprise_id: UUID, on: date) -> EnterpriseEntry:
    """V9: a hazard belongs to an enterprise that exists and was not closed by then."""
    entry = uow.directory.enterprise("enterprise_id", enterprise_id)
    if entry.closed_on is not None and entry.closed_on <= on:
        raise DomainError("enterprise_id", f"enterprise {entry.name} was closed on "
                                           f"{entry.closed_on}")
    return entry


@handles(c.ReportHazard)
def report_hazard(uow: UnitOfWork, cmd: c.ReportHazard, ctx: Context) -> UUID:
    discovered_on = business_date(cmd.discovered_at)
    unit_code, sector = cmd.unit_code, cmd.sector
    if cmd.enterprise_id is not None:
        entry = _operating_enterprise(uow, cmd.enterprise_id, discovered_on)
        unit_code = unit_code or uow.directory.current_code(entry.unit_id)
        sector = sector or entry.sectors[0]
    if unit_code is None:
        raise DomainError("unit_code", "a hazard without an enterprise names its place")
    if sector is None:
        raise DomainError("sector", "a hazard without an enterprise names its sector")
    uow.directory.unit("unit_code", unit_code, discovered_on)
    verified = False
    if cmd.public_report_id is not None:
        verified = uow.get(PublicReport, cmd.public_report_id, "public_report_id").verified is True
    if cmd.inspection_id is not None:
        uow.get(Inspection, cmd.inspection_id, "inspection_id")
    found = Discovery(
        unit_code=unit_code, sector=sector, channel=cmd.channel, discovered_at=cmd.discovered_at,
        description=cmd.description, category=cmd.category, proposed_grade=cmd.proposed_grade,
        enterprise_id=cmd.enterprise_id, location_detail=cmd.location_detail,
        inspection_id=cmd.inspection_id, public_report_id=cmd.public_report_id,
        relapse_of=cmd.relapse_of,
    )
    hazard = Hazard.report(ctx, uow.new_id(cmd, cmd.hazard_id, "hazard_id"), found, verified)
    if cmd.relapse_of is not None:
        original = uow.get(Hazard, cmd.relapse_of, "relapse_of")
        original.record_relapse(ctx, hazard.id, cmd.discovered_at)
    return uow.add(hazard)


def _hazard(uow: UnitOfWork, cmd: c._HazardCommand) -> Hazard:
    return uow.get(Hazard, cmd.hazard_id, "hazard_id")


@handles(c.ConfirmHazard)
def confirm_hazard(uow: UnitOfWork, cmd: c.ConfirmHazard, ctx: Context) -> UUID:
    if cmd.treating_org_id is not None:
        uow.directory.org(cmd.treating_org_id)
    hazard = _hazard(uow, cmd)
    hazard.confirm(ctx, cmd.grade, cmd.treatment, cmd.deadline, cmd.criteria_ref,
                   cmd.local_grade, cmd.notice_no, cmd.treating_org_id)
    return hazard.id


@handles(c.RegradeHazard)
def regrade_hazard(uow: UnitOfWork, cmd: c.RegradeHazard, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.regrade(ctx, cmd.to_grade, cmd.reason, cmd.criteria_ref)
    return hazard.id


@handles(c.RectifyHazardOnSpot)
def rectify_on_spot(uow: UnitOfWork, cmd: c.RectifyHazardOnSpot, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.rectify_on_spot(ctx, cmd.rectified_at, cmd.evidence)
    return hazard.id


@handles(c.SubmitRectificationPlan)
def submit_plan(uow: UnitOfWork, cmd: c.SubmitRectificationPlan, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    fields = cmd.plan.model_dump()
    fields["funds_fen"] = fields.pop("funds")
    hazard.submit_plan(ctx, RectificationPlan(**fields))
    return hazard.id


@handles(c.ReviewRectificationPlan)
def review_plan(uow: UnitOfWork, cmd: c.ReviewRectificationPlan, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.review_plan(ctx, cmd.approve, cmd.opinion)
    return hazard.id


@handles(c.ReportRectificationProgress)
def report_progress(uow: UnitOfWork, cmd: c.ReportRectificationProgress, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.report_progress(ctx, cmd.percent, cmd.note)
    return hazard.id


@handles(c.RequestDeadlineExtension)
def request_extension(uow: UnitOfWork, cmd: c.RequestDeadlineExtension, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.request_extension(ctx, cmd.new_deadline, cmd.reason, cmd.requested_at)
    return hazard.id


@handles(c.DecideDeadlineExtension)
def decide_extension(uow: UnitOfWork, cmd: c.DecideDeadlineExtension, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.decide_extension(ctx, cmd.approve, cmd.opinion, cmd.new_deadline)
    return hazard.id


@handles(c.RecordHazardOverdue)
def record_overdue(uow: UnitOfWork, cmd: c.RecordHazardOverdue, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.record_overdue(ctx, ctx.at)
    return hazard.id


@handles(c.ListHazard)
def list_hazard(uow: UnitOfWork, cmd: c.ListHazard, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.list_hazard(ctx, cmd.level, cmd.deadline, cmd.supervising_org, cmd.notice_no)
    return hazard.id


@handles(c.DelistHazard)
def delist_hazard(uow: UnitOfWork, cmd: c.DelistHazard, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.delist(ctx, cmd.delisting_doc)
    return hazard.id


@handles(c.DeclareRectified)
def declare_rectified(uow: UnitOfWork, cmd: c.DeclareRectified, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.complete(ctx, cmd.completed_at, cmd.evidence)
    return hazard.id


@handles(c.VerifyHazard)
def verify_hazard(uow: UnitOfWork, cmd: c.VerifyHazard, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.verify(ctx, cmd.passed, cmd.method, cmd.opinion, cmd.verified_at)
    return hazard.id


@handles(c.CloseHazard)
def close_hazard(uow: UnitOfWork, cmd: c.CloseHazard, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    hazard.close(ctx, cmd.closed_at)
    return hazard.id


@handles(c.TransferHazard)
def transfer_hazard(uow: UnitOfWork, cmd: c.TransferHazard, ctx: Context) -> UUID:
    receiver = uow.directory.org(cmd.to_org_id)
    hazard = _hazard(uow, cmd)
    receiver_covers = uow.directory.covers(receiver, hazard.unit_code, hazard.sector, None)
    hazard.transfer(ctx, cmd.to_org_id, receiver_covers, cmd.reason)
    return hazard.id


@handles(c.VoidHazard)
def void_hazard(uow: UnitOfWork, cmd: c.VoidHazard, ctx: Context) -> UUID:
    if cmd.duplicate_of is not None:
        uow.get(Hazard, cmd.duplicate_of, "duplicate_of")
    hazard = _hazard(uow, cmd)
    hazard.void(ctx, cmd.reason, cmd.duplicate_of)
    return hazard.id


@handles(c.EliminateHazardByClosure)
def eliminate_hazard(uow: UnitOfWork, cmd: c.EliminateHazardByClosure, ctx: Context) -> UUID:
    hazard = _hazard(uow, cmd)
    closed = hazard.enterprise_id is not None and uow.directory.enterprise(
        "enterprise_id", hazard.enterprise_id).status is EnterpriseStatus.CLOSED
    hazard.eliminate_by_closure(ctx, closed, cmd.decision_no)
    return hazard.id


@handles(c.ReceivePublicReport)
def receive_public_report(uow: UnitOfWork, cmd: c.ReceivePublicReport, ctx: Context) -> UUID:
    uow.directory.unit("unit_code", cmd.unit_code, ctx.today)
    report_id = uow.new_id(cmd, cmd.report_id, "report_id")
    return uow.add(PublicReport.receive(ctx, report_id, cmd.unit_code, cmd.channel, cmd.content,
                                        cmd.location))


@handles(c.VerifyPublicReport)
def verify_public_report(uow: UnitOfWork, cmd: c.VerifyPublicReport, ctx: Context) -> UUID:
    report = uow.get(PublicReport, cmd.report_id, "report_id")
    report.verify(ctx, cmd.is_true, cmd.reason)
    return report.id


# -- risk ------------------------------------------------------------------------------------


@handles(c.IdentifyRiskPoint)
def identify_risk_point(uow: UnitOfWork, cmd: c.IdentifyRiskPoint, ctx: Context) -> UUID:
    unit_code, sector = cmd.unit_code, cmd.sector
    if cmd.enterprise_id is not None:
        entry = uow.directory.enterprise("enterprise_id", cmd.enterprise_id)
        unit_code = unit_code or uow.directory.current_code(entry.unit_id)
        sector = sector or entry.sectors[0]
    if unit_code is None:
        raise DomainError("unit_code", "a risk point without an enterprise names its place")
    uow.directory.unit("unit_code", unit_code, cmd.identified_on)
    risk_point_id = uow.new_id(cmd, cmd.risk_point_id, "risk_point_id")
    return uow.add(RiskPoint.identify(ctx, risk_point_id, unit_code, cmd.enterprise_id, sector,
                                      cmd.description, cmd.hazard_factors, cmd.likelihood,
                                      cmd.severity, cmd.level, cmd.identified_on))


@handles(c.AssessRiskLevel)
def assess_risk(uow: UnitOfWork, cmd: c.AssessRiskLevel, ctx: Context) -> UUID:
    point = uow.get(RiskPoint, cmd.risk_point_id, "risk_point_id")
    point.assess(ctx, cmd.likelihood, cmd.severity, cmd.level, cmd.assessed_on)
    return point.id


@handles(c.SetRiskControls)
def set_risk_controls(uow: UnitOfWork, cmd: c.SetRiskControls, ctx: Context) -> UUID:
    point = uow.get(RiskPoint, cmd.risk_point_id, "risk_point_id")
    point.set_controls(ctx, cmd.measures, cmd.owner_level)
    return point.id


@handles(c.RetireRiskPoint)
def retire_risk_point(uow: UnitOfWork, cmd: c.RetireRiskPoint, ctx: Context) -> UUID:
    point = uow.get(RiskPoint, cmd.risk_point_id, "risk_point_id")
    point.retire(ctx, cmd.reason)
    return point.id


# -- enforcement -------------------------------------------------------------------------------


@handles(c.OpenEnforcementCase)
def open_case(uow: UnitOfWork, cmd: c.OpenEnforcementCase, ctx: Context) -> UUID:
    entry = uow.directory.enterprise("enterprise_id", cmd.enterprise_id)
    case_id = uow.new_id(cmd, cmd.case_id, "case_id")
    return uow.add(EnforcementCase.open(
        ctx, case_id, cmd.enterprise_id, uow.directory.current_code(entry.unit_id),
        entry.sectors[0], cmd.case_no, cmd.related_hazard_ids, cmd.opened_on))


def _case(uow: UnitOfWork, cmd: c._CaseCommand) -> EnforcementCase:
    return uow.get(EnforcementCase, cmd.case_id, "case_id")


@handles(c.ImposeFine)
def impose_fine(uow: UnitOfWork, cmd: c.ImposeFine, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.impose_fine(ctx, cmd.amount, cmd.fine_target, cmd.decision_no, cmd.decided_on)
    return case.id


@handles(c.OrderSuspension)
def order_suspension(uow: UnitOfWork, cmd: c.OrderSuspension, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.order_suspension(ctx, cmd.scope, cmd.decision_no, cmd.decided_on)
    return case.id


@handles(c.LiftSuspension)
def lift_suspension(uow: UnitOfWork, cmd: c.LiftSuspension, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.lift_suspension(ctx, cmd.decision_no, cmd.decided_on)
    return case.id


@handles(c.SuspendLicence)
def suspend_licence(uow: UnitOfWork, cmd: c.SuspendLicence, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.act_on_licence(ctx, cmd.licence_no, False, cmd.decided_on)
    return case.id


@handles(c.RevokeLicence)
def revoke_licence(uow: UnitOfWork, cmd: c.RevokeLicence, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.act_on_licence(ctx, cmd.licence_no, True, cmd.decided_on)
    return case.id


@handles(c.OrderClosure)
def order_closure(uow: UnitOfWork, cmd: c.OrderClosure, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.order_closure(ctx, cmd.decision_no, cmd.decided_on)
    return case.id


@handles(c.BlacklistEnterprise)
def blacklist(uow: UnitOfWork, cmd: c.BlacklistEnterprise, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.blacklist(ctx, cmd.reason, cmd.decided_on)
    return case.id


@handles(c.ReferCase)
def refer_case(uow: UnitOfWork, cmd: c.ReferCase, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.refer(ctx, cmd.referred_to, cmd.persons, cmd.decided_on)
    return case.id


@handles(c.CloseEnforcementCase)
def close_case(uow: UnitOfWork, cmd: c.CloseEnforcementCase, ctx: Context) -> UUID:
    case = _case(uow, cmd)
    case.close(ctx, cmd.decided_on)
    return case.id


@handles(c.HoldInterview)
def hold_interview(uow: UnitOfWork, cmd: c.HoldInterview, ctx: Context) -> UUID:
    uow.directory.unit("unit_code", cmd.unit_code, cmd.held_on)
    if cmd.enterprise_id is not None:
        uow.directory.enterprise("enterprise_id", cmd.enterprise_id)
    action_id = uow.new_id(cmd, cmd.action_id, "action_id")
    return uow.add(AccountabilityAction.interview(ctx, action_id, cmd.unit_code, cmd.target_type,
                                                  cmd.target_name, cmd.enterprise_id,
                                                  cmd.held_on))


@handles(c.RecordExposure)
def record_exposure(uow: UnitOfWork, cmd: c.RecordExposure, ctx: Context) -> UUID:
    uow.directory.unit("unit_code", cmd.unit_code, cmd.published_on)
    if cmd.enterprise_id is not None:
        uow.directory.enterprise("enterprise_id", cmd.enterprise_id)
    action_id = uow.new_id(cmd, cmd.action_id, "action_id")
    return uow.add(AccountabilityAction.expose(ctx, action_id, cmd.unit_code, cmd.enterprise_id,
                                               cmd.channel, cmd.subject, cmd.published_on))


@handles(c.IssueAccountabilityReminder)
def issue_reminder(uow: UnitOfWork, cmd: c.IssueAccountabilityReminder, ctx: Context) -> UUID:
    uow.directory.unit("unit_code", cmd.unit_code, cmd.issued_on)
    action_id = uow.new_id(cmd, cmd.action_id, "action_id")
    return uow.add(AccountabilityAction.remind(ctx, action_id, cmd.unit_code, cmd.step,
                                               cmd.addressee, cmd.subject, cmd.issued_on))


# -- measures and tasks ------------------------------------------------------------------------


@handles(c.PlanMeasure)
def plan_measure(uow: UnitOfWork, cmd: c.PlanMeasure, ctx: Context) -> UUID:
    measure_id = uow.new_id(cmd, cmd.measure_id, "measure_id")
    return uow.add(Measure.plan(ctx, measure_id, cmd.title, cmd.kind, cmd.sector, cmd.content,
                                cmd.partners, cmd.planned_date, cmd.related_hazard_ids))


@handles(c.IssueMeasure)
def issue_measure(uow: UnitOfWork, cmd: c.IssueMeasure, ctx: Context) -> UUID:
    measure = uow.get(Measure, cmd.measure_id, "measure_id")
    measure.issue(ctx, cmd.doc_no, cmd.issued_on)
    return measure.id


@handles(c.CompleteMeasure)
def complete_measure(uow: UnitOfWork, cmd: c.CompleteMeasure, ctx: Context) -> UUID:
    measure = uow.get(Measure, cmd.measure_id, "measure_id")
    measure.complete(ctx, cmd.completed_on, cmd.evidence)
    return measure.id


@handles(c.PublishTaskList)
def publish_task_list(uow: UnitOfWork, cmd: c.PublishTaskList, ctx: Context) -> UUID:
    list_id = uow.new_id(cmd, cmd.list_id, "list_id")
    return uow.add(TaskList.publish(ctx, list_id, cmd.doc_no, cmd.title, cmd.issuer,
                                    cmd.issued_on))


@handles(c.DefineTask)
def define_task(uow: UnitOfWork, cmd: c.DefineTask, ctx: Context) -> UUID:
    task_list = uow.get(TaskList, cmd.task_list_id, "task_list_id")
    task_id = uow.new_id(cmd, cmd.task_id, "task_id")
    task = WorkTask.define(ctx, task_id, task_list, cmd.task_no, cmd.section, cmd.item,
                           cmd.requirement, cmd.responsible_units, cmd.deadline_text)
    if task.pending_events[-1].born_overdue:  # type: ignore[attr-defined]
        uow.warn(f"task {cmd.task_no}: deadline precedes the list's issue date "
                 f"{task_list.issued_on} (born overdue, V29)")
    return uow.add(task)


@handles(c.ReportTaskProgress)
def report_task_progress(uow: UnitOfWork, cmd: c.ReportTaskProgress, ctx: Context) -> UUID:
    task = uow.get(WorkTask, cmd.task_id, "task_id")
    task.report_progress(ctx, cmd.responsible_unit, cmd.text)
    return task.id


@handles(c.CompleteTaskForUnit)
def complete_task(uow: UnitOfWork, cmd: c.CompleteTaskForUnit, ctx: Context) -> UUID:
    task = uow.get(WorkTask, cmd.task_id, "task_id")
    task.complete_for(ctx, cmd.responsible_unit)
    return task.id


# -- reporting -------------------------------------------------------------------------------


def _reporting_period(uow: UnitOfWork, period: str) -> ReportingPeriod:
    if uow.find(period_id(period)) is None:
        raise DomainError("period", f"reporting period {period} has not been opened "
                                    "(OpenReportingPeriod)")
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


@handles(c.OpenReportingPeriod)
def open_reporting_period(uow: UnitOfWork, cmd: c.OpenReportingPeriod, ctx: Context) -> UUID:
    if uow.find(period_id(cmd.period)) is not None:
        raise DomainError("period", f"reporting period {cmd.period} is already open")
    deadlines = tuple(LevelDeadline(d.level, d.deadline) for d in cmd.deadlines)
    return uow.add(ReportingPeriod.open(ctx, cmd.period, deadlines, cmd.programme_start,
                                        cmd.stock_cutoff))


@handles(c.SubmitReport)
def submit_report(uow: UnitOfWork, cmd: c.SubmitReport, ctx: Context) -> UUID:
    unit = _report_unit(uow, cmd.unit_code, cmd.period)
    period = _reporting_period(uow, cmd.period)
    aggregate_id = submission_id(unit.unit_id, cmd.period)
    if uow.find(aggregate_id) is not None:
        raise DomainError("period", f"{cmd.unit_code} has already submitted {cmd.period}; "
                                    "a correction is an AmendReport")
    return uow.add(ReportSubmission.submit(ctx, aggregate_id, cmd.unit_code, cmd.period,
                                           _content(cmd.content), period.deadline(unit.level)))


@handles(c.AmendReport)
def amend_report(uow: UnitOfWork, cmd: c.AmendReport, ctx: Context) -> UUID:
    unit = _report_unit(uow, cmd.unit_code, cmd.period)
    period = _reporting_period(uow, cmd.period)
    aggregate_id = submission_id(unit.unit_id, cmd.period)
    if uow.find(aggregate_id) is None:
        raise DomainError("period", f"{cmd.unit_code} has not submitted {cmd.period} yet; "
                                    "submit it first")
    submission = uow.get(ReportSubmission, aggregate_id, "period")
    submission.amend(ctx, _content(cmd.content), period.deadline(unit.level),
                     tuple(FigureChange(**change.model_dump()) for change in cmd.changes),
                     tuple(RowChanges(**rows.model_dump()) for rows in cmd.rows))
    return submission.id


@handles(c.MarkReportMissing)
def mark_report_missing(uow: UnitOfWork, cmd: c.MarkReportMissing, ctx: Context) -> UUID:
    unit = _report_unit(uow, cmd.unit_code, cmd.period)
    period = _reporting_period(uow, cmd.period)
    period.mark_missing(ctx, cmd.unit_code, unit.level)
    return period.id
