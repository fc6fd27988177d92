"""Submissions (一报表两清单) on both stores, figure by figure against a month worked out by
hand: stock figures at the period end with the deadline then in force, rates recomputed at
every level, the lists and their tags, versions with differences, reproduction from only
the events known at the cut-off, the workbook read back, and bad input refused with
nothing written."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from openpyxl import load_workbook

from domain import commands as c
from domain.base import DomainError, micros
from domain.reports import submission_id
from infra.cli.main import main
from infra.intake.service import Zhibao
from infra.reporting.reporter import Reporter, catch_up
from infra.store.records import event_payload
from projections.report import Assembler
from projections.runner import project_records, records
from projections.store import ViewStore
from tests.conftest import FakeClock
from tests.support.march_world import (
    CITY,
    COUNTY,
    CUT_OFF_1,
    OTHER_COUNTY,
    TOWN,
    March,
    at,
    figures,
    file,
    read,
    record_late_hazard,
)


def test_march_figures_worked_out_by_hand(march: March, reporter: Reporter,
                                          clock: FakeClock) -> None:
    at(clock, "2021-04-03T10:00")
    town = figures(read(reporter.report(TOWN, "2021-03").files[0]))
    assert {code: town[code]["month"] for code in ("B1", "B2", "B2c", "B1c", "B3", "C1", "C4",
                                                   "C4.county", "A1", "A2", "A4n", "A5",
                                                   "A6", "A7", "D1", "D2", "D3")} == {
        "B1": 3, "B2": 2, "B2c": 1, "B1c": 1, "B3": 2, "C1": 1, "C4": 1, "C4.county": 1,
        "A1": 2, "A2": 1, "A4n": 1, "A5": 2, "A6": 3, "A7": 1, "D1": 1, "D2": 1,
        "D3": 2_000_000}
    assert (town["B2r"], town["B4"]["month"], town["A3"], town["A4"]) == (
        {"month": "50.00", "cumulative": "50.00"}, "33.33", {"month": "50.00"},
        {"month": "100.00"})
    # H2's deadline at the end of March is 03-25: the extension decided on 04-02 does not
    # reach back into March. H3 (due 04-15) is open, listed and stock (存量), not yet overdue.
    assert {code: town[code]["at_end"] for code in ("B6", "B7", "C3", "C4e", "C6")} == {
        "B6": 2, "B7": 1, "C3": 0, "C4e": 1, "C6": 1}
    assert town["C8"] == {"month": None}


def test_rates_are_recomputed_at_every_level_never_averaged(
        march: March, reporter: Reporter, clock: FakeClock) -> None:
    at(clock, "2021-04-03T10:00")
    rates = {code: figures(read(reporter.report(code, "2021-03").files[0]))["B4"]["month"]
             for code in (COUNTY, OTHER_COUNTY, CITY)}
    assert rates == {COUNTY: "33.33", OTHER_COUNTY: "100.00", CITY: "50.00"}  # 2 of 4, not 66.67
    city = figures(read(reporter.report(CITY, "2021-03").files[0]))
    assert (city["B1"]["month"], city["A1"]["month"], city["A2"]["month"]) == (4, 3, 2)
    assert (city["A3"]["month"], city["A4"]["month"]) == ("66.67", "50.00")


def test_a_later_period_uses_the_deadline_then_in_force(march: March, reporter: Reporter,
                                                         clock: FakeClock) -> None:
    record_late_hazard(march, clock)
    at(clock, "2021-05-03T10:00")
    april = figures(read(reporter.report(TOWN, "2021-04").files[0]))
    # H2 now runs to 04-30 (not overdue on the 30th); H3 passed 04-15; H4 is open, unconfirmed
    assert (april["B7"]["at_end"], april["C3"]["at_end"], april["B6"]["at_end"]) == (1, 1, 3)
    assert (april["B1"]["month"], april["B1"]["cumulative"]) == (0, 4)


def test_the_hazard_list_rows_and_tags(march: March, reporter: Reporter,
                                       clock: FakeClock) -> None:
    record_late_hazard(march, clock)
    at(clock, "2021-05-03T10:00")
    rows = {row["description"]: row for row in
            read(reporter.report(TOWN, "2021-04").files[0])["hazard_list"]}
    assert set(rows) == {"H2", "H3", "H4"}  # H1 closed in March, H5 void, H6 elsewhere
    assert {name: row["tag"] for name, row in rows.items()} == {
        "H2": "carried_over", "H3": "carried_over", "H4": "carried_over"}
    assert rows["H3"]["overdue"] and rows["H3"]["listed"] and rows["H3"]["grade"] == "major"
    assert rows["H2"]["deadline"] == "2021-04-30" and not rows["H2"]["overdue"]
    assert rows["H4"]["state"] == "reported" and rows["H4"]["location"].endswith(
        "610902101202")
    march_rows = {row["description"]: row for row in read(reporter.report(
        TOWN, "2021-03").files[0])["hazard_list"]}
    assert {name: row["tag"] for name, row in march_rows.items()} == {
        "H1": "closed_this_period", "H2": "new", "H3": "new", "H4": "new"}
    assert march_rows["H1"]["closed_on"] == "2021-03-16"
    city = read(reporter.report(CITY, "2021-04").files[0])
    assert city["hazard_list_scope"] == "major_and_listed"
    assert [row["description"] for row in city["hazard_list"]] == ["H3"]


def test_a_late_event_gives_version_2_with_its_differences(
        march: March, reporter: Reporter, clock: FakeClock, app: Zhibao) -> None:
    at(clock, "2021-04-03T10:00")
    first = reporter.report(TOWN, "2021-03")
    assert (first.version, first.unchanged, first.late) == (1, False, False)
    v1_bytes = first.files[0].read_bytes()

    at(clock, "2021-04-03T20:00")
    again = reporter.report(TOWN, "2021-03")  # nothing new: no new version
    assert (again.version, again.unchanged, again.sha256) == (1, True, first.sha256)

    record_late_hazard(march, clock)
    at(clock, "2021-04-06T10:00")
    second = reporter.report(TOWN, "2021-03")
    assert (second.version, second.unchanged, second.late) == (2, False, True)  # town: 04-05
    assert first.files[0].read_bytes() == v1_bytes  # never overwritten
    diff = read(file(second, ".diff.json"))
    assert diff["supersedes"] == first.sha256
    changed = {(f["code"], f["column"]): (f["old"], f["new"]) for f in diff["figures"]}
    assert changed[("B1", "month")] == (3, 4)  # numbers as numbers, rates too:
    assert changed[("B4", "month")] == (33.33, 25) and b'"25.00"' not in file(
        second, ".diff.json").read_bytes() and b'"new": 25.00' in file(
        second, ".diff.json").read_bytes()
    assert {r["list"]: (r["added"], r["removed"]) for r in diff["rows"]}["hazard_list"] == (1, 0)
    town_id = app.directory.unit("unit_code", TOWN).unit_id
    stored = app.repository.get(submission_id(town_id, "2021-03"))
    assert (stored.version, stored.sha256) == (2, second.sha256)


def test_same_inputs_give_byte_identical_json_and_a_past_version_is_reproduced(
        march: March, reporter: Reporter, clock: FakeClock, app: Zhibao) -> None:
    at(clock, "2021-04-03T10:00")
    first = reporter.report(TOWN, "2021-03")
    record_late_hazard(march, clock)
    at(clock, "2021-04-06T10:00")
    reporter.report(TOWN, "2021-03")

    # What issue 5's `audit as-of` does: fold only the events recorded by the cut-off into a
    # throwaway database, assemble there, and get version 1's bytes back.
    known = [r for r in records(app.recorder.select_notifications(start=1, limit=100_000))
             if r.recorded_at <= micros(CUT_OFF_1)]
    assert len(known) < app.recorder.max_notification_id()
    throwaway = ViewStore.in_memory()
    project_records(throwaway, known)
    with throwaway.snapshot() as tx:
        assembler = Assembler(tx, "2021-03", CUT_OFF_1, reporter.major_only)
        again = assembler.assemble(assembler.unit(TOWN), draft=False)
    assert again.canonical == first.files[0].read_bytes()
    assert again.sha256 == first.sha256
    throwaway.close()

    # and the live views, rebuilt from zero, assemble the same bytes at that cut-off
    reporter.views.reset()
    catch_up(app, reporter.views)
    with reporter.views.snapshot() as tx:
        rebuilt = Assembler(tx, "2021-03", CUT_OFF_1, reporter.major_only)
        assert rebuilt.assemble(rebuilt.unit(TOWN), False).canonical == again.canonical


@pytest.mark.parametrize("code, period, by, field, rule", [
    ("610999", "2021-03", None, "unit_code", None),  # no such unit
    (TOWN, "2021-04", None, "period", "V16"),  # April has not ended on 04-03
    (TOWN, "2021-03", "other_town", "actor", "V16"),  # another town's office
    (TOWN, "2021-03", "county_gov", "actor", "V16"),  # not even its county submits for it
    (TOWN, "2021-03", "county_ema", "actor", "AUTH-ROLE"),  # a regulator submits for none
    (TOWN, "2021-03", "chem", "actor", "AUTH-ROLE"),  # nor does an enterprise
])
def test_bad_input_is_refused_and_nothing_written(
        march: March, reporter: Reporter, clock: FakeClock, app: Zhibao, code: str,
        period: str, by: str | None, field: str, rule: str | None) -> None:
    at(clock, "2021-04-03T10:00")
    before = app.recorder.max_notification_id()
    with pytest.raises(DomainError) as refused:
        if by is None:
            reporter.report(code, period)
        else:
            reporter.report(code, period, march.world.issuer(by))
    assert refused.value.field == field
    assert rule is None or f"({rule})" in str(refused.value)
    assert app.recorder.max_notification_id() == before
    assert not reporter.output_dir.exists()


def test_a_second_submission_of_a_period_is_refused_and_nothing_written(
        march: March, reporter: Reporter, clock: FakeClock, app: Zhibao) -> None:
    """A unit submits a period once; a correction is an AmendReport. The submission's id is
    not read before it is written: the store's unique key refuses one already stored, and
    the batch's own aggregate one submitted twice in it."""
    at(clock, "2021-04-03T10:00")
    reporter.report(TOWN, "2021-03")
    content = c.SubmissionContentIn(cut_off=clock.now, view_position=0, sha256="0" * 64)
    again = c.SubmitReport(unit_code=TOWN, period="2021-03", content=content)
    twice = c.SubmitReport(unit_code=COUNTY, period="2021-03", content=content)
    before = app.recorder.max_notification_id()
    for commands in ([again], [twice, twice]):
        with pytest.raises(DomainError, match="already submitted 2021-03") as refused:
            app.record_all(commands)
        assert refused.value.code == "LIFECYCLE"
    written = app.recorder.select_notifications(before + 1, 10)  # (a refused write may
    assert len(written) == 1  # use positions up on PostgreSQL): the county's first, alone
    assert written[0].originator_id == submission_id(_unit_id(app, COUNTY), "2021-03")
    assert len(app.recorder.select_events(submission_id(_unit_id(app, TOWN), "2021-03"))) == 1


def test_a_draft_for_a_running_period_is_marked(march: March, reporter: Reporter,
                                                clock: FakeClock) -> None:
    at(clock, "2021-04-03T10:00")
    done = reporter.report(TOWN, "2021-04", draft=True)
    assert done.draft and done.files[0].name == "v1-draft.json"
    assert read(done.files[0])["draft"] is True
    assert load_workbook(file(done, ".xlsx")).properties.title.endswith("（草稿）")


def test_a_town_office_submits_its_own_report(march: March, reporter: Reporter,
                                              clock: FakeClock, app: Zhibao) -> None:
    """The town's officer asks; zhibao assembles, hashes and records it as theirs."""
    at(clock, "2021-04-03T10:00")
    done = reporter.report(TOWN, "2021-03", march.world.issuer("town"))
    assert done.version == 1
    stored = app.recorder.select_events(submission_id(app.directory.unit(
        "unit_code", TOWN).unit_id, "2021-03"), limit=1)[0]
    assert event_payload(stored.state)["actor"] == {
        "person_id": str(march.world.persons["town"]), "org_id": str(march.world.orgs["town"]),
        "role": "town_officer"}


def test_missing_children_are_flagged_and_still_counted(
        march: March, reporter: Reporter, clock: FakeClock, app: Zhibao) -> None:
    at(clock, "2021-04-02T10:00")  # the towns' deadline (04-05) is still ahead
    county = read(reporter.report(COUNTY, "2021-03").files[0])
    assert [c["status"] for c in county["children"]] == ["pending", "pending"]
    at(clock, "2021-04-05T10:00")  # the villages' deadline (04-03) has passed
    town = reporter.report(TOWN, "2021-03")
    document = read(town.files[0])
    assert [c["status"] for c in document["children"]] == ["missing", "missing"]
    assert town.missing_children == ("610902101201", "610902101202")
    assert figures(document)["B1"]["month"] == 3  # their hazards are not counted as zero
    catch_up(app, reporter.views)
    with reporter.views.snapshot() as tx:
        assert len(tx.rows("SELECT * FROM view_missing WHERE period = '2021-03'")) == 2


def test_the_cascade_reports_every_level_after_the_one_below(
        march: March, reporter: Reporter, clock: FakeClock) -> None:
    at(clock, "2021-04-06T10:00")  # villages (04-03) and towns (04-05) are late
    done = reporter.cascade("2021-03")
    assert [d.level.value for d in done] == ["village"] * 4 + ["town"] * 3 + ["county"] * 2 \
        + ["city"]
    by_code = {d.unit_code: d for d in done}
    assert by_code["610902101201"].late and by_code[TOWN].late
    assert not by_code[COUNTY].late and not by_code[CITY].late
    city = read(by_code[CITY].files[0])
    assert [(c["unit_code"], c["status"], c["version"]) for c in city["children"]] == [
        (COUNTY, "on_time", 1), (OTHER_COUNTY, "on_time", 1)]
    town = read(by_code[TOWN].files[0])
    assert {c["status"] for c in town["children"]} == {"late"}
    assert figures(city)["B1"]["month"] == 4
    assert all(d.version == 1 for d in reporter.cascade("2021-03"))  # again: unchanged


def test_zhibao_report_cli(march: March, app_env: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    town = ["--as", str(march.world.persons["town"])]
    assert main(["report", "--unit", TOWN, "--period", "2021-3", *town]) == 2
    assert "period: '2021-3' is not a period" in capsys.readouterr().err
    assert main(["report", "--unit", "6109", "--period", "2021-03", *town]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "rejected, nothing written — unit_code: no unit has the code '6109'" in err
    assert main(["report", "--unit", TOWN, "--period", "2199-01", *town]) == 2
    assert "has not ended" in capsys.readouterr().err
    assert main(["report", "--unit", TOWN, "--period", "2021-03"]) == 2
    assert "actor: name the registered person to act as with --as" in capsys.readouterr().err
    assert main(["report", "--unit", TOWN, "--period", "2021-03", "--as", "x"]) == 2
    assert "actor: 'x' is not a person id" in capsys.readouterr().err
    assert main(["report", "--unit", TOWN, "--period", "2021-03", *town]) == 0
    out, err = capsys.readouterr()
    assert "version 1 submitted" in " ".join(err.split())
    assert out.split() == [str(app_env / "reports/2021-03" / TOWN / name)
                           for name in ("v1.json", "v1.xlsx", "v1.pdf", "v1.sha256")]



def _unit_id(app: Zhibao, code: str) -> UUID:
    app.refresh_directory()
    return UUID(str(app.directory.unit("unit_code", code, date(2021, 3, 31)).unit_id))
