"""Commands: the intake contract shared by the CLI, bulk import and any later HTTP intake.

A command is JSON with a `command` name, an optional `command_id` (idempotency key, V11),
an optional `occurred_at` and the fields below. It never names who issues it: the entry
point does (the person it authenticated), so a body carrying `actor` is refused
(AUTH-ACTOR). Parsing rejects unknown commands, unknown fields, unknown enum values,
malformed dates and money without its unit, naming the field and the rule. Naive
date-times are read in Asia/Shanghai.

`ENTRY_COMMANDS` are what entry points parse. `INTERNAL_COMMANDS` are what only zhibao
itself records — a submission with the hash it computed, 漏报, overdue, a reporting period,
a checkpoint, the bootstrap — constructed by its own flows and never parsed from outside
(SYSTEM-ONLY).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from domain.authority import Power
from domain.base import SHANGHAI, DomainError, Level, OrgType
from domain.codes import CodeSystem
from domain.credentials import CredentialKind
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
    """Fields every command has. The command's name is its class's name; in JSON it is the
    `command` member, which tells the union below which class to read."""

    command_id: str | None = Field(default=None, min_length=1, max_length=200)
    occurred_at: BizDatetime | None = None

    @property
    def command(self) -> str:
        """The command's name."""
        return type(self).__name__

    @model_validator(mode="before")
    @classmethod
    def _without_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("command") == cls.__name__:
            return {key: value for key, value in data.items() if key != "command"}
        return data

    @model_serializer(mode="wrap")
    def _with_name(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {"command": self.command, **handler(self)}


# -- reference data ------------------------------------------------------------------------


class RegisterAdminUnit(Command):
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
    code: Text
    new_code: Text
    valid_from: date


class MergeAdminUnit(Command):
    code: Text
    successor_code: Text
    valid_from: date


class RetireAdminUnit(Command):
    code: Text
    valid_from: date
    successor_codes: tuple[str, ...] = ()


class RegisterOrgUnit(Command):
    org_id: UUID | None = None
    name: Text
    org_type: OrgType
    unit_code: Text
    sectors: tuple[str, ...] = ()
    parent_org_id: UUID | None = None
    enforcement_power: bool = False  # refused when true: powers come from GrantOrgPower
    can_verify_major: bool = False


class GrantOrgPower(Command):
    org_id: UUID
    power: Power


class RevokeOrgPower(Command):
    org_id: UUID
    power: Power


class SetOrgSectors(Command):
    org_id: UUID
    sectors: tuple[str, ...]


class RegisterPerson(Command):
    person_id: UUID | None = None
    name: Text
    org_id: UUID
    roles: tuple[Text, ...] = ()


class GrantRole(Command):
    person_id: UUID
    role: Text


class RevokeRole(Command):
    person_id: UUID
    role: Text


class DeactivatePerson(Command):
    person_id: UUID
    reason: Text


class RegisterEnterprise(Command):
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
    enterprise_id: UUID
    unit_code: Text
    on: date


class ChangeEnterpriseSectors(Command):
    enterprise_id: UUID
    sectors: tuple[str, ...]


class ChangeEnterpriseFlags(Command):
    enterprise_id: UUID
    flags: FlagsIn


class EnterpriseStatusCommand(Command):
    enterprise_id: UUID
    on: date
    decision_no: str | None = None


class SuspendEnterprise(EnterpriseStatusCommand):
    """停产停业, by a body with enforcement power."""

    reason: str = ""


class ResumeEnterprise(EnterpriseStatusCommand):
    """复产复工 after a suspension."""


class CloseEnterprise(EnterpriseStatusCommand):
    """关闭取缔."""

    reason: str = ""


class SubmitSelfInspection(Command):
    enterprise_id: UUID
    period: Month
    submitted_at: BizDatetime
    hazards_found: int = 0
    signed_by_principal: bool
    published_on: date | None = None


# -- inspections ---------------------------------------------------------------------------


class PlanInspection(Command):
    inspection_id: UUID | None = None
    inspection_type: InspectionType
    programme: str | None = None
    team: tuple[TeamMemberIn, ...]
    targets: tuple[UUID, ...]
    date_from: date
    date_to: date


class RecordInspectionVisit(Command):
    inspection_id: UUID
    enterprise_id: UUID
    visited_at: BizDatetime
    findings_count: int = 0
    opinion_doc: str | None = None
    signatures: tuple[str, ...] = ()


class CloseInspection(Command):
    inspection_id: UUID
    closed_at: BizDatetime
    hazard_ids: tuple[UUID, ...] = ()
    bulletin_id: str | None = None


# -- hazards ---------------------------------------------------------------------------------


class ReportHazard(Command):
    """`unit_code` and `sector` default to the enterprise's village and primary sector."""

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


class HazardCommand(Command):
    hazard_id: UUID


class ConfirmHazard(HazardCommand):
    grade: Grade
    treatment: Treatment
    deadline: date | None = None
    criteria_ref: str | None = None
    local_grade: str | None = None
    notice_no: str | None = None
    treating_org_id: UUID | None = None


class RegradeHazard(HazardCommand):
    to_grade: Grade
    reason: Text
    criteria_ref: str | None = None


class RectifyHazardOnSpot(HazardCommand):
    rectified_at: BizDatetime
    evidence: str | None = None


class SubmitRectificationPlan(HazardCommand):
    plan: PlanIn


class ReviewRectificationPlan(HazardCommand):
    approve: bool
    opinion: str | None = None


class ReportRectificationProgress(HazardCommand):
    percent: int
    note: str | None = None


class RequestDeadlineExtension(HazardCommand):
    new_deadline: date
    reason: Text
    requested_at: BizDatetime


class DecideDeadlineExtension(HazardCommand):
    approve: bool
    opinion: str | None = None
    new_deadline: date | None = None


class RecordHazardOverdue(HazardCommand):
    """The daily sweep found the hazard past its deadline."""


class ListHazard(HazardCommand):
    level: ListingLevel
    deadline: date
    supervising_org: str | None = None
    notice_no: str | None = None


class DelistHazard(HazardCommand):
    delisting_doc: str | None = None


class DeclareRectified(HazardCommand):
    completed_at: BizDatetime
    evidence: str | None = None


class VerifyHazard(HazardCommand):
    passed: bool
    method: VerificationMethod = VerificationMethod.ON_SITE
    opinion: str | None = None
    verified_at: BizDatetime


class CloseHazard(HazardCommand):
    closed_at: BizDatetime


class TransferHazard(HazardCommand):
    to_org_id: UUID
    reason: Text


class VoidHazard(HazardCommand):
    reason: Text
    duplicate_of: UUID | None = None


class EliminateHazardByClosure(HazardCommand):
    decision_no: str | None = None


class ReceivePublicReport(Command):
    report_id: UUID | None = None
    unit_code: Text
    channel: Text
    content: Text
    location: str | None = None


class VerifyPublicReport(Command):
    report_id: UUID
    is_true: bool
    reason: str | None = None


# -- risk ------------------------------------------------------------------------------------


class IdentifyRiskPoint(Command):
    """`unit_code` defaults to the enterprise's village."""

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


class RiskCommand(Command):
    risk_point_id: UUID


class AssessRiskLevel(RiskCommand):
    likelihood: int
    severity: int
    level: RiskLevel
    assessed_on: date


class SetRiskControls(RiskCommand):
    measures: tuple[Text, ...]
    owner_level: Text


class RetireRiskPoint(RiskCommand):
    reason: Text


# -- enforcement and accountability ------------------------------------------------------------


class OpenEnforcementCase(Command):
    case_id: UUID | None = None
    enterprise_id: UUID
    case_no: Text
    related_hazard_ids: tuple[UUID, ...] = ()
    opened_on: date


class CaseCommand(Command):
    case_id: UUID
    decided_on: date


class ImposeFine(CaseCommand):
    amount: MoneyFen
    fine_target: FineTarget = FineTarget.ENTERPRISE
    decision_no: str | None = None


class OrderSuspension(CaseCommand):
    scope: SuspensionScope
    decision_no: str | None = None


class LiftSuspension(CaseCommand):
    decision_no: str | None = None


class SuspendLicence(CaseCommand):
    licence_no: Text


class RevokeLicence(CaseCommand):
    licence_no: Text


class OrderClosure(CaseCommand):
    decision_no: str | None = None


class BlacklistEnterprise(CaseCommand):
    reason: Text


class ReferCase(CaseCommand):
    referred_to: ReferralTarget
    persons: int = 0


class CloseEnforcementCase(CaseCommand):
    """结案."""


class HoldInterview(Command):
    """`unit_code` defaults to the enterprise's unit, when one is interviewed."""

    action_id: UUID | None = None
    unit_code: str | None = None
    target_type: InterviewTarget
    target_name: Text
    enterprise_id: UUID | None = None
    held_on: date


class RecordExposure(Command):
    """`unit_code` defaults to the enterprise's unit, when one is exposed."""

    action_id: UUID | None = None
    unit_code: str | None = None
    enterprise_id: UUID | None = None
    channel: Text
    subject: Text
    published_on: date


class IssueAccountabilityReminder(Command):
    action_id: UUID | None = None
    unit_code: Text
    step: int
    addressee: Text
    subject: Text
    issued_on: date


# -- measures and tasks ------------------------------------------------------------------------


class PlanMeasure(Command):
    measure_id: UUID | None = None
    title: Text
    kind: MeasureKind
    sector: str | None = None
    content: str | None = None
    partners: tuple[str, ...] = ()
    planned_date: date
    related_hazard_ids: tuple[UUID, ...] = ()


class IssueMeasure(Command):
    measure_id: UUID
    doc_no: Text
    issued_on: date


class CompleteMeasure(Command):
    measure_id: UUID
    completed_on: date
    evidence: str | None = None


class PublishTaskList(Command):
    list_id: UUID | None = None
    doc_no: Text
    title: Text
    issuer: Text
    issued_on: date


class DefineTask(Command):
    task_id: UUID | None = None
    task_list_id: UUID
    task_no: int
    section: str = ""
    item: str = ""
    requirement: Text
    responsible_units: tuple[Text, ...]
    deadline_text: Text


class ReportTaskProgress(Command):
    task_id: UUID
    responsible_unit: Text
    text: Text


class CompleteTaskForUnit(Command):
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
    period: Period
    deadlines: tuple[LevelDeadlineIn, ...]
    programme_start: date
    stock_cutoff: date


class SubmitReport(Command):
    unit_code: Text
    period: Period
    content: SubmissionContentIn


class AmendReport(Command):
    unit_code: Text
    period: Period
    content: SubmissionContentIn
    changes: tuple[FigureChangeIn, ...] = ()
    rows: tuple[RowChangesIn, ...] = ()


class MarkReportMissing(Command):
    unit_code: Text
    period: Period


class SignCheckpoint(Command):
    """A signed checkpoint of the log's Merkle tree (domain/audit.py), with the proof that
    it extends the previous one."""

    origin: str
    tree_size: int
    root_hash: str
    through_position: int
    consistency: tuple[str, ...]
    note: str  # the signed note, byte for byte (never stripped)


class RecordCredentialIssued(Command):
    """A credential zhibao issued (domain/credentials.py): never its secret."""

    credential_id: UUID
    kind: CredentialKind
    person_id: UUID
    scope: tuple[str, ...] = ()
    expires_at: datetime | None = None
    label: str = ""


class RecordCredentialRevoked(Command):
    credential_id: UUID
    reason: Text


class RecordSignInFailed(Command):
    credential_id: UUID
    reason: Text
    source: str = ""


class Bootstrap(Command):
    """`zhibao admin init`: the top unit, its top org with every power and the first
    administrator, on a store without persons."""

    unit_id: UUID | None = None
    unit_code: Text
    code_system: CodeSystem
    level: Level
    kind: Text
    unit_name: Text
    valid_from: date = date(1949, 10, 1)
    org_id: UUID
    org_name: Text
    org_type: OrgType = OrgType.COMMITTEE_OFFICE
    person_id: UUID
    person_name: Text


ENTRY_COMMANDS: tuple[type[Command], ...] = (
    RegisterAdminUnit, RecodeAdminUnit, MergeAdminUnit, RetireAdminUnit, RegisterOrgUnit,
    GrantOrgPower, RevokeOrgPower, SetOrgSectors, RegisterPerson, GrantRole, RevokeRole,
    DeactivatePerson, RegisterEnterprise, RelocateEnterprise, ChangeEnterpriseSectors,
    ChangeEnterpriseFlags, SuspendEnterprise, ResumeEnterprise, CloseEnterprise,
    SubmitSelfInspection, PlanInspection, RecordInspectionVisit, CloseInspection, ReportHazard,
    ConfirmHazard, RegradeHazard, RectifyHazardOnSpot, SubmitRectificationPlan,
    ReviewRectificationPlan, ReportRectificationProgress, RequestDeadlineExtension,
    DecideDeadlineExtension, ListHazard, DelistHazard, DeclareRectified, VerifyHazard,
    CloseHazard, TransferHazard, VoidHazard, EliminateHazardByClosure, ReceivePublicReport,
    VerifyPublicReport, IdentifyRiskPoint, AssessRiskLevel, SetRiskControls, RetireRiskPoint,
    OpenEnforcementCase, ImposeFine, OrderSuspension, LiftSuspension, SuspendLicence,
    RevokeLicence, OrderClosure, BlacklistEnterprise, ReferCase, CloseEnforcementCase,
    HoldInterview, RecordExposure, IssueAccountabilityReminder, PlanMeasure, IssueMeasure,
    CompleteMeasure, PublishTaskList, DefineTask, ReportTaskProgress, CompleteTaskForUnit,
)
"""What entry points (CLI, bulk import, HTTP) may parse and execute as a person."""

INTERNAL_COMMANDS: tuple[type[Command], ...] = (
    Bootstrap, OpenReportingPeriod, SubmitReport, AmendReport, MarkReportMissing,
    RecordHazardOverdue, SignCheckpoint, RecordCredentialIssued, RecordCredentialRevoked,
    RecordSignInFailed,
)
"""What only zhibao's own flows construct and record (SYSTEM-ONLY)."""

_INTERNAL_NAMES = frozenset(cls.__name__ for cls in INTERNAL_COMMANDS)


def _name_of(value: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("command")
        return name if isinstance(name, str) else None
    return type(value).__name__


EntryCommand = Annotated[
    Union[tuple(Annotated[cls, Tag(cls.__name__)] for cls in ENTRY_COMMANDS)],  # noqa: UP007
    Discriminator(_name_of, custom_error_type="unknown_command",
                  custom_error_message="unknown command"),
]
_ENTRY = TypeAdapter[Command](EntryCommand)


def parse_command(data: Any) -> Command:
    """Turn JSON into a command an entry point may execute, or reject it naming the first
    offending field."""
    if not isinstance(data, dict):
        raise DomainError("command", "a command is a JSON object")
    if "actor" in data:
        raise DomainError("actor", "a command does not name who issues it: the entry point "
                                   "does (--as PERSON, ZHIBAO_ACTOR, a credential)",
                          "AUTH-ACTOR")
    name = _name_of(data)
    if name in _INTERNAL_NAMES:
        raise DomainError("command", f"{name} is recorded by zhibao itself, never accepted "
                                     "from outside", "SYSTEM-ONLY")
    try:
        return _ENTRY.validate_python(data)
    except ValidationError as e:
        error = e.errors(include_url=False)[0]
        if error["type"] == "unknown_command":
            raise DomainError("command", f"unknown command {name!r}") from None
        field = ".".join(str(part) for part in error["loc"][1:]) or "command"
        raise DomainError(field, error["msg"].removeprefix("Value error, ")) from None
