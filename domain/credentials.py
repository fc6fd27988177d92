"""Credentials (凭证): how a registered person or a system proves who it is at the front
door — a web password set through an invitation, an API token for an org's system, or the
province's single sign-on. The secret itself (a password or token hash) is never an event;
what is recorded is who could act, with what scope, from when until when, and each failed
sign-in, so an auditor sees who could act when.

Only zhibao records these (its front door and `zhibao credentials`), on its internal path.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, ZhibaoAggregate, require


class CredentialKind(StrEnum):
    INVITATION = "invitation"  # 邀请链接: one use, sets a password
    PASSWORD = "password"  # 登录密码 of a person, for the web workspace
    API_TOKEN = "api_token"  # 接口令牌 of an org's system


READ_ONLY = "read"
"""The scope of a token that may only read."""


class Credential(ZhibaoAggregate):
    def __init__(self, unit_code: str, kind: CredentialKind, person_id: UUID,
                 org_id: UUID, scope: tuple[str, ...], expires_at: datetime | None) -> None:
        self.unit_code = unit_code
        self.kind = kind
        self.person_id = person_id
        self.org_id = org_id
        self.scope = scope
        self.expires_at = expires_at
        self.revoked = False

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class CredentialIssued(ZhibaoAggregate.Created):
        kind: CredentialKind
        person_id: UUID
        org_id: UUID
        scope: tuple[str, ...]
        expires_at: datetime | None
        label: str

    @classmethod
    def issue(cls, ctx: Context, credential_id: UUID, unit_code: str, kind: CredentialKind,
              person_id: UUID, org_id: UUID, scope: tuple[str, ...],
              expires_at: datetime | None, label: str) -> Credential:
        """A person (or their org's system, acting as them) may sign in with it until it
        expires or is revoked; an API token says what it may do (`scope`)."""
        require(expires_at is None or expires_at > ctx.recorded_at, "expires_at",
                "must be in the future", "CREDENTIAL")
        require(kind is not CredentialKind.API_TOKEN or bool(scope), "scope",
                f"a token names the commands it may issue, or {READ_ONLY!r}", "CREDENTIAL")
        return cls._start(cls.CredentialIssued, ctx, credential_id, unit_code, ctx.recorded_at,
                          kind=kind, person_id=person_id, org_id=org_id, scope=scope,
                          expires_at=expires_at, label=label)

    class CredentialRevoked(Event):
        reason: str

    def revoke(self, ctx: Context, reason: str) -> None:
        require(not self.revoked, "credential_id", "was already revoked", "LIFECYCLE")
        require(bool(reason.strip()), "reason", "must say why", "INPUT")
        self._record(self.CredentialRevoked, ctx, reason=reason)

    @when.register
    def _(self, event: Credential.CredentialRevoked) -> None:
        self.revoked = True

    class SignInFailed(Event):
        reason: str  # never the secret tried
        source: str  # where the attempt came from (an address)

    def fail_sign_in(self, ctx: Context, reason: str, source: str) -> None:
        self._record(self.SignInFailed, ctx, reason=reason, source=source)
