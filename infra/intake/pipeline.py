"""The command pipeline as one table: each command, the aggregate it acts on and the method
that decides. The permission of a command is its row in the permission matrix
(`domain.authority.MATRIX`, by the command's name), checked before the step runs.

Most commands only load their aggregate (the id in their `target` field) and call one
method with the command's other fields, named as the method names its parameters
(`acting_on`), or create one (`creating`, the new id in the field given). The rest — codes
to resolve, nested inputs to convert, two aggregates to change — have a step of their own
in `handlers`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NoReturn
from uuid import UUID

from domain import commands as c
from domain.base import Context, ZhibaoAggregate
from domain.credentials import Credential
from domain.enforcement import EnforcementCase
from domain.enterprises import Enterprise
from domain.hazards import Hazard
from domain.inspections import Inspection
from domain.measures import Measure
from domain.public_reports import PublicReport
from domain.risk import RiskPoint
from domain.tasks import TaskList, WorkTask
from domain.units import OrgUnit
from infra.intake import handlers as h
from infra.intake.unit_of_work import Step, UnitOfWork

ENVELOPE = frozenset(c.Command.model_fields)
"""Fields every command has (command_id, occurred_at): the context carries them."""


@cache
def _fields(command_class: type[c.Command], *left_out: str) -> tuple[str, ...]:
    return tuple(name for name in command_class.model_fields
                 if name not in ENVELOPE and name not in left_out)


def _arguments(command: c.Command, *left_out: str) -> dict[str, Any]:
    return {name: getattr(command, name) for name in _fields(type(command), *left_out)}


def acting_on(aggregate: type[ZhibaoAggregate], method: Callable[..., Any],
              target: str) -> Step:
    """Load the `aggregate` whose id is the command's `target`, call `method` with the
    command's other fields."""
    def step(uow: UnitOfWork, command: c.Command, ctx: Context) -> UUID:
        agg = uow.get(aggregate, getattr(command, target), target)
        method(agg, ctx, **_arguments(command, target))
        return agg.id
    return step


def creating(create: Callable[..., ZhibaoAggregate], id_field: str) -> Step:
    """Create an aggregate with `create` (a class method taking the new id first)."""
    def step(uow: UnitOfWork, command: c.Command, ctx: Context) -> UUID:
        new_id = uow.new_id(command, getattr(command, id_field), id_field)
        return uow.add(create(ctx, new_id, **_arguments(command, id_field)))
    return step


def _hazard(method: Callable[..., Any]) -> Step:
    return acting_on(Hazard, method, "hazard_id")


def _case(method: Callable[..., Any]) -> Step:
    return acting_on(EnforcementCase, method, "case_id")


def _risk_point(method: Callable[..., Any]) -> Step:
    return acting_on(RiskPoint, method, "risk_point_id")


def _enterprise(method: Callable[..., Any]) -> Step:
    return acting_on(Enterprise, method, "enterprise_id")


def _credential(method: Callable[..., Any]) -> Step:
    return acting_on(Credential, method, "credential_id")


class NotCarriedOut(Exception):
    """A command the service asked has no step for: the unit-tree service carries out only
    `ON_UNIT_TREE`, so zhibao sent it to the wrong service (or a new command lacks its step)."""


class Pipeline(dict[type[c.Command], Step]):
    """Each command's step; a command without one is refused by name."""

    def __missing__(self, command: type[c.Command]) -> NoReturn:
        raise NotCarriedOut(f"this service does not carry out {command.__name__}")


PIPELINE = Pipeline({
    # reference data, persons and powers
    c.RegisterAdminUnit: h.register_admin_unit,
    c.RecodeAdminUnit: h.recode_admin_unit,
    c.MergeAdminUnit: h.merge_admin_unit,
    c.RetireAdminUnit: h.retire_admin_unit,
    c.RegisterOrgUnit: h.register_org_unit,
    c.GrantOrgPower: acting_on(OrgUnit, OrgUnit.grant_power, "org_id"),
    c.RevokeOrgPower: acting_on(OrgUnit, OrgUnit.revoke_power, "org_id"),
    c.SetOrgSectors: acting_on(OrgUnit, OrgUnit.set_sectors, "org_id"),
    c.RegisterPerson: h.register_person,
    c.GrantRole: h.grant_role,
    c.RevokeRole: h.revoke_role,
    c.DeactivatePerson: h.deactivate_person,
    c.RegisterEnterprise: h.register_enterprise,
    c.RelocateEnterprise: h.relocate_enterprise,
    c.ChangeEnterpriseSectors: _enterprise(Enterprise.change_sectors),
    c.ChangeEnterpriseFlags: h.change_flags,
    c.SuspendEnterprise: _enterprise(Enterprise.suspend),
    c.ResumeEnterprise: _enterprise(Enterprise.resume),
    c.CloseEnterprise: _enterprise(Enterprise.close),
    c.SubmitSelfInspection: _enterprise(Enterprise.submit_self_inspection),
    # inspections
    c.PlanInspection: h.plan_inspection,
    c.RecordInspectionVisit: h.record_visit,
    c.CloseInspection: acting_on(Inspection, Inspection.close, "inspection_id"),
    # hazards
    c.ReportHazard: h.report_hazard,
    c.ConfirmHazard: h.confirm_hazard,
    c.RegradeHazard: _hazard(Hazard.regrade),
    c.RectifyHazardOnSpot: _hazard(Hazard.rectify_on_spot),
    c.SubmitRectificationPlan: h.submit_plan,
    c.ReviewRectificationPlan: _hazard(Hazard.review_plan),
    c.ReportRectificationProgress: _hazard(Hazard.report_progress),
    c.RequestDeadlineExtension: _hazard(Hazard.request_extension),
    c.DecideDeadlineExtension: _hazard(Hazard.decide_extension),
    c.RecordHazardOverdue: _hazard(Hazard.record_overdue),
    c.ListHazard: _hazard(Hazard.list_hazard),
    c.DelistHazard: _hazard(Hazard.delist),
    c.DeclareRectified: _hazard(Hazard.complete),
    c.VerifyHazard: _hazard(Hazard.verify),
    c.CloseHazard: _hazard(Hazard.close),
    c.TransferHazard: h.transfer_hazard,
    c.VoidHazard: h.void_hazard,
    c.EliminateHazardByClosure: h.eliminate_hazard,
    c.ReceivePublicReport: h.receive_public_report,
    c.VerifyPublicReport: acting_on(PublicReport, PublicReport.verify, "report_id"),
    # risk
    c.IdentifyRiskPoint: h.identify_risk_point,
    c.AssessRiskLevel: _risk_point(RiskPoint.assess),
    c.SetRiskControls: _risk_point(RiskPoint.set_controls),
    c.RetireRiskPoint: _risk_point(RiskPoint.retire),
    # enforcement and accountability
    c.OpenEnforcementCase: h.open_case,
    c.ImposeFine: _case(EnforcementCase.impose_fine),
    c.OrderSuspension: _case(EnforcementCase.order_suspension),
    c.LiftSuspension: _case(EnforcementCase.lift_suspension),
    c.SuspendLicence: _case(EnforcementCase.suspend_licence),
    c.RevokeLicence: _case(EnforcementCase.revoke_licence),
    c.OrderClosure: _case(EnforcementCase.order_closure),
    c.BlacklistEnterprise: _case(EnforcementCase.blacklist),
    c.ReferCase: _case(EnforcementCase.refer),
    c.CloseEnforcementCase: _case(EnforcementCase.close),
    c.HoldInterview: h.hold_interview,
    c.RecordExposure: h.record_exposure,
    c.IssueAccountabilityReminder: h.issue_reminder,
    # measures and tasks
    c.PlanMeasure: creating(Measure.plan, "measure_id"),
    c.IssueMeasure: acting_on(Measure, Measure.issue, "measure_id"),
    c.CompleteMeasure: acting_on(Measure, Measure.complete, "measure_id"),
    c.PublishTaskList: creating(TaskList.publish, "list_id"),
    c.DefineTask: h.define_task,
    c.ReportTaskProgress: acting_on(WorkTask, WorkTask.report_progress, "task_id"),
    c.CompleteTaskForUnit: acting_on(WorkTask, WorkTask.complete_for, "task_id"),
    # what only zhibao records
    c.Bootstrap: h.bootstrap,
    c.OpenReportingPeriod: h.open_reporting_period,
    c.SubmitReport: h.submit_report,
    c.AmendReport: h.amend_report,
    c.MarkReportMissing: h.mark_report_missing,
    c.SignCheckpoint: h.sign_checkpoint,
    c.RecordCredentialIssued: h.record_credential_issued,
    c.RecordCredentialRevoked: _credential(Credential.revoke),
    c.RecordSignInFailed: _credential(Credential.fail_sign_in),
})
ON_UNIT_TREE: frozenset[type[c.Command]] = frozenset({
    c.OpenReportingPeriod, c.SubmitReport, c.AmendReport, c.MarkReportMissing,
    c.SignCheckpoint, c.RecordHazardOverdue})
"""What zhibao records as itself (a cascade's period, submissions, 漏报 and checkpoint, the
daily sweep's overdue hazards) that is judged on the unit tree alone: their steps resolve
unit codes at most, and zhibao's org
covers every unit. Any other command needs orgs, persons or enterprises, whose absence
from a directory of units would let it through (a credit code "unused", a second
bootstrap)."""
