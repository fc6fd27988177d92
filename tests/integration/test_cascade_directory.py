"""The cascade records what only zhibao records, judged on the unit tree alone
(`Zhibao.on_unit_tree`): its process never folds the directory's orgs, persons and
enterprises — a province's 400,000 (issue 14). Its writes are still judged on the tree as
it is: one that another process changed meanwhile is refused as stale and judged again. A
person's own report is still judged on the whole directory."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest

from domain import commands as c
from domain.base import DomainError, Level
from domain.reports import submission_id
from infra.intake.pipeline import NotCarriedOut
from infra.intake.service import Zhibao
from infra.reporting.reporter import Reporter, open_period, open_views, sweep_overdue
from infra.store.records import event_payload
from infra.store.summary import events_by_type
from tests.conftest import FakeClock, open_app
from tests.support.builders import ADMIN
from tests.support.march_world import CITY, COUNTY, TOWN, March, at

VILLAGE = "610902101202"  # 二村, under TOWN


def test_the_cascade_folds_the_unit_tree_alone(march: March, app: Zhibao, clock: FakeClock,
                                               tmp_path: Path) -> None:
    at(clock, "2021-04-06T10:00")
    fresh = open_app(app.settings.database_url, clock, tmp_path / "out")  # a process apart
    views = open_views(fresh)
    try:
        done = Reporter(fresh, views).cascade("2021-03")
        assert fresh._directory is None  # never folded: what this test is about
        tree = fresh.on_unit_tree().directory
        assert (tree.orgs, tree.persons, tree.enterprises) == ({}, {}, {})
        assert {CITY, COUNTY, TOWN, VILLAGE} <= set(tree.codes)

        assert {d.level for d in done} == {Level.VILLAGE, Level.TOWN, Level.COUNTY, Level.CITY}
        for submitted in done:  # each recorded, as zhibao's own
            stored = fresh.recorder.select_events(submission_id(
                tree.codes[submitted.unit_code].unit_id, "2021-03"), limit=1)[0]
            assert event_payload(stored.state)["actor"]["person_id"] == "zhibao"

        reporter = Reporter(fresh, views)  # a person's report: judged on the whole directory
        with pytest.raises(DomainError, match="AUTH-ROLE"):
            reporter.report(TOWN, "2021-03", march.world.issuer("county_ema"))
        assert reporter.report(TOWN, "2021-03", march.world.issuer("town")).unchanged
        assert fresh._directory is not None and fresh._directory.persons
    finally:
        views.close()
        fresh.close()


def test_a_write_on_a_tree_changed_meanwhile_is_judged_again(
        march: March, app: Zhibao, clock: FakeClock) -> None:
    """Another process retires 二村 as of 20 March after the cascade's service folded the
    tree: a March submission for it, allowed on the tree as folded, is refused as stale when
    written, then judged again on the tree refreshed — and refused, the village having gone
    before the month ended."""
    at(clock, "2021-04-06T10:00")
    own = app.on_unit_tree()
    views = open_views(app)
    try:
        open_period(own, views, "2021-03")
    finally:
        views.close()
    own.directory.unit("unit_code", VILLAGE, date(2021, 3, 31))  # live, as folded
    march.world.do("RetireAdminUnit", ADMIN, code=VILLAGE, valid_from="2021-03-20")
    before = app.recorder.max_notification_id()
    content = c.SubmissionContentIn(cut_off=clock.now, view_position=0, sha256="0" * 64)
    with pytest.raises(DomainError, match="retired") as refused:
        own.record(c.SubmitReport(unit_code=VILLAGE, period="2021-03", content=content))
    assert refused.value.code == "V8"
    assert app.recorder.max_notification_id() == before


def test_what_needs_more_than_the_tree_is_not_carried_out_on_it(march: March,
                                                                 app: Zhibao) -> None:
    """A second bootstrap is refused on the whole directory (the store has persons); the
    unit tree alone could not tell, so the service judging on it does not carry it out."""
    bootstrap = c.Bootstrap(unit_code="610000", code_system="GB2260", level="province",
                            kind="省", unit_name="陕西省", org_id=uuid4(), org_name="安委办",
                            person_id=uuid4(), person_name="管理员")
    with pytest.raises(DomainError, match="already has persons"):
        app.record(bootstrap)
    before = app.recorder.max_notification_id()
    with pytest.raises(NotCarriedOut, match="Bootstrap"):
        app.on_unit_tree().record(bootstrap)
    with pytest.raises(NotCarriedOut, match="Bootstrap"):  # zhibao's batch path, a cascade's
        app.on_unit_tree().record_all([bootstrap])
    assert app.recorder.max_notification_id() == before


def test_the_overdue_sweep_folds_the_unit_tree_alone(march: March, app: Zhibao,
                                                     clock: FakeClock, tmp_path: Path) -> None:
    """The daily sweep records zhibao's own HazardBecameOverdue (H3 was due 15 April)
    without folding the directory's orgs, persons and enterprises."""
    at(clock, "2021-04-16T00:30")
    fresh = open_app(app.settings.database_url, clock, tmp_path / "out")  # a process apart
    views = open_views(fresh)
    try:
        assert sweep_overdue(fresh, views) == 1
        assert fresh._directory is None
        assert fresh.on_unit_tree().directory.persons == {}
        assert events_by_type(fresh.recorder)["HazardBecameOverdue"] == 1
    finally:
        views.close()
        fresh.close()
