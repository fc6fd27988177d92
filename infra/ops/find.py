"""`zhibao find`: the ids a command needs, looked up by name or code — units (by code or
name), orgs, persons and enterprises (by name, USCC or the start of the id) — from the
directory the application keeps of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from infra.intake.directory import Directory

KINDS = ("unit", "org", "person", "enterprise")


@dataclass(frozen=True)
class Found:
    kind: str
    id: str
    code: str  # a unit's code, an enterprise's USCC, an org's or person's role(s)
    name: str
    where: str  # the unit it belongs to (code and name), or a person's org


def find(directory: Directory, text: str, kinds: tuple[str, ...] = KINDS) -> list[Found]:
    """Everything whose name contains `text`, whose code or USCC starts with it, or whose
    id starts with it (case-insensitive), units first, each kind by code or name."""
    needle = text.strip().lower()
    if not needle:
        return []
    found = [entry for entry in _entries(directory, kinds)
             if needle in entry.name.lower() or entry.code.lower().startswith(needle)
             or entry.id.startswith(needle)]
    return sorted(found, key=lambda f: (KINDS.index(f.kind), f.code, f.name))


def _entries(directory: Directory, kinds: tuple[str, ...]) -> Iterator[Found]:
    units = directory.units

    def unit_of(unit_id: object) -> str:
        unit = units.get(unit_id)  # type: ignore[call-overload]
        return f"{unit.code} {unit.name}" if unit else ""

    if "unit" in kinds:
        for unit in units.values():
            parent = unit_of(unit.parent_id) if unit.parent_id else ""
            yield Found("unit", str(unit.unit_id), unit.code, unit.name,
                        f"{unit.level.value}{' in ' + parent if parent else ''}")
    if "org" in kinds:
        for org in directory.orgs.values():
            yield Found("org", str(org.org_id), org.org_type.value, org.name,
                        unit_of(org.unit_id))
    if "person" in kinds:
        for person in directory.persons.values():
            org = directory.orgs.get(person.org_id)
            enterprise = directory.enterprises.get(person.org_id)
            yield Found("person", str(person.person_id),
                        ",".join(role.value for role in person.roles), person.name,
                        org.name if org else enterprise.name if enterprise else "")
    if "enterprise" in kinds:
        for enterprise in directory.enterprises.values():
            yield Found("enterprise", str(enterprise.enterprise_id), enterprise.uscc,
                        enterprise.name, unit_of(enterprise.unit_id))
