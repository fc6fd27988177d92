"""Every stage walks one unit tree (`domain/unit_tree.py`): after a county is recoded and a
village merged into a village of another county, the application service, the views, the
submissions, the Kafka routing and the Parquet partitions put each fact in the same county
and name its stream by the same code."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pyarrow.parquet as pq

from domain.base import micros
from domain.codes import complete_uscc
from infra.export.parquet import export_parquet
from infra.intake.service import Zhibao
from infra.kafka.topics import Router
from infra.reporting.reporter import catch_up
from infra.store.log import notifications
from infra.store.records import event_type
from projections.tree import UnitTree
from tests.conftest import FakeClock
from tests.support.builders import ADMIN, World, build_world
from tests.support.march_world import at

COUNTY, RECODED_COUNTY, OTHER_COUNTY = "610902", "610999", "610921"
MERGED, SUCCESSOR = "610902102201", "610921100201"  # 三村 (汉滨区) → 四村 (汉阴县)


def report_hazard(world: World, by: str, enterprise: str, discovered_at: str) -> UUID:
    hazard_id = uuid4()
    world.do("ReportHazard", by, hazard_id=hazard_id,
             enterprise_id=world.enterprises[enterprise], channel="supervisory_inspection",
             discovered_at=discovered_at, description=f"{enterprise} {discovered_at}",
             category="unsafe_condition")
    return hazard_id


def recode_and_merge(app: Zhibao, clock: FakeClock) -> dict[str, UUID]:
    """Hazard `march` in 三村 before anything changes; the county recoded from April
    (`april`, in 一村, under the county's new code); 三村 merged into 四村 of the other county
    from May (`may`, in 四村)."""
    at(clock, "2021-03-01T09:00")
    world = build_world(app)
    world.register_enterprise("farm", MERGED, ("industry_trade",),
                              complete_uscc("91610902MA0000990"))
    at(clock, "2021-03-06T10:00")
    march = report_hazard(world, "county_ema", "farm", "2021-03-05T09:00")
    at(clock, "2021-04-01T08:00")
    world.do("RecodeAdminUnit", ADMIN, code=COUNTY, new_code=RECODED_COUNTY,
             valid_from="2021-04-01")
    at(clock, "2021-04-10T10:00")
    april = report_hazard(world, "town", "chem", "2021-04-10T09:00")
    at(clock, "2021-05-01T08:00")
    world.do("MergeAdminUnit", ADMIN, code=MERGED, successor_code=SUCCESSOR,
             valid_from="2021-05-01")
    at(clock, "2021-05-10T10:00")
    may = report_hazard(world, "other_county_ema", "mine", "2021-05-10T09:00")
    at(clock, "2021-07-05T10:00")
    return {"march": march, "april": april, "may": may}


def routed(app: Zhibao) -> dict[tuple[str, int], tuple[str, str]]:
    """(aggregate, version) → (unit code, Kafka topic suffix), routed as the relay routes:
    each event with the unit events before it folded."""
    router, topics = Router("zhibao"), {}
    for notification in notifications(app.recorder):
        router.fold((notification,), app.mapper)
        code = app.mapper.to_domain_event(notification).unit_code
        topics[(str(notification.originator_id), notification.originator_version)] = (
            code, router.topic(code).rpartition(".")[2])
    return topics


def partitions(directory: Path) -> dict[tuple[str, int], str]:
    """(aggregate, version) → the `county` partition of the exported event."""
    found = {}
    for file in directory.glob("events/*/county=*/recorded_year=*/*.parquet"):
        county = file.parent.parent.name.removeprefix("county=")
        table = pq.read_table(file, columns=["aggregate_id", "aggregate_version"])
        for aggregate, version in zip(*(table.column(c).to_pylist() for c in
                                        ("aggregate_id", "aggregate_version")), strict=True):
            found[(aggregate, version)] = county
    return found


def test_every_stage_puts_a_fact_in_the_same_county(app, clock, reporter, tmp_path):
    hazards = recode_and_merge(app, clock)
    stream = {"march": COUNTY, "april": COUNTY, "may": OTHER_COUNTY}  # the rule's names

    # Kafka and Parquet: every event of the log on the same stream, named by the code its
    # county was registered with — the recoded county's stream did not split
    topics = routed(app)
    export_parquet(app, tmp_path / "parquet")
    exported = partitions(tmp_path / "parquet")
    assert exported.keys() == topics.keys()
    for key, (code, topic) in topics.items():
        assert exported[key] == (topic if topic != "system" else "__HIVE_DEFAULT_PARTITION__"), (
            key, code)
    assert RECODED_COUNTY not in {topic for _, topic in topics.values()}
    for name, hazard in hazards.items():
        assert topics[(str(hazard), 1)][1] == stream[name], name

    # the service: the directory now names the same stream for the codes the facts carry,
    # and walks the recoded county under its new code
    directory = app.directory
    codes = {name: topics[(str(hazard), 1)][0] for name, hazard in hazards.items()}
    assert codes == {"march": MERGED, "april": "610902101201", "may": SUCCESSOR}
    for name, code in codes.items():
        assert directory.stream_code(code) == stream[name], name
    assert directory.path(codes["april"])[2] == RECODED_COUNTY

    # views and submissions: at the end of the month each fact happened in, its county is
    # the one its stream is named after; after the merge, 三村's facts count for 四村's county
    catch_up(app, reporter.views)
    county_at = {}
    with reporter.views.snapshot() as tx:
        for name, (code, last_day) in {"march": (MERGED, "2021-03-31"),
                                       "april": (codes["april"], "2021-04-30"),
                                       "may": (SUCCESSOR, "2021-05-31"),
                                       "march_later": (MERGED, "2021-06-30")}.items():
            tree = UnitTree.load(tx, last_day, micros(clock()))
            county = tree.county(tree.resolve(code))
            county_at[name] = (county.code, county.registered_code)
    assert county_at == {"march": (COUNTY, COUNTY),
                         "april": (RECODED_COUNTY, COUNTY),
                         "may": (OTHER_COUNTY, OTHER_COUNTY),
                         "march_later": (OTHER_COUNTY, OTHER_COUNTY)}

    def listed(code: str, period: str) -> dict[str, str]:
        document = orjson.loads(reporter.report(code, period).files[0].read_bytes())
        return {row["hazard_id"]: row["location"] for row in document["hazard_list"]}

    assert listed(COUNTY, "2021-03") == {str(hazards["march"]): f"汉滨区/张滩镇/三村 {MERGED}"}
    april = listed(RECODED_COUNTY, "2021-04")
    assert april[str(hazards["april"])] == "汉滨区/关庙镇/一村 610902101201"
    assert str(hazards["march"]) in april  # still open, still 汉滨区's before the merge
    june = listed(OTHER_COUNTY, "2021-06")
    assert {str(hazards["march"]), str(hazards["may"])} <= june.keys()
    assert june[str(hazards["march"])] == f"汉阴县/城关镇/四村 {SUCCESSOR}"
    assert str(hazards["march"]) not in listed(RECODED_COUNTY, "2021-06")

    assert {event_type(n.topic) for n in notifications(app.recorder)} >= {
        "AdminUnitRecoded", "AdminUnitMerged"}
