"""Identifiers with rules of their own: administrative-division codes (GB/T 2260, NBS
12-digit statistical codes, local codes of development zones) and the unified social
credit code (统一社会信用代码, GB 32100). See DOMAIN.md §3."""

from __future__ import annotations

import re
from enum import StrEnum

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, ValidationError

from domain.base import DomainError, Level


class CodeSystem(StrEnum):
    GB2260 = "GB2260"  # 6-digit administrative division code, county and above
    NBS12 = "NBS12"  # 12-digit statistical division code, town and village
    LOCAL = "LOCAL"  # development zones / management bureaus without a GB/T 2260 code


_SIX_DIGITS = re.compile(r"[0-9]{6}")
_TWELVE_DIGITS = re.compile(r"[0-9]{12}")
_LOCAL = re.compile(r"[0-9]{4}[0-9A-Z]{2}")

_SYSTEMS_BY_LEVEL = {
    Level.PROVINCE: {CodeSystem.GB2260},
    Level.CITY: {CodeSystem.GB2260, CodeSystem.LOCAL},
    Level.COUNTY: {CodeSystem.GB2260, CodeSystem.LOCAL},
    Level.TOWN: {CodeSystem.NBS12},
    Level.VILLAGE: {CodeSystem.NBS12},
}


def validate_unit_code(code: str, code_system: CodeSystem, level: Level) -> None:
    """Reject a code that cannot be a `level` unit's code in `code_system` (V8).

    County-level DD ranges are conventions only (e.g. 110119), so they are not checked.
    """
    if code_system not in _SYSTEMS_BY_LEVEL[level]:
        allowed = ", ".join(sorted(_SYSTEMS_BY_LEVEL[level]))
        raise DomainError("code_system", f"a {level} unit uses {allowed}, not {code_system}", "V8")
    if code_system is CodeSystem.LOCAL:
        if not _LOCAL.fullmatch(code):
            raise DomainError("code", f"local code {code!r} must be 4 digits + 2 of [0-9A-Z]", "V8")
        return
    if code_system is CodeSystem.GB2260:
        _validate_gb2260(code, level)
    else:
        _validate_nbs12(code, level)


def _validate_gb2260(code: str, level: Level) -> None:
    if not _SIX_DIGITS.fullmatch(code):
        raise DomainError("code", f"GB/T 2260 code {code!r} must be exactly 6 digits", "V8")
    if level is Level.PROVINCE and code[2:] != "0000":
        raise DomainError("code", f"province code {code} must end in 0000", "V8")
    if level is Level.CITY and (code[4:] != "00" or code[2:4] == "00"):
        raise DomainError("code", f"city code {code} must be PPCC00 with CC ≠ 00", "V8")
    if level is Level.COUNTY and code[4:] == "00":
        raise DomainError("code", f"county code {code} must not end in 00", "V8")


def _validate_nbs12(code: str, level: Level) -> None:
    if not _TWELVE_DIGITS.fullmatch(code):
        raise DomainError("code", f"statistical code {code!r} must be exactly 12 digits", "V8")
    township, village = int(code[6:9]), int(code[9:])
    if not 1 <= township <= 599:
        raise DomainError("code", f"township segment {code[6:9]} of {code} must be 001–599", "V8")
    if level is Level.TOWN and village != 0:
        raise DomainError("code", f"town code {code} must end in 000", "V8")
    if level is Level.VILLAGE and not 1 <= village <= 599:
        raise DomainError("code", f"village segment {code[9:]} of {code} must be 001–599", "V8")


def prefix_mismatch(child_code: str, child_level: Level, parent_code: str) -> str | None:
    """A consistency warning, never a rejection: development zones and cities without a
    county level legitimately break the prefix convention (DOMAIN §3.2)."""
    expected = {Level.VILLAGE: 9, Level.TOWN: 6}.get(child_level)
    if expected is None or not parent_code.isdigit():
        return None
    if child_code[:expected] != parent_code[:expected]:
        return (
            f"code {child_code} does not start with its parent's {expected}-digit prefix "
            f"{parent_code[:expected]}"
        )
    return None


def validate_uscc(uscc: str) -> str:
    """Return the normalised 18-character unified social credit code or reject it."""
    try:
        return stdnum_uscc.validate(uscc)
    except InvalidChecksum:
        expected = stdnum_uscc.calc_check_digit(stdnum_uscc.compact(uscc)[:17])
        raise DomainError(
            "uscc", f"check character of {uscc} is wrong: expected {expected} (GB 32100)"
        , "INPUT") from None
    except ValidationError as e:
        raise DomainError("uscc", f"{uscc!r} is not a unified social credit code: {e}",
                          "INPUT") from None


def complete_uscc(first17: str) -> str:
    """Append the GB 32100 check character to the first 17 characters of a code."""
    return first17 + stdnum_uscc.calc_check_digit(first17)
