"""What one running front door holds: the application service, the credential table, the
guard and the views reader — and the one place requests apply commands, so the HTTP API
and the web forms run exactly what the command line runs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from domain.base import DomainError
from domain.commands import Command
from infra.http.auth import Gate
from infra.http.credentials import Credentials, Principal
from infra.http.group_commit import GroupCommit, Refused
from infra.http.problems import Problem, forbidden, from_domain
from infra.http.reads import Reader
from infra.intake.importer import numbered_commands
from infra.intake.parsing import command_from_json
from infra.intake.service import BatchResult, Rejection, Zhibao
from infra.intake.unit_of_work import Issuer, Outcome
from infra.reporting.reporter import Reporter, Submitted, open_views
from infra.settings import Settings


@dataclass
class Door:
    app: Zhibao
    credentials: Credentials
    gate: Gate
    reader: Reader
    writing: threading.Lock
    group: GroupCommit
    threads: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        40, "zhibao-request"))
    """Where single commands wait for their group's commit: plain executor threads, a
    cheaper hop than anyio's (as many as anyio allows, 40)."""

    @classmethod
    def open(cls, settings: Settings) -> Door:
        app = Zhibao(settings)
        app.directory  # noqa: B018 (folded now: the first request does not wait for it)
        writing = threading.Lock()
        credentials = Credentials(app, writing)
        return cls(app, credentials, Gate(credentials, settings),
                   Reader(app, open_views(app), threading.Lock()), writing,
                   GroupCommit(app, writing))

    def close(self) -> None:
        self.threads.shutdown()
        self.credentials.close()
        self.reader.views.close()
        self.app.close()

    @staticmethod
    def issuer(principal: Principal) -> Issuer:
        """The person the credential proves, for the org it proves them in."""
        return Issuer(principal.person_id, principal.org_id)

    def parse(self, raw: bytes, principal: Principal, idempotency_key: str | None) -> Command:
        """A body read as the command line reads its argument; the Idempotency-Key header
        is the command's id."""
        try:
            command = command_from_json(raw, self.app.settings.max_event_bytes)
            if idempotency_key is not None:
                if command.command_id not in (None, idempotency_key):
                    raise DomainError("command_id", "differs from the Idempotency-Key header; "
                                                    "send one of them, or both the same", "V11")
                command = command.model_copy(update={"command_id": idempotency_key})
        except DomainError as e:
            raise from_domain(e) from None
        self.require_scope(principal, command.command)
        return command

    @staticmethod
    def require_scope(principal: Principal, name: str) -> None:
        if not principal.may_issue(name):
            raise forbidden("command", f"this credential's scope does not include {name}",
                            "SCOPE")

    def execute(self, command: Command, principal: Principal) -> Outcome:
        """One request's command, written with those other requests sent meanwhile."""
        try:
            return self.group.execute(command, self.issuer(principal))
        except Refused as e:
            raise problem_of(e.rejection) from None

    def report(self, principal: Principal, code: str, period: str, draft: bool) -> Submitted:
        """A unit's submission assembled and recorded as `zhibao report` does, by one
        writer at a time (the API and the workspace both ask through here)."""
        with self.writing:
            return Reporter(self.app, self.reader.views).report(code, period,
                                                                self.issuer(principal), draft)

    def execute_lines(self, lines: list[bytes], principal: Principal
                      ) -> tuple[BatchResult, dict[int, str]]:
        """A JSONL batch, as `zhibao import` applies a file: lines outside the credential's
        scope are rejected before anything runs. Returns the result and each line's
        command name."""
        issuer = self.issuer(principal)
        names: dict[int, str] = {}
        numbered: list[tuple[int, Issuer, Any]] = []
        for line, item in numbered_commands(lines):
            if isinstance(item, Command):
                names[line] = item.command
                if not principal.may_issue(item.command):
                    item = DomainError("command", f"this credential may not issue "
                                                  f"{item.command}", "SCOPE")
            numbered.append((line, issuer, item))
        total = BatchResult()
        with self.writing:
            for result in self.app.execute_batch(numbered):
                total.merge(result)
        return total, names


def problem_of(rejection: Rejection) -> Problem:
    """A rejected line as the problem its error alone would have been."""
    if rejection.field == "conflict" and rejection.code == "V26":  # a ConflictError
        return Problem(409, "conflict", "command", rejection.rule)
    return from_domain(DomainError(rejection.field, rejection.rule, rejection.code))


def door_of(request: Request) -> Door:
    door: Door = request.app.state.door
    return door
