"""What was known at a moment (bitemporal replay): a unit's submission rebuilt from only the
events recorded up to that moment — folded into a throwaway in-memory set of views by the
same fold as the live views, then assembled by the same assembler — so an auditor sees
exactly what the unit could have reported then, whatever was recorded afterwards, and a
recorded submission can be checked against its SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.base import SHANGHAI, DomainError, Level, micros
from domain.periods import Period
from domain.reports import period_bounds, submission_id
from infra.intake.service import Zhibao
from infra.store.log import first_from, log_range
from infra.store.records import event_payload
from projections.report import Assembled, Assembler
from projections.runner import project_records, records
from projections.store import ViewStore


def parse_known_at(text: str) -> datetime:
    """An ISO date-time; without an offset it is read in Asia/Shanghai."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError("known_at", f"{text!r} is not a date-time such as "
                                      "2021-04-05T18:00 or 2021-04-05T10:00:00+00:00",
                          "INPUT") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


class Replay:
    """Throwaway views holding only the events recorded up to `known_at`. It can be moved to
    a later moment: only the events recorded in between are folded then, so replaying many
    past moments in order costs about one fold of the log."""

    def __init__(self, app: Zhibao) -> None:
        self.app = app
        self.views = ViewStore.in_memory()
        self.known_at: datetime | None = None
        self._prefix = 0  # every position up to here is folded
        self._folded_beyond: set[int] = set()  # recorded early, stored after a later one
        self._major_only = tuple(Level(level) for level in app.settings.major_only_list_levels)
        self._assemblers: dict[str, Assembler] = {}  # by period, for the current moment

    def close(self) -> None:
        self.views.close()

    def advance(self, known_at: datetime) -> int:
        """Fold the events recorded after the current moment up to `known_at`; returns how
        many. Recorded time is not strictly in log order (a long transaction commits after
        a shorter, later one), so the whole rest of the log is looked at."""
        if self.known_at is not None and known_at < self.known_at:
            raise ValueError(f"a replay only moves forward ({known_at} < {self.known_at})")
        self.known_at = known_at
        self._assemblers.clear()
        folded, first_late, known = 0, None, micros(known_at)
        for page in log_range(self.app.recorder, self._prefix):
            fresh = records(n for n in page if n.id not in self._folded_beyond)
            due = [record for record in fresh if record.recorded_at <= known]
            if first_late is None:
                first_late = next((r.position for r in fresh if r.recorded_at > known), None)
            if first_late is None:
                self._prefix = page[-1].id
            else:
                self._folded_beyond.update(r.position for r in due if r.position > first_late)
            project_records(self.views, due)
            folded += len(due)
        if first_late is not None:
            self._prefix = max(self._prefix, first_late - 1)
        self._folded_beyond = {p for p in self._folded_beyond if p > self._prefix}
        return folded

    def submission(self, unit_code: str, period: str, draft: bool | None = None) -> Assembled:
        """The unit's submission for `period` as assembled at the current moment; a draft
        when the period had not ended by then, unless `draft` says otherwise."""
        assert self.known_at is not None, "advance() to a moment first"
        if draft is None:
            draft = self.known_at < period_bounds(period)[1]
        assembler = self._assemblers.get(period)
        if assembler is None:
            with self.views.snapshot() as tx:
                assembler = Assembler(tx, period, self.known_at, self._major_only)
            self._assemblers[period] = assembler
        return assembler.assemble(assembler.unit(unit_code), draft)


def submission_as_of(app: Zhibao, known_at: datetime, unit_code: str,
                     period: str) -> Assembled:
    """Validate, replay up to `known_at`, assemble. Bad input raises DomainError naming
    the field, before anything is folded."""
    Period.parse(period)
    app.refresh_directory()
    if unit_code not in app.directory.codes:
        raise DomainError("unit", f"no unit has the code {unit_code!r}", "V8")
    first = first_from(app.recorder)
    if first is None:
        raise DomainError("known_at", "the store is empty", "REF")
    first_recorded = datetime.fromisoformat(event_payload(first.state)["timestamp"])
    if known_at < first_recorded:
        raise DomainError("known_at", f"{known_at.isoformat()} is before the first event, "
                                      f"recorded at {first_recorded.isoformat()}", "REF")
    now = app.clock()
    if known_at > now + timedelta(seconds=app.settings.clock_skew_seconds):
        raise DomainError("known_at", f"{known_at.isoformat()} is in the future (it is "
                                      f"{now.isoformat()})", "V2")
    replay = Replay(app)
    try:
        replay.advance(known_at)
        return replay.submission(unit_code, period)
    finally:
        replay.close()


@dataclass(frozen=True)
class RecordedVersion:
    version: int
    cut_off: datetime
    sha256: str
    draft: bool


def recorded_versions(app: Zhibao, unit_code: str, period: str) -> list[RecordedVersion]:
    """The versions of the unit's submission for the period in the store, oldest first."""
    entry = app.directory.codes.get(unit_code)
    if entry is None:
        return []
    stored = app.recorder.select_events(submission_id(entry.unit_id, period))
    return [RecordedVersion(payload["version"], datetime.fromisoformat(payload["cut_off"]),
                            payload["sha256"], payload["draft"])
            for payload in (event_payload(record.state) for record in stored)]
