"""Reading a command from the outside world: the one strict parser every entry point (the
command line, bulk import, the HTTP intake) hands its raw bytes to.

JSON is read as JSON says and nothing more: one object in UTF-8, no duplicate keys (which
a lenient parser resolves silently to the last), no NaN or Infinity, no unpaired
surrogate, and at most `ZHIBAO_MAX_EVENT_BYTES` long — a command larger than an event
may be cannot be recorded anyway. The object is then read by `domain.commands`, whose
value types (domain.values) hold every field to its bound.
"""

from __future__ import annotations

import json
from typing import Any

from domain.base import DomainError
from domain.commands import Command, parse_command


def command_from_json(raw: bytes | str, max_bytes: int) -> Command:
    """The command in `raw`, or a `DomainError` naming the field and the rule."""
    return parse_command(strict_json(raw, max_bytes))


def strict_json(raw: bytes | str, max_bytes: int) -> Any:
    """`raw` read as strict JSON (STRICT-JSON), at most `max_bytes` long (BOUND-EVENT)."""
    if isinstance(raw, str):
        try:
            raw = raw.encode()
        except UnicodeEncodeError:  # e.g. a command-line argument that was not UTF-8
            raise DomainError("command", "the command is not UTF-8 text", "STRICT-JSON") \
                from None
    if len(raw) > max_bytes:
        raise DomainError("command", f"{len(raw):,} bytes is more than a command may be "
                                     f"({max_bytes:,}, ZHIBAO_MAX_EVENT_BYTES)", "BOUND-EVENT")
    try:
        text = raw.decode()
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise DomainError("command", "the command is not UTF-8 text", "STRICT-JSON") from None
    except json.JSONDecodeError as e:
        raise DomainError("command", f"not valid JSON: {e}", "STRICT-JSON") from None
    if "\\u" in text:
        _refuse_lone_surrogates(data)
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise DomainError(twice, "the key appears twice in one object", "STRICT-JSON")
    return data


def _no_constant(name: str) -> Any:
    raise DomainError("command", f"{name} is not a JSON number", "STRICT-JSON")


def _refuse_lone_surrogates(value: Any, field: str = "command") -> None:
    """An escaped half of a surrogate pair (\\ud800) is no character: nothing can store it."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise DomainError(field, "the text holds an unpaired surrogate (\\ud800–\\udfff)",
                              "STRICT-JSON") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_lone_surrogates(key, field)
            _refuse_lone_surrogates(item, key)
    elif isinstance(value, list):
        for item in value:
            _refuse_lone_surrogates(item, field)
