"""The cascade holds the list rows of one county-level subtree at a time, so that its memory
grows with a county rather than with the province (issue 14), and still gives every unit the
document assembled from the whole tree's lists — a merged village's hazards in its
successor's county included."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import orjson
import pytest

from domain.base import Level
from infra.intake.service import Zhibao
from infra.reporting.reporter import CASCADE_LEVELS, Reporter, Submitted, catch_up
from projections.report import Assembler, Lists, Scope
from projections.stats import Window
from projections.store import Tx
from projections.tree import UnitTree
from tests.conftest import FakeClock
from tests.integration.test_unit_tree import OTHER_COUNTY, SUCCESSOR, recode_and_merge
from tests.support.march_world import CITY, COUNTY, TOWN, March, at, record_late_hazard

Read = tuple[Scope, set[str]]  # a scope read, and the units its rows belong to


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Read]:
    """Every scope whose list rows were read, with the units holding rows in it."""
    found: list[Read] = []
    original = Lists.read.__func__  # type: ignore[attr-defined]

    def read(cls: type[Lists], tx: Tx, window: Window, tree: UnitTree, scope: Scope) -> Lists:
        lists: Lists = original(cls, tx, window, tree, scope)
        found.append((scope, {unit for rows in (lists.hazards, lists.measures)
                              for unit, listed in rows.items() if listed}))
        return lists

    monkeypatch.setattr(Lists, "read", classmethod(read))
    return found


def from_whole_tree(reporter: Reporter, period: str, done: list[Submitted]) -> dict[str, str]:
    """Each unit's document assembled alone, from the lists of the whole tree, at the
    cut-off its version was assembled at."""
    catch_up(reporter.app, reporter.views)
    with reporter.views.snapshot() as tx:
        now = Assembler(tx, period, reporter.app.clock(), counted=False)
        at_cut_off: dict[datetime, Assembler] = {}
        hashes = {}
        for submitted in done:
            latest = now.latest(now.unit(submitted.unit_code))
            assert latest is not None
            if latest.cut_off not in at_cut_off:
                at_cut_off[latest.cut_off] = Assembler(tx, period, latest.cut_off,
                                                       reporter.major_only)
            assembler = at_cut_off[latest.cut_off]
            hashes[submitted.unit_code] = assembler.assemble(
                assembler.unit(submitted.unit_code), False).sha256
    return hashes


def hazard_list(submitted: Submitted) -> list[dict[str, Any]]:
    return orjson.loads(submitted.files[0].read_bytes())["hazard_list"]  # type: ignore[no-any-return]


def test_the_cascade_reads_one_county_at_a_time(
        march: March, reporter: Reporter, clock: FakeClock, reads: list[Read]) -> None:
    at(clock, "2021-04-06T10:00")
    done = reporter.cascade("2021-03")
    with reporter.views.snapshot() as tx:
        tree = Assembler(tx, "2021-03", clock.now, counted=False).tree
    counties = {u.unit_id for u in tree.at_level(Level.COUNTY)}
    city = tree.by_code(CITY)
    assert city is not None and len(counties) == 2
    assert {scope.root for scope, _ in reads} == counties | {city.unit_id}
    for scope, holding in reads:  # a county's rows, or the city's major and listed ones
        assert scope.root is not None and holding <= tree.subtree(scope.root)
        assert scope.major_only == (scope.root == city.unit_id)
    counted = Counter(scope for scope, _ in reads)  # once for its villages, towns and itself
    assert counted == {**{Scope(c): 1 for c in counties}, Scope(city.unit_id, True): 1}
    assert {s.level for s in done} == set(CASCADE_LEVELS)
    assert {s.unit_code: s.sha256 for s in done} == from_whole_tree(reporter, "2021-03", done)


def test_a_merged_villages_hazards_are_read_with_its_successors_county(
        app: Zhibao, clock: FakeClock, reporter: Reporter) -> None:
    hazards = recode_and_merge(app, clock)
    done = {s.unit_code: s for s in reporter.cascade("2021-06")}
    march = str(hazards["march"])
    assert [row["unit_code"] for row in hazard_list(done[SUCCESSOR])
            if row["hazard_id"] == march] == ["610902102201"]  # recorded under the old code
    assert march in {row["hazard_id"] for row in hazard_list(done[OTHER_COUNTY])}
    assert march not in {row["hazard_id"] for row in hazard_list(done["610999"])}
    assert {code: s.sha256 for code, s in done.items()} == from_whole_tree(
        reporter, "2021-06", list(done.values()))
    assert COUNTY not in done  # recoded: the county is 610999 at the period end


def test_a_fact_recorded_between_levels_has_the_lists_read_again(
        march: March, reporter: Reporter, clock: FakeClock, reads: list[Read]) -> None:
    """The rows kept from the villages' level stand only while the facts do: a late hazard
    recorded once the villages are done is in their town's and county's lists."""
    at(clock, "2021-04-06T10:00")
    recorded: list[Submitted] = []

    def late_hazard_after_the_villages(done: Submitted) -> None:
        if done.level is Level.VILLAGE and not recorded:  # the villages are all assembled
            recorded.append(done)
            record_late_hazard(march, clock, "2021-04-06T10:30")

    done = {s.unit_code: s for s in reporter.cascade("2021-03",
                                                    progress=late_hazard_after_the_villages)}
    late = str(march.hazards["H4"])
    listing = {code for code, s in done.items()
               if late in {row["hazard_id"] for row in hazard_list(s)}}
    assert listing == {TOWN, COUNTY}  # not its village, assembled before it was recorded,
    # nor the city, whose list has only major and listed hazards
    with reporter.views.snapshot() as tx:
        tree = Assembler(tx, "2021-03", clock.now, counted=False).tree
    city = tree.by_code(CITY)
    assert city is not None
    counted = Counter(scope for scope, _ in reads)  # for the villages, then for the rest
    assert counted == {**{Scope(u.unit_id): 2 for u in tree.at_level(Level.COUNTY)},
                       Scope(city.unit_id, True): 1}
