"""The rules that need the directory (everything registered so far), so they cannot live in
one aggregate: uniqueness of codes and credit codes, where a fact about an enterprise
counts (V7), and what must already exist. Steps call these; they hold no rules of their
own."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain.base import DomainError
from domain.enterprises import EnterpriseRef
from infra.intake.directory import Directory


def require_unused_code(directory: Directory, field: str, code: str) -> None:
    """A unit code names one unit, ever: codes are never reused (V8)."""
    if code in directory.codes:
        raise DomainError(field, f"a unit with code {code} is already registered; codes are "
                                 "never reused", "V8")


def require_unused_uscc(directory: Directory, uscc: str) -> None:
    """One enterprise per unified social credit code."""
    if uscc in directory.usccs:
        raise DomainError("uscc", f"{uscc} is already registered to enterprise "
                                  f"{directory.usccs[uscc]}", "REF")


def place_of(directory: Directory, enterprise: EnterpriseRef | None, named: str | None,
             on: date) -> str:
    """The unit a fact counts under: an enterprise's own unit that day, which a command
    may repeat but never replace (V7); without an enterprise, the unit it names."""
    if enterprise is None:
        if named is None:
            raise DomainError("unit_code", "a fact without an enterprise names its place", "INPUT")
        return directory.unit("unit_code", named, on).code
    if named is not None and directory.unit("unit_code", named, on).unit_id != \
            directory.codes[enterprise.unit_code].unit_id:
        raise DomainError("unit_code", f"{named} is not where enterprise {enterprise.name} is "
                                       f"({enterprise.unit_code}): a fact about an enterprise "
                                       "counts at the enterprise's unit", "V7")
    return enterprise.unit_code


def require_org(directory: Directory, field: str, org_id: UUID | None) -> None:
    """An org a command names exists (an enterprise counts as its own org)."""
    if org_id is not None:
        directory.org(org_id, field)
