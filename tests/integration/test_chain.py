"""The hash chain of each aggregate's stored records (invariant 7), on both stores: the first
record's `prev` is all zeros, each later `prev` is its predecessor's `hash`, and every `hash`
recomputes from the record with `chain_hash`."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.hazards import HazardState
from infra.intake.service import Zhibao
from infra.store.records import GENESIS, chain_hash, unpack_record


def assert_chained(app: Zhibao, aggregate_id: UUID) -> int:
    """Check one aggregate's chain; return its length."""
    records = list(app.recorder.select_events(aggregate_id))
    assert records, f"nothing stored for {aggregate_id}"
    expected_prev = GENESIS
    for version, record in enumerate(records, start=1):
        prev, digest, payload = unpack_record(record.state)
        assert record.originator_version == version
        assert prev == expected_prev, f"{aggregate_id} v{version}: prev is not the last hash"
        assert digest == chain_hash(prev, aggregate_id, version, record.topic, payload)
        expected_prev = digest
    return len(records)


@pytest.mark.parametrize(("state", "grade", "listed"), [
    (HazardState.CLOSED, "major", True),
    (HazardState.RECTIFYING, "general", False),
    (HazardState.ELIMINATED_BY_CLOSURE, "general", False),
])
def test_every_hazard_record_continues_its_chain(hazards, state, grade, listed):
    hazard_id = hazards.drive(state, grade, listed)
    assert assert_chained(hazards.world.app, hazard_id) == hazards.get(hazard_id).version > 1


def test_reference_data_is_chained_too(hazards):
    world = hazards.world
    for aggregate_id in [*world.orgs.values(), *world.enterprises.values()]:
        assert_chained(world.app, aggregate_id)
    unit_ids = {entry.unit_id for entry in world.app.directory.codes.values()}
    assert len(unit_ids) == 11
    for unit_id in unit_ids:
        assert_chained(world.app, unit_id)


def test_a_chain_continues_across_application_instances(hazards):
    """Two processes take turns on one hazard: each reads the chain's head from the store
    when the head it remembers is stale."""
    hazard_id = hazards.drive(HazardState.CONFIRMED)
    with hazards.as_another_process():
        hazards.plan(hazard_id, "general")
    hazards.complete(hazard_id)
    assert assert_chained(hazards.world.app, hazard_id) == 4
