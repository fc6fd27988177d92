"""Group commit (成组提交): commands from concurrent requests share one transaction."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from domain.commands import Command
from infra.intake.service import Rejection, Zhibao
from infra.intake.unit_of_work import Issuer, Outcome


class Refused(Exception):
    """The command's line was rejected: its field, rule and code, as `zhibao import`
    reports a line."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


@dataclass(eq=False)
class _Waiting:
    """A request's command, and once written what it came to."""

    command: Command
    issuer: Issuer
    outcome: Outcome | None = None
    failure: Exception | None = None
    done: bool = False


class GroupCommit:
    """Applies single commands from concurrent requests in shared transactions.

    Why: requests wait for the writer lock, and a command holds it mostly for its own
    transaction's commit (the profile of 16 clients on SQLite: four fifths of the time
    held), which one transaction of many commands pays once. While one writer commits, the
    commands of other requests queue here; the next writer takes all of them and applies
    them as `zhibao import` applies a file (`Zhibao.execute_batch`): one transaction, a
    refused command leaving no trace, a failed transaction replayed command by command —
    but judged, as one command alone is, on aggregates loaded afresh, since other processes
    write the same store. Each request then gets its own outcome or its own refusal — the
    same rules, errors and replays (V11) as alone — and only once its command is committed
    (or refused)."""

    def __init__(self, app: Zhibao, writing: threading.Lock) -> None:
        self.app = app
        self.writing = writing
        self.queued = threading.Lock()
        self.queue: list[_Waiting] = []

    def execute(self, command: Command, issuer: Issuer) -> Outcome:
        """The command's outcome once committed; its refusal raised as `Refused` (or
        what zhibao did not foresee, as raised)."""
        waiting = _Waiting(command, issuer)
        with self.queued:
            self.queue.append(waiting)
        with self.writing:  # the writer before may have written this command already
            if not waiting.done:
                self._write_queued()
        return _answer(waiting)

    def _write_queued(self) -> None:
        """Apply everything queued, as lines of one batch; called holding the writer
        lock, so each queued command is written before its request looks again."""
        with self.queued:
            group, self.queue = self.queue, []
        numbered = [(line, w.issuer, w.command) for line, w in enumerate(group, start=1)]
        try:
            for result in self.app.execute_batch(numbered, len(group), cached=False):
                for rejection in result.rejections:
                    group[rejection.line - 1].failure = rejection.error or Refused(rejection)
                for line, outcome in result.outcomes.items():
                    group[line - 1].outcome = outcome
        except Exception as e:  # the store failed: every request of the group says so
            for w in group:
                w.failure = e
        for w in group:
            w.done = True


def _answer(waiting: _Waiting) -> Outcome:
    if waiting.failure is not None:
        raise waiting.failure
    assert waiting.outcome is not None, "a written line has an outcome or a rejection"
    return waiting.outcome
