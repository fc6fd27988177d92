"""The demo: deterministic for a seed, recorded without a single rejection, and plausible
against DOMAIN.md (a few % major hazards, some listed, overdue, extended, voided …)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime

from domain.authority import Role
from domain.base import SHANGHAI, SYSTEM_ORG_ID
from infra.demo import build_demo, demo_commands
from infra.intake.service import Zhibao
from infra.settings import Settings
from infra.store.log import notifications
from infra.store.records import event_payload, event_type
from infra.store.summary import events_by_type, hazards_by_state

MID_JANUARY = datetime(2021, 1, 15, tzinfo=SHANGHAI)


def _stored(url: str, seed: int) -> list[tuple[object, int, str, bytes]]:
    app = Zhibao(Settings(database_url=url))
    result = build_demo(app, seed=seed, until=MID_JANUARY)
    assert not result.totals.rejections
    stored = [(n.originator_id, n.originator_version, n.topic, bytes(n.state))
              for n in notifications(app.recorder)]
    app.close()
    return stored


def test_same_seed_gives_the_same_store_byte_for_byte(tmp_path):
    first = _stored(f"sqlite:///{tmp_path}/a.db", seed=7)
    second = _stored(f"sqlite:///{tmp_path}/b.db", seed=7)
    assert len(first) > 5_000
    assert first == second


def test_another_seed_gives_another_city():
    def opening(seed: int) -> list[str]:
        return [command.model_dump_json() for _, _, command in
                itertools.islice(demo_commands(seed=seed), 500)]
    assert opening(7) != opening(8)


def test_the_demo_store_is_plausible(demo_url):
    app = Zhibao(Settings(database_url=demo_url))
    counts = events_by_type(app.recorder)
    states = hazards_by_state(app.recorder, app.mapper)
    app.close()
    hazards = counts["HazardReported"]
    assert hazards > 5_000
    assert counts["EnterpriseRegistered"] > 2_500
    assert counts["AdminUnitRegistered"] == 1 + 1 + 4 + 4 * 6 + 4 * 6 * 10
    assert 0.7 < counts["SelfInspectionSubmitted"] / (counts["EnterpriseRegistered"] * 4) < 0.95
    for kind in ("HazardListed", "HazardBecameOverdue", "DeadlineExtended", "HazardVoided",
                 "HazardRectifiedOnSpot", "InspectionPlanned", "RiskPointIdentified",
                 "FineImposed", "TaskDefined", "TaskProgressReported", "MeasurePlanned"):
        assert counts[kind] > 0, kind
    assert states["CLOSED"] > hazards / 2
    assert states["RECTIFYING"] + states["CONFIRMED"] > 0


def test_majors_are_a_few_percent_and_121_teams_occur(demo_url):
    app = Zhibao(Settings(database_url=demo_url))
    grades: Counter[str] = Counter()
    teams: Counter[bool] = Counter()
    for notification in notifications(app.recorder):
        if notification.topic.endswith("HazardConfirmed"):
            grades[app.mapper.to_domain_event(notification).grade.value] += 1
        elif notification.topic.endswith("InspectionPlanned"):
            teams[app.mapper.to_domain_event(notification).team_121] += 1
    app.close()
    share = grades["major"] / sum(grades.values())
    assert 0.01 < share < 0.10
    assert teams[True] > 0 and teams[False] > teams[True]


ZHIBAO_OWN = {"AdminUnitRegistered", "OrgUnitRegistered", "PersonRegistered", "RoleGranted",
              "HazardBecameOverdue"}
"""What zhibao itself records in the demo: the bootstrap, and hazards gone overdue."""


def test_every_demo_command_is_issued_by_a_registered_person_of_its_org(demo_url):
    """The demo exercises the authority model: each event's actor is a person registered
    (before acting) to the org the event names, under one of the enumerated roles — or
    zhibao itself, for its bootstrap and its overdue sweep."""
    app = Zhibao(Settings(database_url=demo_url))
    persons: dict[str, str] = {}  # person id → org id, as registered so far
    roles: Counter[str] = Counter()
    for notification in notifications(app.recorder):
        payload = event_payload(notification.state)
        actor, kind = payload["actor"], event_type(notification.topic)
        if kind == "PersonRegistered":
            persons[str(notification.originator_id)] = payload["org_id"]
        if actor["org_id"] == str(SYSTEM_ORG_ID):
            assert (actor["role"], kind in ZHIBAO_OWN) == ("system", True), kind
            continue
        assert persons[actor["person_id"]] == actor["org_id"], kind
        roles[Role(actor["role"])] += 1
    app.close()
    assert set(roles) == set(Role) - {Role.SAFETY_MANAGER, Role.AUDITOR,
                                      Role.SYSTEM_INTEGRATION}
