"""Bulk import: a JSONL file of commands applied in batches through the application service.

Each line is one command, all issued by the one registered person the importer acts as (an
officer loading their records, a county system's integration account). A line that does
not parse, or that the domain rejects, is reported with its line number, field and rule
and written nowhere; the other lines of its batch are stored together in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from domain.base import DomainError
from domain.commands import Command
from infra.intake.parsing import command_from_json
from infra.intake.service import BatchResult, Zhibao
from infra.intake.unit_of_work import Issuer
from infra.settings import get_settings


def numbered_commands(lines: Iterable[bytes], max_bytes: int | None = None,
                      ) -> Iterator[tuple[int, Command | DomainError]]:
    """Numbered commands from JSONL lines, as every entry point reads them (a file, an HTTP
    batch); blank lines are skipped, bad ones become errors. A line is at most `max_bytes`
    long (default ZHIBAO_MAX_EVENT_BYTES)."""
    max_bytes = max_bytes or get_settings().max_event_bytes
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, command_from_json(raw, max_bytes)
        except DomainError as e:
            yield number, e


def read_commands(path: Path, max_bytes: int | None = None,
                  ) -> Iterator[tuple[int, Command | DomainError]]:
    """Numbered commands from a JSONL file."""
    with path.open("rb") as lines:
        yield from numbered_commands(lines, max_bytes)


def import_file(app: Zhibao, path: Path, issuer: Issuer,
                batch_size: int | None = None) -> Iterator[BatchResult]:
    """Apply the file as `issuer`, batch by batch, yielding each batch's result."""
    commands = read_commands(path, app.settings.max_event_bytes)
    return app.execute_batch(((line, issuer, command) for line, command in commands), batch_size)
