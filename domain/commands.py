"""Commands: the intake contract shared by the CLI, bulk import and any later HTTP intake.

A command is JSON with a `command` name, the `actor`, an optional `command_id` (idempotency
key, V11) and the fields below. Parsing rejects unknown commands, unknown fields, unknown
enum values, malformed dates and money without its unit, naming the field and the rule.
Naive date-times are read in Asia/Shanghai.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
)

from domain.base import SHANGHAI, DomainError, Level, OrgType
from domain.codes import CodeSystem
from domain.enforcement import FineTarget, InterviewTarget, ReferralTarget, SuspensionScope
from domain.hazards import Category, Channel, Grade, ListingLevel, Treatment, VerificationMethod
from domain.inspections import InspectionType, Rank, TeamRole
from domain.measures import MeasureKind
from domain.periods import PATTERN as PERIOD_PATTERN
from domain.risk import RiskLevel

# -- value types ------------------------------------------------------------------------


def _to_shanghai(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=SHANGHAI)
    return value.astimezone(SHANGHAI)


BizDatetime = Annotated[datetime, AfterValidator(_to_shanghai)]
"""A business instant; naive input is Asia/Shanghai local time (V24)."""

_MONEY_UNITS = {"分": 1, "fen": 1, "元": 100, "yuan": 100, "万元": 1_000_000, "wan_yuan": 1_000_000}
_MONEY_TEXT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(万元|元|分)\s*")


def _parse_money(value: Any) -> int:
    """Money must state its unit (V20): {"amount": "1.5", "unit": "万元"} or "1.5万元".
    Stored as integer fen."""
    if isinstance(value, dict) and set(value) == {"amount", "unit"}:
        amount, unit = value["amount"], value["unit"]
    elif isinstance(value, str) and (match := _MONEY_TEXT.fullmatch(value)):
        amount, unit = match[1], match[2]
    else:
        raise ValueError("money needs its unit: {\"amount\": \"1.5\", \"unit\": \"万元\"} or "
                         "\"1.5万元\" (units 分, 元, 万元)")
    if unit not in _MONEY_UNITS:
        raise ValueError(f"unknown money unit {unit!r}; use 分, 元 or 万元")
    try:
        fen = Decimal(str(amount)) * _MONEY_UNITS[unit]
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount") from None
    if fen != fen.to_integral_value() or fen < 0:
        raise ValueError(f"{amount}{unit} is not a non-negative whole number of fen")
    return int(fen)


MoneyFen = Annotated[int, BeforeValidator(_parse_money),
                     PlainSerializer(lambda fen: {"amount": str(fen), "unit": "分"},
                                     when_used="json")]
"""Integer fen inside; written back out with its unit, so a dumped command parses again."""
Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Period = Annotated[str, StringConstraints(pattern=f"^{PERIOD_PATTERN}$")]
"""A reporting period: a month, a quarter (2021-Q2) or a year (domain.periods)."""
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActorIn(Model):
    person_id: Text
    org_id: UUID
    role: Text


class FlagsIn(Model):
    high_risk: bool = False
    above_designated_size: bool = False
    crowded_place: bool = False
    small_venue_9: bool = False
    major_hazard_installation: bool = False


class TeamMemberIn(Model):
    person_id: Text
    name: Text
    role: TeamRole
    rank: Rank


class PlanIn(Model):
    measures: Text
    responsible_org: str | None = None
    responsible_person: str | None = None
    funds: MoneyFen | None = None
    funds_source: str | None = None
    deadline: date | None = None
    contingency_plan: str | None = None
    interim_controls: str | None = None


class Command(Model):
    """Fields every command has. `target` names the field holding the id of the aggregate
    a command acts on; creation commands have none."""

    target: ClassVar[str | None] = None

    actor: ActorIn
    command_id: str | None = Field(default=None, min_length=1, max_length=200)
    occurred_at: BizDatetime | None = None


# -- reference data ------------------------------------------------------------------------


class RegisterAdminUnit(Command):
    command: Literal["RegisterAdminUnit"] = "RegisterAdminUnit"
    unit_id: UUID | None = None
    code: Text
    code_system: CodeSystem
    level: Level
    kind: Text
    name: Text
    parent_code: str | None = None
    valid_from: date
    urban_rural_class: str | None = None


class RecodeAdminUnit(Command):
    command: Literal["RecodeAdminUnit"] = "RecodeAdminUnit"
    code: Text
    new_code: Text
    valid_from: date


class MergeAdminUnit(Command):
    command: Literal["MergeAdminUnit"] = "MergeAdminUnit"
    code: Text
    successor_code: Text
    valid_from: date


class RetireAdminUnit(Command):
    command: Literal["RetireAdminUnit"] = "RetireAdminUnit"
    code: Text
    valid_from: date
    successor_codes: tuple[str, ...] = ()


class RegisterOrgUnit(Command):
    command: Literal["RegisterOrgUnit"] = "RegisterOrgUnit"
    org_id: UUID | None = None
    name: Text
    org_type: OrgType
    unit_code: Text
    sectors: tuple[str, ...] = ()
    parent_org_id: UUID | None = None
    enforcement_power: bool = False
    can_verify_major: bool = False


class RegisterEnterprise(Command):
    command: Literal["RegisterEnterprise"] = "RegisterEnterprise"
    enterprise_id: UUID | None = None
    uscc: Text
    name: Text
    unit_code: Text
    address: str = ""
    sectors: tuple[str, ...]
    flags: FlagsIn = FlagsIn()
    principal: str = ""
    registered_on: date


class RelocateEnterprise(Command):
    command: Literal["RelocateEnterprise"] = "RelocateEnterprise"
    target: ClassVar[str | None] = "enterprise_id"
    enterprise_id: UUID
    unit_code: Text
    on: date


class ChangeEnterpriseSectors(Command):
    command: Literal["ChangeEnterpriseSectors"] = "ChangeEnterpriseSectors"
    target: ClassVar[str | None] = "enterprise_id"
    enterprise_id: UUID
    sectors: tuple[str, ...]


class ChangeEnterpriseFlags(Command):
    command: Literal["ChangeEnterpriseFlags"] = "ChangeEnterpriseFlags"
    target: ClassVar[str | None] = "enterprise_id"
    enterprise_id: UUID
    flags: FlagsIn


class _EnterpriseStatusCommand(Command):
    target: ClassVar[str | None] = "enterprise_id"
    enterprise_id: UUID
    on: date
    reason: str = ""
    decision_no: str | None = None


class SuspendEnterprise(_EnterpriseStatusCommand):
    command: Literal["SuspendEnterprise"] = "SuspendEnterprise"


class ResumeEnterprise(_EnterpriseStatusCommand):
    command: Literal["ResumeEnterprise"] = "ResumeEnterprise"


class CloseEnterprise(_EnterpriseStatusCommand):
    command: Literal["CloseEnterprise"] = "CloseEnterprise"


class SubmitSelfInspection(Command):
    command: Literal["SubmitSelfInspection"] = "SubmitSelfInspection"
    target: ClassVar[str | None] = "enterprise_id"
    enterprise_id: UUID
    period: Month
    submitted_at: BizDatetime
    hazards_found: int = 0
    signed_by_principal: bool
    published_on: date | None = None


# -- inspections ---------------------------------------------------------------------------


class PlanInspection(Command):
    command: Literal["PlanInspection"] = "PlanInspection"
    inspection_id: UUID | None = None
    inspection_type: InspectionType
    programme: str | None = None
    team: tuple[TeamMemberIn, ...]
    targets: tuple[UUID, ...]
    date_from: date
    date_to: date


class RecordInspectionVisit(Command):
    command: Literal["RecordInspectionVisit"] = "RecordInspectionVisit"
    target: ClassVar[str | None] = "inspection_id"
    inspection_id: UUID
    enterprise_id: UUID
    visited_at: BizDatetime
    findings_count: int = 0
    opinion_doc: str | None = None
    signatures: tuple[str, ...] = ()


class CloseInspection(Command):
    command: Literal["CloseInspection"] = "CloseInspection"
    target: ClassVar[str | None] = "inspection_id"
    inspection_id: UUID
    closed_at: BizDatetime
    hazard_ids: tuple[UUID, ...] = ()
    bulletin_id: str | None = None


# -- hazards ---------------------------------------------------------------------------------


class ReportHazard(Command):
    """`unit_code` and `sector` default to the enterprise's village and primary sector."""

    command: Literal["ReportHazard"] = "ReportHazard"
    hazard_id: UUID | None = None
    enterprise_id: UUID | None = None
    unit_code: str | None = None
    sector: str | None = None
    channel: Channel
    discovered_at: BizDatetime
    description: Text
    category: Category
    proposed_grade: Grade = Grade.GENERAL
    location_detail: str | None = None
    inspection_id: UUID | None = None
    public_report_id: UUID | None = None
    relapse_of: UUID | None = None


class _HazardCommand(Command):
    target: ClassVar[str | None] = "hazard_id"
    hazard_id: UUID


class ConfirmHazard(_HazardCommand):
    command: Literal["ConfirmHazard"] = "ConfirmHazard"
    grade: Grade
    treatment: Treatment
    deadline: date | None = None
    criteria_ref: str | None = None
    local_grade: str | None = None
    notice_no: str | None = None
    treating_org_id: UUID | None = None


class RegradeHazard(_HazardCommand):
    command: Literal["RegradeHazard"] = "RegradeHazard"
    to_grade: Grade
    reason: Text
    criteria_ref: str | None = None


class RectifyHazardOnSpot(_HazardCommand):
    command: Literal["RectifyHazardOnSpot"] = "RectifyHazardOnSpot"
    rectified_at: BizDatetime
    evidence: str | None = None


class SubmitRectificationPlan(_HazardCommand):
    command: Literal["SubmitRectificationPlan"] = "SubmitRectificationPlan"
    plan: PlanIn


class ReviewRectificationPlan(_HazardCommand):
    command: Literal["ReviewRectificationPlan"] = "ReviewRectificationPlan"
    approve: bool
    opinion: str | None = None


class ReportRectificationProgress(_HazardCommand):
    command: Literal["ReportRectificationProgress"] = "ReportRectificationProgress"
    percent: int
    note: str | None = None


class RequestDeadlineExtension(_HazardCommand):
    command: Literal["RequestDeadlineExtension"] = "RequestDeadlineExtension"
    new_deadline: date
    reason: Text
    requested_at: BizDatetime


class DecideDeadlineExtension(_HazardCommand):
    command: Literal["DecideDeadlineExtension"] = "DecideDeadlineExtension"
    approve: bool
    opinion: str | None = None
    new_deadline: date | None = None


class RecordHazardOverdue(_HazardCommand):
    command: Literal["RecordHazardOverdue"] = "RecordHazardOverdue"


class ListHazard(_HazardCommand):
    command: Literal["ListHazard"] = "ListHazard"
    level: ListingLevel
    deadline: date
    supervising_org: str | None = None
    notice_no: str | None = None


class DelistHazard(_HazardCommand):
    command: Literal["DelistHazard"] = "DelistHazard"
    delisting_doc: str | None = None


class DeclareRectified(_HazardCommand):
    command: Literal["DeclareRectified"] = "DeclareRectified"
    completed_at: BizDatetime
    evidence: str | None = None


class VerifyHazard(_HazardCommand):
    command: Literal["VerifyHazard"] = "VerifyHazard"
    passed: bool
    method: VerificationMethod = VerificationMethod.ON_SITE
    opinion: str | None = None
    verified_at: BizDatetime


class CloseHazard(_HazardCommand):
    command: Literal["CloseHazard"] = "CloseHazard"
    closed_at: BizDatetime


class TransferHazard(_HazardCommand):
    command: Literal["TransferHazard"] = "TransferHazard"
    to_org_id: UUID
    reason: Text


class VoidHazard(_HazardCommand):
    command: Literal["VoidHazard"] = "VoidHazard"
    reason: Text
    duplicate_of: UUID | None = None


class EliminateHazardByClosure(_HazardCommand):
    command: Literal["EliminateHazardByClosure"] = "EliminateHazardByClosure"
    decision_no: str | None = None


class ReceivePublicReport(Command):
    command: Literal["ReceivePublicReport"] = "ReceivePublicReport"
    report_id: UUID | None = None
    unit_code: Text
    channel: Text
    content: Text
    location: str | None = None


class VerifyPublicReport(Command):
    command: Literal["VerifyPublicReport"] = "VerifyPublicReport"
    target: ClassVar[str | None] = "report_id"
    report_id: UUID
    is_true: bool
    reason: str | None = None


# -- risk ------------------------------------------------------------------------------------


class IdentifyRiskPoint(Command):
    """`unit_code` defaults to the enterprise's village."""

    command: Literal["IdentifyRiskPoint"] = "IdentifyRiskPoint"
    risk_point_id: UUID | None = None
    enterprise_id: UUID | None = None
    unit_code: str | None = None
    sector: str | None = None
    description: Text
    hazard_factors: str | None = None
    likelihood: int
    severity: int
    level: RiskLevel
    identified_on: date


class _RiskCommand(Command):
    target: ClassVar[str | None] = "risk_point_id"
    risk_point_id: UUID


class AssessRiskLevel(_RiskCommand):
    command: Literal["AssessRiskLevel"] = "AssessRiskLevel"
    likelihood: int
    severity: int
    level: RiskLevel
    assessed_on: date


class SetRiskControls(_RiskCommand):
    command: Literal["SetRiskControls"] = "SetRiskControls"
    measures: tuple[Text, ...]
    owner_level: Text


class RetireRiskPoint(_RiskCommand):
    command: Literal["RetireRiskPoint"] = "RetireRiskPoint"
    reason: Text


# -- enforcement and accountability ------------------------------------------------------------


class OpenEnforcementCase(Command):
    command: Literal["OpenEnforcementCase"] = "OpenEnforcementCase"
    case_id: UUID | None = None
    enterprise_id: UUID
    case_no: Text
    related_hazard_ids: tuple[UUID, ...] = ()
    opened_on: date


class _CaseCommand(Command):
    target: ClassVar[str | None] = "case_id"
    case_id: UUID
    decided_on: date


class ImposeFine(_CaseCommand):
    command: Literal["ImposeFine"] = "ImposeFine"
    amount: MoneyFen
    fine_target: FineTarget = FineTarget.ENTERPRISE
    decision_no: str | None = None


class OrderSuspension(_CaseCommand):
    command: Literal["OrderSuspension"] = "OrderSuspension"
    scope: SuspensionScope
    decision_no: str | None = None


class LiftSuspension(_CaseCommand):
    command: Literal["LiftSuspension"] = "LiftSuspension"
    decision_no: str | None = None


class SuspendLicence(_CaseCommand):
    command: Literal["SuspendLicence"] = "SuspendLicence"
    licence_no: Text


class RevokeLicence(_CaseCommand):
    command: Literal["RevokeLicence"] = "RevokeLicence"
    licence_no: Text


class OrderClosure(_CaseCommand):
    command: Literal["OrderClosure"] = "OrderClosure"
    decision_no: str | None = None


class BlacklistEnterprise(_CaseCommand):
    command: Literal["BlacklistEnterprise"] = "BlacklistEnterprise"
    reason: Text


class ReferCase(_CaseCommand):
    command: Literal["ReferCase"] = "ReferCase"
    referred_to: ReferralTarget
    persons: int = 0


class CloseEnforcementCase(_CaseCommand):
    command: Literal["CloseEnforcementCase"] = "CloseEnforcementCase"


class HoldInterview(Command):
    command: Literal["HoldInterview"] = "HoldInterview"
    action_id: UUID | None = None
    unit_code: Text
    target_type: InterviewTarget
    target_name: Text
    enterprise_id: UUID | None = None
    held_on: date


class RecordExposure(Command):
    command: Literal["RecordExposure"] = "RecordExposure"
    action_id: UUID | None = None
    unit_code: Text
    enterprise_id: UUID | None = None
    channel: Text
    subject: Text
    published_on: date


class IssueAccountabilityReminder(Command):
    command: Literal["IssueAccountabilityReminder"] = "IssueAccountabilityReminder"
    action_id: UUID | None = None
    unit_code: Text
    step: int
    addressee: Text
    subject: Text
    issued_on: date


# -- measures and tasks ------------------------------------------------------------------------


class PlanMeasure(Command):
    command: Literal["PlanMeasure"] = "PlanMeasure"
    measure_id: UUID | None = None
    title: Text
    kind: MeasureKind
    sector: str | None = None
    content: str | None = None
    partners: tuple[str, ...] = ()
    planned_date: date
    related_hazard_ids: tuple[UUID, ...] = ()


class IssueMeasure(Command):
    command: Literal["IssueMeasure"] = "IssueMeasure"
    target: ClassVar[str | None] = "measure_id"
    measure_id: UUID
    doc_no: Text
    issued_on: date


class CompleteMeasure(Command):
    command: Literal["CompleteMeasure"] = "CompleteMeasure"
    target: ClassVar[str | None] = "measure_id"
    measure_id: UUID
    completed_on: date
    evidence: str | None = None


class PublishTaskList(Command):
    command: Literal["PublishTaskList"] = "PublishTaskList"
    list_id: UUID | None = None
    doc_no: Text
    title: Text
    issuer: Text
    issued_on: date


class DefineTask(Command):
    command: Literal["DefineTask"] = "DefineTask"
    task_id: UUID | None = None
    task_list_id: UUID
    task_no: int
    section: str = ""
    item: str = ""
    requirement: Text
    responsible_units: tuple[Text, ...]
    deadline_text: Text


class ReportTaskProgress(Command):
    command: Literal["ReportTaskProgress"] = "ReportTaskProgress"
    target: ClassVar[str | None] = "task_id"
    task_id: UUID
    responsible_unit: Text
    text: Text


class CompleteTaskForUnit(Command):
    command: Literal["CompleteTaskForUnit"] = "CompleteTaskForUnit"
    target: ClassVar[str | None] = "task_id"
    task_id: UUID
    responsible_unit: Text


# -- reporting (domain/reports.py) -------------------------------------------------------------


class LevelDeadlineIn(Model):
    level: Level
    deadline: date


class ChildSubmissionIn(Model):
    unit_code: Text
    status: Literal["on_time", "late", "missing", "pending"]
    version: int | None = None
    sha256: str | None = None


class SubmissionContentIn(Model):
    cut_off: BizDatetime
    view_position: int
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    draft: bool = False
    children: tuple[ChildSubmissionIn, ...] = ()


class FigureChangeIn(Model):
    code: Text
    column: Text
    old: str | None
    new: str | None


class RowChangesIn(Model):
    list: Text
    added: int
    removed: int
    changed: int


class OpenReportingPeriod(Command):
    command: Literal["OpenReportingPeriod"] = "OpenReportingPeriod"
    period: Period
    deadlines: tuple[LevelDeadlineIn, ...]
    programme_start: date
    stock_cutoff: date


class SubmitReport(Command):
    command: Literal["SubmitReport"] = "SubmitReport"
    unit_code: Text
    period: Period
    content: SubmissionContentIn


class AmendReport(Command):
    command: Literal["AmendReport"] = "AmendReport"
    unit_code: Text
    period: Period
    content: SubmissionContentIn
    changes: tuple[FigureChangeIn, ...] = ()
    rows: tuple[RowChangesIn, ...] = ()


class MarkReportMissing(Command):
    command: Literal["MarkReportMissing"] = "MarkReportMissing"
    unit_code: Text
    period: Period


COMMANDS: dict[str, type[Command]] = {
    cls.__name__: cls for cls in Command.__subclasses__() + [
        sub for base in (_EnterpriseStatusCommand, _HazardCommand, _RiskCommand, _CaseCommand)
        for sub in base.__subclasses__()
    ] if not cls.__name__.startswith("_")
}


def parse_command(data: Any) -> Command:
    """Turn JSON into a command, or reject it naming the first offending field."""
    if not isinstance(data, dict):
        raise DomainError("command", "a command is a JSON object")
    name = data.get("command")
    cls = COMMANDS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise DomainError("command", f"unknown command {name!r}")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        error = e.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "command"
        raise DomainError(field, error["msg"].removeprefix("Value error, ")) from None
