"""Enforcement (执法) and accountability (问责): cases with their penalties, and the
interviews, exposures and reminders that do not need a case. Money is integer fen."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, ZhibaoAggregate, require, start_of_day


class FineTarget(StrEnum):
    ENTERPRISE = "enterprise"
    PRINCIPAL = "principal"  # 主要负责人
    PERSON = "person"


class SuspensionScope(StrEnum):
    PARTIAL = "partial"
    FULL = "full"


class ReferralTarget(StrEnum):
    DISCIPLINE = "discipline"  # 纪检监察
    JUDICIAL = "judicial"  # 司法机关


class InterviewTarget(StrEnum):
    OFFICIAL = "official"
    DEPARTMENT = "department"
    ENTERPRISE = "enterprise"


class EnforcementCase(ZhibaoAggregate):
    """A case (立案) against an enterprise and the penalties decided in it. Only a body
    holding enforcement power acts in a case (the permission matrix); its unit is the
    enterprise's."""

    def __init__(self, unit_code: str, enterprise_id: UUID, sector: str) -> None:
        self.unit_code = unit_code
        self.enterprise_id = enterprise_id
        self.sector = sector
        self.closed = False
        self.suspended = False

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class EnforcementCaseOpened(ZhibaoAggregate.Created):
        enterprise_id: UUID
        sector: str
        case_no: str
        related_hazard_ids: tuple[UUID, ...]

    @classmethod
    def open(cls, ctx: Context, case_id: UUID, enterprise_id: UUID, unit_code: str, sector: str,
             case_no: str, related_hazard_ids: tuple[UUID, ...], opened_on: date,
             ) -> EnforcementCase:
        require(bool(case_no.strip()), "case_no", "must not be empty", "INPUT")
        ctx.require_jurisdiction("enterprise_id", unit_code, sector)
        return cls._start(cls.EnforcementCaseOpened, ctx, case_id, unit_code,
                          start_of_day(opened_on), enterprise_id=enterprise_id, sector=sector,
                          case_no=case_no, related_hazard_ids=tuple(related_hazard_ids))

    class FineImposed(Event):
        amount_fen: int
        target: FineTarget
        decision_no: str | None

    def impose_fine(self, ctx: Context, amount: int, fine_target: FineTarget,
                    decision_no: str | None, decided_on: date) -> None:
        """`amount` in fen."""
        self._require_open_case(ctx)
        require(amount > 0, "amount", "a fine is a positive amount", "INPUT")
        self._record(self.FineImposed, ctx, start_of_day(decided_on), amount_fen=amount,
                     target=fine_target, decision_no=decision_no)

    class SuspensionOrdered(Event):
        scope: SuspensionScope
        decision_no: str | None

    def order_suspension(self, ctx: Context, scope: SuspensionScope, decision_no: str | None,
                         decided_on: date) -> None:
        self._require_open_case(ctx)
        require(not self.suspended, "case_id", "a suspension is already in force", "LIFECYCLE")
        self._record(self.SuspensionOrdered, ctx, start_of_day(decided_on), scope=scope,
                     decision_no=decision_no)

    @when.register
    def _(self, event: EnforcementCase.SuspensionOrdered) -> None:
        self.suspended = True

    class SuspensionLifted(Event):
        decision_no: str | None

    def lift_suspension(self, ctx: Context, decision_no: str | None, decided_on: date) -> None:
        self._require_open_case(ctx)
        require(self.suspended, "case_id", "no suspension is in force", "LIFECYCLE")
        self._record(self.SuspensionLifted, ctx, start_of_day(decided_on),
                     decision_no=decision_no)

    @when.register
    def _(self, event: EnforcementCase.SuspensionLifted) -> None:
        self.suspended = False

    class LicenceSuspended(Event):
        licence_no: str

    class LicenceRevoked(Event):
        licence_no: str

    def suspend_licence(self, ctx: Context, licence_no: str, decided_on: date) -> None:
        self._act_on_licence(ctx, self.LicenceSuspended, licence_no, decided_on)

    def revoke_licence(self, ctx: Context, licence_no: str, decided_on: date) -> None:
        self._act_on_licence(ctx, self.LicenceRevoked, licence_no, decided_on)

    def _act_on_licence(self, ctx: Context, event_class: type[ZhibaoAggregate.Event],
                        licence_no: str, decided_on: date) -> None:
        self._require_open_case(ctx)
        require(bool(licence_no.strip()), "licence_no", "must not be empty", "INPUT")
        self._record(event_class, ctx, start_of_day(decided_on), licence_no=licence_no)

    class ClosureOrdered(Event):
        decision_no: str | None

    def order_closure(self, ctx: Context, decision_no: str | None, decided_on: date) -> None:
        self._require_open_case(ctx)
        self._record(self.ClosureOrdered, ctx, start_of_day(decided_on), decision_no=decision_no)

    class Blacklisted(Event):
        reason: str

    def blacklist(self, ctx: Context, reason: str, decided_on: date) -> None:
        self._require_open_case(ctx)
        require(bool(reason.strip()), "reason", "must not be empty", "INPUT")
        self._record(self.Blacklisted, ctx, start_of_day(decided_on), reason=reason)

    class CaseReferred(Event):
        referred_to: ReferralTarget
        persons: int

    def refer(self, ctx: Context, referred_to: ReferralTarget, persons: int,
              decided_on: date) -> None:
        self._require_open_case(ctx)
        require(persons >= 0, "persons", "must be a non-negative count", "INPUT")
        self._record(self.CaseReferred, ctx, start_of_day(decided_on), referred_to=referred_to,
                     persons=persons)

    class EnforcementCaseClosed(Event):
        pass

    def close(self, ctx: Context, decided_on: date) -> None:
        self._require_open_case(ctx)
        self._record(self.EnforcementCaseClosed, ctx, start_of_day(decided_on))

    @when.register
    def _(self, event: EnforcementCase.EnforcementCaseClosed) -> None:
        self.closed = True

    def _require_open_case(self, ctx: Context) -> None:
        require(not self.closed, "case_id", "the case is closed", "LIFECYCLE")
        ctx.require_jurisdiction("case_id", self.unit_code, self.sector)


class AccountabilityAction(ZhibaoAggregate):
    """One accountability act: an interview (约谈), a public exposure (曝光) or a step of
    the reminder ladder (一次提醒、两次督办、三次约谈)."""

    def __init__(self, unit_code: str) -> None:
        self.unit_code = unit_code

    class InterviewHeld(ZhibaoAggregate.Created):
        target_type: InterviewTarget
        target_name: str
        enterprise_id: UUID | None

    class PublicExposure(ZhibaoAggregate.Created):
        enterprise_id: UUID | None
        channel: str
        subject: str

    class AccountabilityReminderIssued(ZhibaoAggregate.Created):
        step: int
        addressee: str
        subject: str

    @classmethod
    def interview(cls, ctx: Context, action_id: UUID, unit_code: str,
                  target_type: InterviewTarget, target_name: str, enterprise_id: UUID | None,
                  held_on: date) -> AccountabilityAction:
        cls._require_authority(ctx, unit_code)
        require(bool(target_name.strip()), "target_name", "must not be empty", "INPUT")
        require(target_type is not InterviewTarget.ENTERPRISE or enterprise_id is not None,
                "enterprise_id", "an interview of an enterprise names it", "INPUT")
        return cls._start(cls.InterviewHeld, ctx, action_id, unit_code, start_of_day(held_on),
                          target_type=target_type, target_name=target_name,
                          enterprise_id=enterprise_id)

    @classmethod
    def expose(cls, ctx: Context, action_id: UUID, unit_code: str, enterprise_id: UUID | None,
               channel: str, subject: str, published_on: date) -> AccountabilityAction:
        cls._require_authority(ctx, unit_code)
        require(bool(subject.strip()), "subject", "must not be empty", "INPUT")
        return cls._start(cls.PublicExposure, ctx, action_id, unit_code,
                          start_of_day(published_on), enterprise_id=enterprise_id,
                          channel=channel, subject=subject)

    @classmethod
    def remind(cls, ctx: Context, action_id: UUID, unit_code: str, step: int, addressee: str,
               subject: str, issued_on: date) -> AccountabilityAction:
        cls._require_authority(ctx, unit_code)
        require(step in (1, 2, 3), "step", "the ladder has steps 1 (提醒), 2 (督办), 3 (约谈)",
                "INPUT")
        return cls._start(cls.AccountabilityReminderIssued, ctx, action_id, unit_code,
                          start_of_day(issued_on), step=step, addressee=addressee,
                          subject=subject)

    @staticmethod
    def _require_authority(ctx: Context, unit_code: str) -> None:
        ctx.require_jurisdiction("unit_code", unit_code)
