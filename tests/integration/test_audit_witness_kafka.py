"""The county consumer as a witness, on real brokers and both stores: every checkpoint on the
system topic is checked against the last one it accepted; a log whose history was rewritten
and re-signed raises a fork alarm, and the consumer stops trusting it."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from domain.audit import AUDIT_TRAIL_ID
from infra.audit.anchors import anchors_path
from infra.audit.checkpoints import take_checkpoint
from infra.audit.witness import ForkDetected
from infra.intake.service import Zhibao
from infra.kafka.consumer import CountyConsumer
from infra.kafka.relay import Relay
from tests.integration.test_audit_tamper import RawStore
from tests.integration.test_kafka_consumer import COUNTY, table_rows
from tests.integration.test_kafka_relay import kafka_settings
from tests.support.brokers import Broker
from tests.support.builders import World, build_world
from tests.support.kafka_world import hazard_traffic

pytestmark = pytest.mark.kafka


def hazards(world: World, count: int) -> None:
    for number in range(count):
        world.do("ReportHazard", "town", hazard_id=uuid4(),
                 enterprise_id=world.enterprises["chem"], channel="supervisory_inspection",
                 discovered_at="2021-03-01T08:30", description=f"K{number}",
                 category="unsafe_condition")


def test_the_county_consumer_witnesses_checkpoints_and_raises_a_fork_alarm(
        app: Zhibao, clock: object, signed: Path, kafka_broker: Broker, tmp_path: Path) -> None:
    world = build_world(app)
    hazard_traffic(world, 10)
    first = take_checkpoint(app)
    hazards(world, 3)
    second = take_checkpoint(app)
    assert first is not None and second is not None
    settings = kafka_settings(app, kafka_broker)
    Relay(app, settings).run()
    consumer = CountyConsumer(COUNTY, f"sqlite:///{tmp_path}/county.db", settings)
    try:
        consumer.run()
        state = consumer.witnessed()[second.origin]
        assert (state["tree_size"], state["alarm"]) == (second.size, "")

        raw = RawStore(app)  # history rewritten, the trail and the copies removed, re-signed
        chem_hazard = next(n for n in app.recorder.select_notifications(start=1, limit=10_000)
                           if n.topic.endswith("HazardReported"))
        raw.rewrite_and_rechain(chem_hazard.originator_id, 1, b'"description":"',
                                b'"description":"X')
        raw.delete(AUDIT_TRAIL_ID)
        raw.clear_tree()
        raw.conn.close()
        anchors_path(app.settings).unlink()
        hazards(world, 2)
        forged = take_checkpoint(app)
        assert forged is not None
        Relay(app, settings).run()
        before = table_rows(consumer.views)
        with pytest.raises(ForkDetected, match="replaced by another"):
            consumer.run()
        assert table_rows(consumer.views) == before  # nothing of the forked batch applied
        assert "replaced by another" in consumer.witnessed()[second.origin]["alarm"]
        with pytest.raises(ForkDetected, match="fork alarm"):
            consumer.run()  # it stops trusting the log until an operator clears the alarm
        consumer.clear_alarm()
        consumer.run()
        assert consumer.witnessed()[second.origin]["tree_size"] == forged.size
    finally:
        consumer.close()
