"""Bitemporal replay on both stores: every submission of the demo, regenerated from only the
events recorded up to its own cut-off, reproduces its SHA-256 exactly — first versions and
amendments, cut-offs that lie before events already stored — and bad input is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

from domain.base import SHANGHAI, DomainError, Level, micros
from infra.audit.as_of import Replay, parse_known_at, recorded_versions, submission_as_of
from infra.cli.main import main
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import Issuer
from infra.reporting.reporter import Reporter, open_views
from infra.store.log import notifications
from infra.store.records import event_payload, event_type
from projections.runner import records
from tests.conftest import FakeClock, open_app
from tests.support.ledger_world import Ledger, build_ledger, general_hazard


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def reported(demo_url: str, tmp_path: Path) -> Iterator[Zhibao]:
    """The January–April demo with submissions of every kind: the March cascade on 6 April
    (its cut-off lies before events of late April the store already holds), a county's
    draft for April on 20 April, and on 13 May a late March fact that gives the units above
    it a second version of March."""
    clock = FakeClock(shanghai("2021-04-06T10:00"))
    app = open_app(demo_url, clock)
    views = open_views(app)
    reporter = Reporter(app, views, tmp_path / "out")
    reporter.cascade("2021-03")
    clock.now = shanghai("2021-04-20T10:00")
    reporter.report("610902", "2021-04", draft=True)
    clock.now = shanghai("2021-05-13T09:00")
    village = _record_a_late_march_hazard(app)
    clock.now = shanghai("2021-05-13T10:00")
    for code in app.directory.path(village):  # the village first, up to the city
        if app.directory.unit("unit", code).level is not Level.PROVINCE:
            reporter.report(code, "2021-03")
    views.close()
    yield app
    app.close()


def _record_a_late_march_hazard(app: Zhibao) -> str:
    """A hazard found in March but recorded only now; returns the village it is in."""
    from domain.commands import parse_command

    reported = next(event_payload(n.state) for n in notifications(app.recorder)
                    if event_type(n.topic) == "HazardReported")
    app.execute(parse_command({
        "command": "ReportHazard", "enterprise_id": reported["enterprise_id"],
        "channel": reported["channel"], "discovered_at": "2021-03-30T16:00",
        "description": "补录：三月漏报的隐患", "category": reported["category"]}),
        Issuer(UUID(reported["actor"]["person_id"])))  # whoever reported the first one
    return str(reported["unit_code"])


def submissions(app: Zhibao) -> list[dict[str, Any]]:
    return sorted(({"unit_code": p["unit_code"], **p} for n in notifications(app.recorder)
                   if event_type(n.topic) in ("ReportSubmitted", "ReportAmended")
                   for p in [event_payload(n.state)]),
                  key=lambda p: p["cut_off"])


@pytest.mark.slow
def test_every_submission_is_reproduced_at_its_own_cut_off(reported: Zhibao) -> None:
    recorded = submissions(reported)
    assert len({s["unit_code"] for s in recorded if s["period"] == "2021-03"}) > 200
    assert {(s["version"], s["draft"]) for s in recorded} == {(1, False), (1, True), (2, False)}
    replay = Replay(reported)
    try:
        for submission in recorded:
            cut_off = datetime.fromisoformat(submission["cut_off"])
            if replay.known_at != cut_off:
                replay.advance(cut_off)
            again = replay.submission(submission["unit_code"], submission["period"],
                                      submission["draft"])
            assert again.sha256 == submission["sha256"], submission
    finally:
        replay.close()

    # a county knew version 1 of March on 6 April and version 2 on 13 May, though the store
    # held the late fact all along when version 1 was reproduced above
    county = next(s["unit_code"] for s in recorded if s["version"] == 2
                  and reported.directory.unit("unit", s["unit_code"]).level is Level.COUNTY)
    versions = recorded_versions(reported, county, "2021-03")
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].sha256 != versions[1].sha256
    assert versions[0].cut_off < versions[1].cut_off


# bad input, on the small world


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock, general=1)


@pytest.mark.parametrize("known_at, unit, period, field, code", [
    ("2021-03-01T08:59", "610902", "2021-03", "known_at", "REF"),  # before the first event
    ("2030-01-01T00:00", "610902", "2021-03", "known_at", "V2"),
    ("2021-03-05T12:00", "999999", "2021-03", "unit", "V8"),
    ("2021-03-05T12:00", "610902", "2021-13", "period", "V24"),
])
def test_bad_input_is_refused(app: Zhibao, ledger: Ledger, known_at: str, unit: str,
                              period: str, field: str, code: str) -> None:
    with pytest.raises(DomainError) as refused:
        submission_as_of(app, parse_known_at(known_at), unit, period)
    assert (refused.value.field, refused.value.code) == (field, code)


def test_a_malformed_moment_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        parse_known_at("yesterday")
    assert (refused.value.field, refused.value.code) == ("known_at", "INPUT")
    assert parse_known_at("2021-04-05T10:00:00+00:00").hour == 10


def test_as_of_command(app: Zhibao, ledger: Ledger, app_env: Path, clock: FakeClock,
                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock.now = shanghai("2021-04-06T10:00")
    reporter = Reporter(app, open_views(app), tmp_path / "out")
    done = reporter.report("610902", "2021-03")
    reporter.views.close()
    moment = shanghai("2021-04-06T10:00").isoformat()
    assert main(["audit", "as-of", "--known-at", moment, "--unit", "610902",
                 "--period", "2021-03"]) == 0
    out, err = capsys.readouterr()
    assert orjson.loads(out)["unit"]["code"] == "610902"
    err = " ".join(err.split())
    assert f"sha256 {done.sha256}" in err and "recorded version 1" in err
    assert "the same document" in err
    assert main(["audit", "as-of", "--known-at", "2021-02-01", "--unit", "610902",
                 "--period", "2021-03"]) == 2
    assert "known_at: 2021-02-01T00:00:00+08:00 is before the first event" in \
        " ".join(capsys.readouterr().err.split())


def test_a_replay_folds_each_event_once_though_recorded_time_is_out_of_log_order(
        app: Zhibao, ledger: Ledger, clock: FakeClock) -> None:
    """A long transaction commits after a later, shorter one: here the second report is
    stored after the first but recorded an hour before it."""
    clock.now = shanghai("2021-03-20T10:00")
    general_hazard(ledger.world, clock, "chem", 15, close=False)  # recorded at 10:00
    clock.now = shanghai("2021-03-20T09:00")
    general_hazard(ledger.world, clock, "shop", 16, close=False)  # stored later, at 09:00
    clock.now = shanghai("2021-03-20T11:00")
    general_hazard(ledger.world, clock, "chem", 17, close=False)
    every = records(notifications(app.recorder))
    replay = Replay(app)
    try:
        folded = [replay.advance(shanghai(moment)) for moment in
                  ("2021-03-20T09:30", "2021-03-20T10:30", "2021-03-20T12:00")]
    finally:
        replay.close()
    cut_offs = [micros(shanghai(m)) for m in ("2021-03-20T09:30", "2021-03-20T10:30")]
    assert folded[0] == sum(r.recorded_at <= cut_offs[0] for r in every)
    assert folded[1] == sum(cut_offs[0] < r.recorded_at <= cut_offs[1] for r in every) == 3
    assert sum(folded) == len(every)
