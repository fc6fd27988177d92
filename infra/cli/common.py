"""What every subcommand shares: the console, the error a user can fix, opening the store
and the progress bar."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def open_app() -> Any:
    from infra.intake.service import Zhibao

    return Zhibao()


def progress_bar(transient: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=transient)


def parse_period(text: str) -> str:
    """A reporting period as the user typed it — 2021-03, 2021-Q2 or 2021 — or a one-line
    error naming the field."""
    from domain.base import DomainError
    from domain.periods import Period

    try:
        return str(Period.parse(text))
    except DomainError as e:
        raise UserError(f"period: {e.rule}") from None
