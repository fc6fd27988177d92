"""The `zhibao` command line.

Each feature module contributes its subcommands through a `register(subparsers)` function.
Heavy libraries (Prefect, Kafka, Arrow) are imported inside the subcommand that needs them,
so `zhibao --help` stays fast.

No traceback ever reaches the user. What the user can fix — a rejected command, a bad
option, a missing file — is one line naming the field or option and the rule, exit status 2
(`USER_ERROR`). Anything else is zhibao's fault: a short message saying where the details
were logged (`zhibao-errors.log` under the output directory, `ERROR_LOG`), exit status 3
(`INTERNAL_ERROR`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from domain.base import DomainError
from infra.cli import audit_export, core, flows, http, kafka, ops, reporting
from infra.cli.common import UserError, console, log_details
from infra.settings import MissingResource
from infra.store.records import DamagedRecord

FEATURES = (core, reporting, flows, audit_export, kafka, http, ops)
USER_ERROR = 2
INTERNAL_ERROR = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zhibao",
        description="直报 — event-sourced work-safety reporting: record, project, report.",
    )
    parser.add_argument("--database-url", metavar="URL",
                        help="event store and views (overrides ZHIBAO_DATABASE_URL)")
    subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for feature in FEATURES:
        feature.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        _require_utf8(arguments)
        args = build_parser().parse_args(arguments)
        if args.database_url:
            os.environ["ZHIBAO_DATABASE_URL"] = args.database_url
        return int(args.run(args) or 0)
    except UserError as e:
        return _user_error(str(e))
    except DomainError as e:
        return _user_error(f"rejected, nothing written — {e}")
    except (DamagedRecord, MissingResource) as e:
        return _user_error(str(e))
    except ValidationError as e:
        if e.title != "Settings":
            return _internal_error(e)
        error = e.errors(include_url=False)[0]
        where = "ZHIBAO_" + "_".join(str(part) for part in error["loc"]).upper()
        return _user_error(f"{where if error['loc'] else 'settings'}: "
                           f"{error['msg'].removeprefix('Value error, ')}")
    except OSError as e:
        if e.filename is None:
            return _internal_error(e)
        return _user_error(f"{e.filename}: {e.strerror or e}")
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except SystemExit as e:  # argparse: usage printed, status 2; --help: 0
        return e.code if isinstance(e.code, int) else USER_ERROR
    except Exception as e:
        return _internal_error(e)


def _require_utf8(arguments: list[str]) -> None:
    """An argument that was not UTF-8 (its bytes kept as surrogates) is refused by its
    position: nothing could print, store or compare it."""
    for position, argument in enumerate(arguments, start=1):
        try:
            argument.encode()
        except UnicodeEncodeError:
            raise UserError(f"argument {position}: not UTF-8 text") from None


def _user_error(message: str) -> int:
    console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False,
                  soft_wrap=True)
    return USER_ERROR


def _internal_error(error: BaseException) -> int:
    """Log the details, say where, exit INTERNAL_ERROR."""
    where = log_details(error)
    summary = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    console.print(f"[bold red]internal error[/] ({summary}); this is zhibao's fault, not "
                  f"yours — details in {where}", highlight=False, soft_wrap=True)
    return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
