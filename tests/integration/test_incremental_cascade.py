"""The cascade again: a unit's files and submission event are rewritten only when its
document changed, and a unit whose document cannot have changed is skipped without being
assembled (issue 14 §8)."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from infra.intake.service import Zhibao
from infra.reporting.render import Renderer
from infra.reporting.reporter import Reporter
from projections.report import Facts
from tests.conftest import FakeClock
from tests.support.march_world import TOWN, March, at, record_late_hazard

VILLAGE = "610902101202"
AMENDED = {VILLAGE, TOWN, "610902", "610900"}  # the late hazard's unit and its ancestors


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often the facts were counted (the expensive part of assembling)."""
    calls: list[int] = []
    original = Facts.count.__func__  # type: ignore[attr-defined]

    def count(cls: type[Facts], *args: object) -> Facts:
        calls.append(1)
        return original(cls, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(Facts, "count", classmethod(count))
    return calls


def stamps(reporter: Reporter) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns
            for path in (reporter.output_dir / "reports").rglob("*") if path.is_file()}


def events(app: Zhibao) -> int:
    return app.recorder.max_notification_id()


def test_a_second_cascade_rewrites_only_what_changed(
        march: March, reporter: Reporter, clock: FakeClock, app: Zhibao,
        counted: list[int]) -> None:
    at(clock, "2021-04-06T10:00")
    first = reporter.cascade("2021-03")
    assert len(counted) == 1  # once for all four levels: no fact recorded in between
    written = stamps(reporter)

    at(clock, "2021-04-07T10:00")
    before = events(app)
    again = reporter.cascade("2021-03")
    assert all(done.unchanged for done in again) and events(app) == before
    assert len(counted) == 1  # nothing was assembled
    assert stamps(reporter) == written

    # an April hazard cannot change March: still nothing to assemble
    at(clock, "2021-04-08T10:00")
    march.world.do("ReportHazard", "town", hazard_id=uuid4(),
                   enterprise_id=march.world.enterprises["shop"],
                   channel="supervisory_inspection", discovered_at="2021-04-08T09:00",
                   description="四月的隐患", category="unsafe_condition")
    before = events(app)
    assert all(done.unchanged for done in reporter.cascade("2021-03"))
    assert events(app) == before and len(counted) == 1

    # a late March hazard: its village, town, county and city are amended, nothing else
    record_late_hazard(march, clock)
    at(clock, "2021-04-09T10:00")
    before = events(app)
    third = {done.unit_code: done for done in reporter.cascade("2021-03")}
    assert {code for code, done in third.items() if not done.unchanged} == AMENDED
    assert all(third[code].version == 2 for code in AMENDED)
    assert events(app) == before + len(AMENDED)
    assert len(counted) == 2  # once more, for the amended units
    now = stamps(reporter)
    rewritten = {path for path in now if written.get(path) != now[path]}
    assert {path.parent.name for path in rewritten} == AMENDED
    assert {path.name for path in rewritten} == {"v2.json", "v2.xlsx", "v2.pdf",
                                                 "v2.diff.json", "v2.sha256"}
    assert len(first) == len(third)


def test_missing_files_of_an_unchanged_version_are_written_again(
        march: March, reporter: Reporter, clock: FakeClock, app: Zhibao) -> None:
    at(clock, "2021-04-06T10:00")
    first = {done.unit_code: done for done in reporter.cascade("2021-03")}
    town = first[TOWN]
    kept = {path.name: path.read_bytes() for path in town.files}
    for path in town.files:
        path.unlink()
    before = events(app)
    again = {done.unit_code: done for done in reporter.cascade("2021-03")}
    assert events(app) == before and again[TOWN].unchanged and again[TOWN].version == 1
    assert {path.name: path.read_bytes() for path in again[TOWN].files} == kept


def test_a_child_missing_at_its_deadline_changes_the_parent(
        march: March, reporter: Reporter, clock: FakeClock) -> None:
    """No fact changed, but a pending child became 漏报: the parent's document changed."""
    at(clock, "2021-04-02T10:00")  # before the villages' deadline (04-03)
    assert reporter.report(TOWN, "2021-03").version == 1
    assert reporter.report(TOWN, "2021-03").unchanged
    at(clock, "2021-04-04T10:00")
    again = reporter.report(TOWN, "2021-03")
    assert (again.version, again.unchanged, again.missing_children) == (
        2, False, ("610902101201", VILLAGE))


def test_a_periods_first_cascade_starts_its_workers_before_opening_the_period(
        march: March, reporter: Reporter, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening the period folds the unit tree's events, with one core idle: the first
    cascade, which renders every unit's form, starts the render workers first. A later one
    asks for none then: it may have nothing to render."""
    import infra.reporting.reporter as reporting

    seen: list[object] = []
    warm, opening = Renderer.warm, reporting.open_period

    def warming(renderer: Renderer, jobs: int) -> None:
        seen.append(jobs)
        warm(renderer, jobs)

    def open_period(*args: object) -> None:
        seen.append("open")
        opening(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(Renderer, "warm", warming)
    monkeypatch.setattr(reporting, "open_period", open_period)
    at(clock, "2021-04-06T10:00")
    first = reporter.cascade("2021-03")
    assert seen[1] == "open" and seen[0] >= len(first)  # (the views' units: those of later
    # periods too)

    seen.clear()
    at(clock, "2021-04-07T10:00")
    assert all(done.unchanged for done in reporter.cascade("2021-03"))
    assert seen == [0, "open"]  # and none once it found every unit unchanged
