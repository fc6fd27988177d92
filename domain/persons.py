"""Registered persons (经办人): who acts in zhibao. A person belongs to exactly one org (a
body, or an enterprise acting for itself) and holds roles there; every command is done by
one of them, under one of their roles (see `domain.authority`).

Persons and their roles are administered by an administrator of their own org or of a
territorial body whose territory covers it — never by themselves.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.authority import ROLE_ORGS, Role, may_hold, oversees
from domain.base import Context, DomainError, OrgProfile, ZhibaoAggregate, require


def parse_role(field: str, value: str) -> Role:
    """A role is one of the enumeration, never free text (AUTH-ROLE)."""
    try:
        return Role(value)
    except ValueError:
        raise DomainError(field, f"{value!r} is not a role; roles are "
                                 f"{', '.join(Role)}", "AUTH-ROLE") from None


class Person(ZhibaoAggregate):
    def __init__(self, unit_code: str, name: str, org_id: UUID) -> None:
        self.unit_code = unit_code
        self.name = name
        self.org_id = org_id
        self.roles: set[Role] = set()
        self.active = True

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class PersonRegistered(ZhibaoAggregate.Created):
        name: str
        org_id: UUID

    @classmethod
    def register(cls, ctx: Context, person_id: UUID, name: str, org: OrgProfile,
                 roles: tuple[Role, ...]) -> Person:
        """A person joins `org`, with the roles they start with."""
        require(bool(name.strip()), "name", "must not be empty", "INPUT")
        _require_administrator(ctx, org)
        person = cls._start(cls.PersonRegistered, ctx, person_id, org.unit_code,
                            ctx.recorded_at, name=name, org_id=org.org_id)
        for role in dict.fromkeys(roles):
            person.grant_role(ctx, org, role)
        return person

    class RoleGranted(Event):
        role: Role

    def grant_role(self, ctx: Context, org: OrgProfile, role: Role) -> None:
        self._require_administered_by(ctx, org)
        require(self.active, "person_id", f"{self.name} was deactivated", "LIFECYCLE")
        require(role not in self.roles, "role", f"{self.name} already holds {role}", "LIFECYCLE")
        require(may_hold(role, org.org_type), "role",
                f"a {role} is held in a {' or '.join(sorted(ROLE_ORGS[role]))}, not in a "
                f"{org.org_type}", "AUTH-ROLE")
        self._record(self.RoleGranted, ctx, role=role)

    @when.register
    def _(self, event: Person.RoleGranted) -> None:
        self.roles.add(event.role)

    class RoleRevoked(Event):
        role: Role

    def revoke_role(self, ctx: Context, org: OrgProfile, role: Role) -> None:
        self._require_administered_by(ctx, org)
        require(role in self.roles, "role", f"{self.name} does not hold {role}", "LIFECYCLE")
        self._record(self.RoleRevoked, ctx, role=role)

    @when.register
    def _(self, event: Person.RoleRevoked) -> None:
        self.roles.discard(event.role)

    class PersonDeactivated(Event):
        reason: str

    def deactivate(self, ctx: Context, org: OrgProfile, reason: str) -> None:
        """The person leaves (离岗): they keep their history but act no more."""
        self._require_administered_by(ctx, org)
        require(self.active, "person_id", f"{self.name} was already deactivated", "LIFECYCLE")
        require(bool(reason.strip()), "reason", "must say why", "INPUT")
        self._record(self.PersonDeactivated, ctx, reason=reason)

    @when.register
    def _(self, event: Person.PersonDeactivated) -> None:
        self.active = False
        self.roles.clear()

    def _require_administered_by(self, ctx: Context, org: OrgProfile) -> None:
        require(ctx.actor.person_id != str(self.id), "person_id",
                "no one administers their own roles", "AUTH-GRANT")
        _require_administrator(ctx, org)


def _require_administrator(ctx: Context, org: OrgProfile) -> None:
    """An administrator of `org` itself or of a territorial body covering it (AUTH-GRANT)."""
    enterprise_id = org.org_id if org.level is None else None
    require(oversees(ctx.org, org) and (ctx.org.org_id == org.org_id or ctx.covers(
        org.unit_code, None, enterprise_id)), "org_id",
        f"org {ctx.org.org_id} does not administer the persons of org {org.org_id}: that is "
        "for the org itself or a territorial body covering it", "AUTH-GRANT")
