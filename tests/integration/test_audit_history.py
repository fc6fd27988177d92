"""`zhibao audit history HAZARD_ID`: the hazard's timeline with who (person, org name, role)
did what, when — business time and system time — on both stores; bad ids are refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from domain.base import DomainError
from infra.audit.history import hazard_history, parse_hazard_id
from infra.cli.main import main
from infra.intake.service import Zhibao
from tests.conftest import FakeClock
from tests.support.ledger_world import Ledger, build_ledger


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock, general=1)


def test_the_timeline_names_who_did_what_and_when(app: Zhibao, ledger: Ledger) -> None:
    assert ledger.major_hazard is not None
    steps = hazard_history(app, ledger.major_hazard)
    stored = list(app.events.get(ledger.major_hazard))
    assert [step.event_type for step in steps] == [
        "HazardReported", "HazardConfirmed", "RectificationPlanSubmitted", "HazardListed"]
    assert [(s.occurred_at, s.recorded_at) for s in steps] == \
        [(e.occurred_at, e.timestamp) for e in stored]
    assert [(s.person_name, s.org_name, s.role) for s in steps] == [
        ("county_chem", "county_chem", "regulator"), ("county_chem", "county_chem", "regulator"),
        ("负责人", "chem", "enterprise_principal"),
        ("county_gov", "county_gov", "committee_staff")]
    assert steps[2].person_id == str(ledger.world.persons["chem"])
    assert steps[2].org_id == ledger.world.enterprises["chem"]
    assert (steps[0].unit_code, steps[0].unit_name) == ("610902101201", "一村")
    assert steps[0].occurred_at.isoformat() == "2021-03-02T10:00:00+08:00"
    assert steps[2].details["plan"]["funds_fen"] == 2_500_000
    assert steps[3].details["listing"]["notice_no"] == "汉滨安委〔2021〕3号"
    confirmed = steps[1].details
    assert confirmed["treating_org_id"].startswith("county_chem (")
    assert "local_grade" not in confirmed  # fields without a value are left out


def test_bad_hazard_ids_are_refused(app: Zhibao, ledger: Ledger) -> None:
    with pytest.raises(DomainError) as malformed:
        parse_hazard_id("H-1")
    with pytest.raises(DomainError) as unknown:
        hazard_history(app, parse_hazard_id("00000000-0000-4000-8000-00000000abcd"))
    with pytest.raises(DomainError) as not_a_hazard:
        hazard_history(app, ledger.world.enterprises["chem"])
    assert [(e.value.field, e.value.code) for e in (malformed, unknown, not_a_hazard)] == [
        ("hazard_id", "INPUT"), ("hazard_id", "REF"), ("hazard_id", "REF")]


def test_history_command(ledger: Ledger, app_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hazard = str(ledger.hazards[0])
    assert main(["audit", "history", hazard, "--json"]) == 0
    timeline = orjson.loads(capsys.readouterr().out)
    assert [step["event"] for step in timeline][-1] == "HazardClosed"
    assert timeline[0]["who"] == {"person_id": str(ledger.world.persons["town"]),
                                  "person": "town", "org_id": str(ledger.world.orgs["town"]),
                                  "org": "town", "role": "town_officer"}
    assert main(["audit", "history", hazard]) == 0
    assert "HazardClosed" in capsys.readouterr().out
    assert main(["audit", "history", "not-a-uuid"]) == 2
    assert "hazard_id: 'not-a-uuid' is not a hazard id" in capsys.readouterr().err
