"""Bulk import: a JSONL file of commands applied in batches through the application service.

Each line is one command, all issued by the one registered person the importer acts as (an
officer loading their records, a county system's integration account). A line that does
not parse, or that the domain rejects, is reported with its line number, field and rule
and written nowhere; the other lines of its batch are stored together in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from domain.base import DomainError
from domain.commands import Command, parse_command
from infra.intake.service import BatchResult, Zhibao
from infra.intake.unit_of_work import Issuer


def parse_json_command(raw: bytes) -> Command:
    """One command from its JSON text, as every entry point reads it (a line of a file, an
    HTTP body); DomainError naming the field and the rule otherwise."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise DomainError("line", f"not valid JSON: {e}") from None
    return parse_command(data)


def numbered_commands(lines: Iterable[bytes]) -> Iterator[tuple[int, Command | DomainError]]:
    """Numbered commands from JSONL lines; blank lines are skipped, bad ones become errors."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, parse_json_command(raw)
        except DomainError as e:
            yield number, e


def read_commands(path: Path) -> Iterator[tuple[int, Command | DomainError]]:
    """Numbered commands from a JSONL file."""
    with path.open("rb") as lines:
        yield from numbered_commands(lines)


def import_file(app: Zhibao, path: Path, issuer: Issuer,
                batch_size: int | None = None) -> Iterator[BatchResult]:
    """Apply the file as `issuer`, batch by batch, yielding each batch's result."""
    return app.execute_batch(((line, issuer, command) for line, command in read_commands(path)),
                             batch_size)
