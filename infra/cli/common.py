"""What every subcommand shares: the console, the error a user can fix, opening the store
and the progress bar."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long
ERROR_LOG = "zhibao-errors.log"


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def open_app() -> Any:
    """The application on the configured store, or a one-line error naming what keeps the
    store's (or the views') database from being used and how to fix it."""
    from infra.intake.service import Zhibao
    from infra.settings import get_settings

    settings = get_settings()
    check_databases(settings.database_url, settings.views_url)
    return Zhibao()


def check_databases(*urls: str | None) -> None:
    from infra.store.databases import StoreUnavailable, check_database

    for url in filter(None, urls):
        try:
            check_database(url)
        except (StoreUnavailable, ValueError) as e:
            raise UserError(str(e)) from None


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
def add_actor_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", metavar="PERSON",
                        help="id of the registered person to act as (default: ZHIBAO_ACTOR)")


def acting_person(app: Any, args: argparse.Namespace) -> Any:
    """The registered person this run acts as (`--as`, else ZHIBAO_ACTOR), checked before
    anything is done: the command line is an entry point like any other."""
    from domain.base import DomainError
    from infra.intake.unit_of_work import Issuer

    if app.damage is not None:
        raise UserError(str(app.damage))
    given = args.actor or app.settings.actor
    if not given:
        raise UserError("actor: name the registered person to act as with --as PERSON or "
                        "ZHIBAO_ACTOR (AUTH-PERSON)")
    try:
        person_id = UUID(given)
    except ValueError:
        raise UserError(f"actor: {given!r} is not a person id (a UUID) (AUTH-PERSON)") from None
    try:
        app.directory.person(person_id)
    except DomainError as e:
        raise UserError(str(e)) from None
    return Issuer(person_id)


def log_details(error: BaseException) -> Path:
    """Append the traceback to the error log under the output directory (or, if that
    cannot be written, a temporary file)."""
    details = f"--- {datetime.now().astimezone().isoformat()} zhibao {' '.join(sys.argv[1:])}\n" \
              + "".join(traceback.format_exception(error))
    for directory in (_output_dir(), Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / ERROR_LOG
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                                 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8", errors="backslashreplace") as log:
                log.write(details)
            return path
        except OSError:
            continue
    return Path(os.devnull)


def _output_dir() -> Path:
    try:
        from infra.settings import get_settings

        return Path(get_settings().output_dir)
    except Exception:
        return Path(os.environ.get("ZHIBAO_OUTPUT_DIR", "zhibao-out"))
