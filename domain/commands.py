"""Commands: the intake contract shared by the CLI, bulk import and any later HTTP intake.

A command is JSON with a `command` name, an optional `command_id` (idempotency key, V11),
an optional `occurred_at` and the fields below. It never names who issues it: the entry
point does (the person it authenticated), so a body carrying `actor` is refused
(AUTH-ACTOR). Parsing rejects unknown commands, unknown fields, unknown enum values,
malformed dates and money without its unit, naming the field and the rule. Every field
is of a bounded value type of `domain.values` (money, counts, texts, lists, business
times, deadlines, codes, strict booleans), so no stored value can break a later stage.
Naive date-times are read in Asia/Shanghai. Entry points read the JSON itself strictly
(`infra.intake.parsing`).

`ENTRY_COMMANDS` are what entry points parse. `INTERNAL_COMMANDS` are what only zhibao
itself records — a submission with the hash it computed, 漏报, overdue, a reporting period,
a checkpoint, the bootstrap — constructed by its own flows and never parsed from outside
(SYSTEM-ONLY).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from domain.authority import Power
from domain.base import DomainError, Level, OrgType
from domain.codes import CodeSystem
from domain.credentials import CredentialKind
from domain.enforcement import FineTarget, InterviewTarget, ReferralTarget, SuspensionScope
from domain.hazards import Category, Channel, Grade, ListingLevel, Treatment, VerificationMethod
from domain.inspections import InspectionType, Rank, TeamRole
from domain.measures import MeasureKind
from domain.periods import MONTH_PATTERN
from domain.periods import PATTERN as PERIOD_PATTERN
from domain.risk import RiskLevel
from domain.rules import RULES
from domain.values import (
    MAX_TEXT,
    AnyDay,
    Count,
    Day,
    Deadline,
    Flag,
    Instant,
    Items,
    MoneyFen,
    UnitCode,
)

# -- value types ------------------------------------------------------------------------

Month = Annotated[str, StringConstraints(pattern=f"^{MONTH_PATTERN}$")]
Period = Annotated[str, StringConstraints(pattern=f"^{PERIOD_PATTERN}$")]
"""A reporting period: a month, a quarter (2021-Q2) or a year (domain.periods)."""
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Model(BaseModel):
    """Every input model: no unknown field, and no text longer than MAX_TEXT (BOUND-TEXT)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=MAX_TEXT)


class FlagsIn(Model):
    high_risk: Flag = False
    above_designated_size: Flag = False
    crowded_place: Flag = False
    small_venue_9: Flag = False
    major_hazard_installation: Flag = False


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
    deadline: Deadline | None = None
    contingency_plan: str | None = None
    interim_controls: str | None = None


class Command(Model):
    """Fields every command has. The command's name is its class's name; in JSON it is the
    `command` member, which tells the union below which class to read."""

    command_id: str | None = Field(default=None, min_length=1, max_length=200)
    occurred_at: Instant | None = None

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
    code: UnitCode
    code_system: CodeSystem
    level: Level
    kind: Text
    name: Text
    parent_code: UnitCode | None = None
    valid_from: Deadline
    urban_rural_class: str | None = None


class RecodeAdminUnit(Command):
    code: UnitCode
    new_code: UnitCode
    valid_from: Deadline


class MergeAdminUnit(Command):
    code: UnitCode
    successor_code: UnitCode
    valid_from: Deadline


class RetireAdminUnit(Command):
    code: UnitCode
    valid_from: Deadline
    successor_codes: Items[UnitCode] = ()


class RegisterOrgUnit(Command):
    org_id: UUID | None = None
    name: Text
    org_type: OrgType
    unit_code: UnitCode
    sectors: Items[str] = ()
    parent_org_id: UUID | None = None
    enforcement_power: Flag = False  # refused when true: powers come from GrantOrgPower
    can_verify_major: Flag = False


class GrantOrgPower(Command):
    org_id: UUID
    power: Power


class RevokeOrgPower(Command):
    org_id: UUID
    power: Power


class SetOrgSectors(Command):
    org_id: UUID
    sectors: Items[str]


class RegisterPerson(Command):
    person_id: UUID | None = None
    name: Text
    org_id: UUID
    roles: Items[Text] = ()


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
    unit_code: UnitCode
    address: str = ""
    sectors: Items[str]
    flags: FlagsIn = FlagsIn()
    principal: str = ""
    registered_on: Day


class RelocateEnterprise(Command):
    enterprise_id: UUID
    unit_code: UnitCode
    on: Day


class ChangeEnterpriseSectors(Command):
    enterprise_id: UUID
    sectors: Items[str]


class ChangeEnterpriseFlags(Command):
    enterprise_id: UUID
    flags: FlagsIn


class EnterpriseStatusCommand(Command):
    enterprise_id: UUID
    on: Day
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
    submitted_at: Instant
    hazards_found: Count = 0
    signed_by_principal: Flag
    published_on: Day | None = None


# -- inspections ---------------------------------------------------------------------------


class PlanInspection(Command):
    inspection_id: UUID | None = None
    inspection_type: InspectionType
    programme: str | None = None
    team: Items[TeamMemberIn]
    targets: Items[UUID]
    date_from: Deadline
    date_to: Deadline


class RecordInspectionVisit(Command):
    inspection_id: UUID
    enterprise_id: UUID
    visited_at: Instant
    findings_count: Count = 0
    opinion_doc: str | None = None
    signatures: Items[str] = ()


class CloseInspection(Command):
    inspection_id: UUID
    closed_at: Instant
    hazard_ids: Items[UUID] = ()
    bulletin_id: str | None = None


# -- hazards ---------------------------------------------------------------------------------


class ReportHazard(Command):
    """`unit_code` and `sector` default to the enterprise's village and primary sector."""

    hazard_id: UUID | None = None
    enterprise_id: UUID | None = None
    unit_code: UnitCode | None = None
    sector: str | None = None
    channel: Channel
    discovered_at: Instant
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
    deadline: Deadline | None = None
    criteria_ref: str | None = None
    local_grade: str | None = None
    notice_no: str | None = None
    treating_org_id: UUID | None = None


class RegradeHazard(HazardCommand):
    to_grade: Grade
    reason: Text
    criteria_ref: str | None = None


class RectifyHazardOnSpot(HazardCommand):
    rectified_at: Instant
    evidence: str | None = None


class SubmitRectificationPlan(HazardCommand):
    plan: PlanIn


class ReviewRectificationPlan(HazardCommand):
    approve: Flag
    opinion: str | None = None


class ReportRectificationProgress(HazardCommand):
    percent: Count
    note: str | None = None


class RequestDeadlineExtension(HazardCommand):
    new_deadline: Deadline
    reason: Text
    requested_at: Instant


class DecideDeadlineExtension(HazardCommand):
    approve: Flag
    opinion: str | None = None
    new_deadline: Deadline | None = None


class RecordHazardOverdue(HazardCommand):
    """The daily sweep found the hazard past its deadline."""


class ListHazard(HazardCommand):
    level: ListingLevel
    deadline: Deadline
    supervising_org: str | None = None
    notice_no: str | None = None


class DelistHazard(HazardCommand):
    delisting_doc: str | None = None


class DeclareRectified(HazardCommand):
    completed_at: Instant
    evidence: str | None = None


class VerifyHazard(HazardCommand):
    passed: Flag
    method: VerificationMethod = VerificationMethod.ON_SITE
    opinion: str | None = None
    verified_at: Instant


class CloseHazard(HazardCommand):
    closed_at: Instant


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
    unit_code: UnitCode
    channel: Text
    content: Text
    location: str | None = None


class VerifyPublicReport(Command):
    report_id: UUID
    is_true: Flag
    reason: str | None = None


# -- risk ------------------------------------------------------------------------------------


class IdentifyRiskPoint(Command):
    """`unit_code` defaults to the enterprise's village."""

    risk_point_id: UUID | None = None
    enterprise_id: UUID | None = None
    unit_code: UnitCode | None = None
    sector: str | None = None
    description: Text
    hazard_factors: str | None = None
    likelihood: Count
    severity: Count
    level: RiskLevel
    identified_on: Day


class RiskCommand(Command):
    risk_point_id: UUID


class AssessRiskLevel(RiskCommand):
    likelihood: Count
    severity: Count
    level: RiskLevel
    assessed_on: Day


class SetRiskControls(RiskCommand):
    measures: Items[Text]
    owner_level: Text


class RetireRiskPoint(RiskCommand):
    reason: Text


# -- enforcement and accountability ------------------------------------------------------------


class OpenEnforcementCase(Command):
    case_id: UUID | None = None
    enterprise_id: UUID
    case_no: Text
    related_hazard_ids: Items[UUID] = ()
    opened_on: Day


class CaseCommand(Command):
    case_id: UUID
    decided_on: Day


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
    persons: Count = 0


class CloseEnforcementCase(CaseCommand):
    """结案."""


class HoldInterview(Command):
    """`unit_code` defaults to the enterprise's unit, when one is interviewed."""

    action_id: UUID | None = None
    unit_code: UnitCode | None = None
    target_type: InterviewTarget
    target_name: Text
    enterprise_id: UUID | None = None
    held_on: Day


class RecordExposure(Command):
    """`unit_code` defaults to the enterprise's unit, when one is exposed."""

    action_id: UUID | None = None
    unit_code: UnitCode | None = None
    enterprise_id: UUID | None = None
    channel: Text
    subject: Text
    published_on: Day


class IssueAccountabilityReminder(Command):
    action_id: UUID | None = None
    unit_code: UnitCode
    step: Count
    addressee: Text
    subject: Text
    issued_on: Day


# -- measures and tasks ------------------------------------------------------------------------


class PlanMeasure(Command):
    measure_id: UUID | None = None
    title: Text
    kind: MeasureKind
    sector: str | None = None
    content: str | None = None
    partners: Items[str] = ()
    planned_date: Deadline
    related_hazard_ids: Items[UUID] = ()


class IssueMeasure(Command):
    measure_id: UUID
    doc_no: Text
    issued_on: Day


class CompleteMeasure(Command):
    measure_id: UUID
    completed_on: Day
    evidence: str | None = None


class PublishTaskList(Command):
    list_id: UUID | None = None
    doc_no: Text
    title: Text
    issuer: Text
    issued_on: Day


class DefineTask(Command):
    task_id: UUID | None = None
    task_list_id: UUID
    task_no: Count
    section: str = ""
    item: str = ""
    requirement: Text
    responsible_units: Items[Text]
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
    deadline: Deadline


class ChildSubmissionIn(Model):
    unit_code: UnitCode
    status: Literal["on_time", "late", "missing", "pending"]
    version: int | None = None
    sha256: str | None = None


class SubmissionContentIn(Model):
    cut_off: Instant
    view_position: int
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    draft: Flag = False
    children: Items[ChildSubmissionIn] = ()


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
    deadlines: Items[LevelDeadlineIn]
    programme_start: AnyDay
    stock_cutoff: AnyDay


class SubmitReport(Command):
    unit_code: UnitCode
    period: Period
    content: SubmissionContentIn


class AmendReport(Command):
    unit_code: UnitCode
    period: Period
    content: SubmissionContentIn
    changes: Items[FigureChangeIn] = ()
    rows: Items[RowChangesIn] = ()


class MarkReportMissing(Command):
    unit_code: UnitCode
    period: Period


class SignCheckpoint(Command):
    """A signed checkpoint of the log's Merkle tree (domain/audit.py), with the proof that
    it extends the previous one."""

    origin: str
    tree_size: int
    root_hash: str
    through_position: int
    consistency: Items[str]
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
    unit_code: UnitCode
    code_system: CodeSystem
    level: Level
    kind: Text
    unit_name: Text
    valid_from: Deadline = date(1949, 10, 1)
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
        raise DomainError("command", "a command is a JSON object", "INPUT")
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
            raise DomainError("command", f"unknown command {name!r}", "INPUT") from None
        field = ".".join(str(part) for part in error["loc"][1:]) or "command"
        raise DomainError(field, error["msg"].removeprefix("Value error, "),
                          rule_of(error["type"])) from None


_RULE_OF_ERROR = {
    "string_too_long": "BOUND-TEXT", "too_long": "BOUND-LIST",
    "less_than_equal": "BOUND-NUMBER", "greater_than_equal": "BOUND-NUMBER",
    "uuid_parsing": "INPUT",  # a malformed id breaks the contract's shape, not a JSON type
}


def rule_of(error_type: str) -> str:
    """The rule a validation error breaks: a bound's own code, a value's type (STRICT-TYPE)
    or the contract's shape (INPUT)."""
    if error_type in RULES:
        return error_type
    if error_type in _RULE_OF_ERROR:
        return _RULE_OF_ERROR[error_type]
    if error_type.endswith(("_type", "_parsing")) and not error_type.startswith("model"):
        return "STRICT-TYPE"
    return "INPUT"
