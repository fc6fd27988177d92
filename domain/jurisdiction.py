"""Jurisdiction is data (invariant 5): an org may act only inside its own unit's subtree
(village → itself; town → its villages; county → its towns …), a sector department only in
its sectors, an enterprise only at its own site."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain.base import OrgProfile, OrgType


def covers(org: OrgProfile, unit_path: Sequence[str], sector: str | None,
           enterprise_id: UUID | None) -> bool:
    """`unit_path` lists the target unit's code and its ancestors' codes, self first."""
    if org.org_type is OrgType.SYSTEM:
        return True
    if org.org_type is OrgType.ENTERPRISE:
        return enterprise_id == org.org_id
    if org.unit_code not in unit_path:
        return False
    return not (org.sectors and sector is not None and sector not in org.sectors)
