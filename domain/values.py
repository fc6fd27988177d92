"""Bounded values: every field a command carries has a bound that every later stage can
represent — SQLite and PostgreSQL integers, Avro longs and dates, Parquet int64, a
workbook's numbers, a Kafka message. A value outside its bound is refused at intake with
a `DomainError` naming the field and a rule code of `domain.rules.RULES`, so nothing
stored can poison the views, reports, stream or export afterwards (events are immutable:
there is no repair).

The bounds, in one place:
- money: integer fen, 0 ≤ fen ≤ `MAX_FEN` (100亿元), stated with its unit (V20);
- counts: integers 0 ≤ n ≤ `MAX_COUNT`; never booleans, never floats;
- texts: at most `MAX_TEXT` characters; lists: at most `MAX_ITEMS` items;
- business times and dates: not before 1949-10-01, and — judged when the command runs,
  against the system clock — not after now plus the allowed skew; deadlines and planned
  dates at most `DEADLINE_YEARS` ahead;
- codes: ASCII digits (and the capitals of local codes) only — a fullwidth ６ is not a 6;
- types strictly as JSON has them: booleans are true/false, date-times ISO 8601 text.

No I/O here: the clock arrives as an argument (`check_times`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache
from typing import Annotated, Any, TypeVar, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, PlainSerializer, Strict
from pydantic_core import PydanticCustomError

from domain.base import SHANGHAI, DomainError, business_date, start_of_day
from domain.money import FEN_PER_WAN_YUAN, FEN_PER_YUAN

MAX_FEN = 10**12
"""Largest amount of money: 100亿元 (10¹² fen), far above any fine, fund or penalty."""
MAX_COUNT = 1_000_000
"""Largest count (findings, hazards found, persons referred, a task's number)."""
MAX_TEXT = 4000
"""Longest text, in characters (a hazard's description, an opinion, a name)."""
MAX_ITEMS = 1000
"""Longest list (an inspection's targets, an org's sectors, a risk point's measures)."""
DEADLINE_YEARS = 10
"""How far ahead a deadline or a planned date may lie."""
EARLIEST = date(1949, 10, 1)
"""No business fact predates the People's Republic."""
LATEST = date(2200, 1, 1)
"""A static outer bound every stage represents; the clock narrows it (`check_times`)."""
EARLIEST_INSTANT = start_of_day(EARLIEST)
LATEST_INSTANT = start_of_day(LATEST)


def _refuse(code: str, message: str) -> PydanticCustomError:
    """A validation error whose type is the rule's code, so parsing can cite it."""
    return PydanticCustomError(code, message)


# -- when: ISO 8601 text only, inside the window ---------------------------------------------


class When(Enum):
    """How a business date or time relates to the clock, judged when the command runs."""

    PAST = "past"  # a fact that happened: not after now plus the skew (V2)
    AHEAD = "ahead"  # a deadline or a plan: at most DEADLINE_YEARS ahead


def _iso_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.isascii():
        raise _refuse("STRICT-TYPE", "a date-time is ISO 8601 text, e.g. 2021-03-05T10:20")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _refuse("STRICT-TYPE", f"{value!r} is not an ISO 8601 date-time") from None


def _in_window(value: datetime) -> datetime:
    """Asia/Shanghai time (naive input is read there, V24) between 1949-10-01 and 2200."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    try:
        value = value.astimezone(SHANGHAI)
    except OverflowError:
        raise _refuse("BOUND-TIME", f"{value.isoformat()} lies outside "
                                    f"{EARLIEST}–{LATEST}") from None
    if not EARLIEST_INSTANT <= value < LATEST_INSTANT:
        raise _refuse("BOUND-TIME", f"{value.isoformat()} lies outside {EARLIEST}–{LATEST}")
    return value


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.isascii():
        raise _refuse("STRICT-TYPE", "a date is ISO 8601 text, e.g. 2021-03-05")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _refuse("STRICT-TYPE", f"{value!r} is not an ISO 8601 date") from None


def _date_in_window(value: date) -> date:
    if not EARLIEST <= value < LATEST:
        raise _refuse("BOUND-TIME", f"{value.isoformat()} lies outside {EARLIEST}–{LATEST}")
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_instant), AfterValidator(_in_window),
                    When.PAST]
"""A business instant that happened: ISO 8601 text, naive read in Asia/Shanghai (V24)."""
Day = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_date_in_window), When.PAST]
"""A business date that happened (registered, decided, opened on)."""
Deadline = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_date_in_window),
                     When.AHEAD]
"""A deadline or a planned date: at most DEADLINE_YEARS ahead."""
AnyDay = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_date_in_window)]
"""A date only zhibao sets (a programme's start, a stock cut-off): inside the window."""

# -- numbers, flags, codes, lists ------------------------------------------------------------

Flag = Annotated[bool, Strict()]
"""A boolean is JSON true or false — never "yes", 1 or "true"."""
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
"""A count: a JSON integer, 0 to MAX_COUNT."""

_CODE = re.compile(r"[0-9A-Z]{6,12}")


def _ascii_code(value: str) -> str:
    if not _CODE.fullmatch(value):
        raise _refuse("V8", f"{value!r} is not a unit code: 6 to 12 ASCII digits (a local "
                            "code's last two may be capitals)")
    return value


UnitCode = Annotated[str, AfterValidator(_ascii_code)]
"""A unit's code as written: ASCII only, so a look-alike (６１０９…) is no code at all."""

T = TypeVar("T")
Items = Annotated[tuple[T, ...], Field(max_length=MAX_ITEMS)]
"""A list of at most MAX_ITEMS items."""

# -- money -------------------------------------------------------------------------------------

_MONEY_UNITS = {"分": 1, "fen": 1, "元": FEN_PER_YUAN, "yuan": FEN_PER_YUAN,
                "万元": FEN_PER_WAN_YUAN, "wan_yuan": FEN_PER_WAN_YUAN}
_AMOUNT = r"[0-9]+(?:\.[0-9]+)?"
_AMOUNT_DIGITS = 40
"""Digits an amount may be written with; more is beyond any bound, whatever they say."""
_MONEY_TEXT = re.compile(rf"\s*({_AMOUNT})\s*(万元|元|分)\s*")
_AMOUNT_TEXT = re.compile(rf"\s*-?{_AMOUNT}\s*")


def _amount(amount: Any) -> Decimal:
    """The number of a money value: ASCII digits as text, or a JSON number — finite."""
    if isinstance(amount, str) and _AMOUNT_TEXT.fullmatch(amount):
        if len(amount.strip()) > _AMOUNT_DIGITS:
            raise _refuse("BOUND-MONEY", f"an amount of {len(amount)} digits exceeds the "
                                         f"largest amount, {MAX_FEN // 100:,}元")
        return Decimal(amount.strip())
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        try:
            number = Decimal(str(amount))
        except InvalidOperation:
            number = Decimal("NaN")
        if number.is_finite():
            return number
    raise _refuse("V20", f"{amount!r} is not an amount (ASCII digits, e.g. \"1.5\")")


def parse_money(value: Any) -> int:
    """Money must state its unit (V20): {"amount": "1.5", "unit": "万元"} or "1.5万元";
    stored as integer fen, 0 to MAX_FEN."""
    if isinstance(value, dict) and set(value) == {"amount", "unit"}:
        amount, unit = value["amount"], value["unit"]
    elif isinstance(value, str) and (match := _MONEY_TEXT.fullmatch(value)):
        amount, unit = match[1], match[2]
    else:
        raise _refuse("V20", "money needs its unit: {\"amount\": \"1.5\", \"unit\": \"万元\"} "
                             "or \"1.5万元\" (units 分, 元, 万元)")
    if not isinstance(unit, str) or unit not in _MONEY_UNITS:
        raise _refuse("V20", f"unknown money unit {unit!r}; use 分, 元 or 万元")
    fen = _amount(amount) * _MONEY_UNITS[unit]
    if fen != fen.to_integral_value() or fen < 0:
        raise _refuse("V20", f"{amount}{unit} is not a non-negative whole number of fen")
    if fen > MAX_FEN:
        raise _refuse("BOUND-MONEY", f"{amount}{unit} exceeds the largest amount, "
                                     f"{MAX_FEN // 100:,}元")
    return int(fen)


MoneyFen = Annotated[int, BeforeValidator(parse_money),
                     PlainSerializer(lambda fen: {"amount": str(fen), "unit": "分"},
                                     when_used="json")]
"""Integer fen inside; written back out with its unit, so a dumped command parses again."""

# -- judged against the clock when the command runs ---------------------------------------------


@dataclass(frozen=True)
class _Timed:
    name: str
    when: When | None  # None: a nested model to look into
    nested: type[BaseModel] | None = None


@cache
def _timed_fields(model: type[BaseModel]) -> tuple[_Timed, ...]:
    """The fields of `model` (and of the models inside it) that the clock bounds."""
    found = []
    for name, info in model.model_fields.items():
        when = next((m for m in info.metadata if isinstance(m, When)), None) or \
            _when_of(info.annotation)
        if when is not None:
            found.append(_Timed(name, when))
            continue
        nested = _nested_model(info.annotation)
        if nested is not None and _timed_fields(nested):
            found.append(_Timed(name, None, nested))
    return tuple(found)


def _when_of(annotation: Any) -> When | None:
    """The clock bound of an optional value (`Instant | None`)."""
    for candidate in get_args(annotation):
        if get_origin(candidate) is Annotated:
            return next((m for m in candidate.__metadata__ if isinstance(m, When)), None)
    return None


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def check_times(command: BaseModel, now: datetime, skew: timedelta, path: str = "") -> None:
    """Refuse a business time after `now` + `skew` (V2) and a deadline more than
    DEADLINE_YEARS after `now` (BOUND-TIME), naming the field."""
    for timed in _timed_fields(type(command)):
        value = getattr(command, timed.name)
        field = f"{path}{timed.name}"
        for item in value if isinstance(value, tuple) else (value,):
            if item is None:
                continue
            if timed.nested is not None:
                check_times(item, now, skew, f"{field}.")
            elif timed.when is When.PAST:
                _not_after(field, item, now + skew)
            else:
                _not_beyond(field, item, now)


def _not_after(field: str, value: date | datetime, latest: datetime) -> None:
    late = value > latest if isinstance(value, datetime) else value > business_date(latest)
    if late:
        raise DomainError(field, f"{value.isoformat()} is in the future", "V2")


def _not_beyond(field: str, value: date, now: datetime) -> None:
    today = business_date(now)
    try:
        latest = today.replace(year=today.year + DEADLINE_YEARS)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + DEADLINE_YEARS, day=28)
    if value > latest:
        raise DomainError(field, f"{value.isoformat()} is more than {DEADLINE_YEARS} years "
                                 "ahead", "BOUND-TIME")
