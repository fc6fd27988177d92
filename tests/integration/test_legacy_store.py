"""Stored events stay readable: a store written by the code before the restructure (commit
80f88b6: 3,050 events of every type the demo records — whole aggregates sampled from a
demo year, with the units, orgs and enterprises they refer to — sealed by a checkpoint)
must still decode, load, verify and project with today's code.

Event topics name the domain module and class (`domain.hazards:Hazard.HazardReported`), so
a move of a domain class must register its old topic with the library (see
`domain/event_types.py`); this test fails if one is forgotten.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from domain.event_types import event_classes
from infra.audit import integrity
from infra.audit.integrity import BreakKind, verify
from infra.intake.service import Zhibao
from infra.reporting.reporter import catch_up, open_views
from infra.settings import Settings
from infra.store.log import notifications
from infra.store.records import event_type

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store-80f88b6.db.gz"
ANCHOR = "0944166d757394430fdcdfe36a3bac486f783d32125134f41dc33dcceec728ce"


@pytest.fixture
def legacy(tmp_path: Path) -> Zhibao:
    path = tmp_path / "zhibao.db"
    with gzip.open(FIXTURE) as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    app = Zhibao(Settings(database_url=f"sqlite:///{path}", output_dir=tmp_path / "out"))
    yield app
    app.close()


def test_every_stored_event_decodes_and_every_aggregate_loads(legacy: Zhibao) -> None:
    types: set[str] = set()
    aggregates = set()
    for notification in notifications(legacy.recorder):
        event = legacy.mapper.to_domain_event(notification)
        assert type(event) is event_classes()[event_type(notification.topic)]
        types.add(event_type(notification.topic))
        aggregates.add(notification.originator_id)
    assert len(types) == 58
    for aggregate_id in aggregates:
        assert legacy.repository.get(aggregate_id).id == aggregate_id


def test_the_legacy_store_verifies_against_its_anchor_and_projects(legacy: Zhibao) -> None:
    verification = verify(legacy, anchor=ANCHOR)
    assert verification.ok, verification.first_break
    assert verification.events == 3052
    views = open_views(legacy)
    try:
        done = catch_up(legacy, views)
    finally:
        views.close()
    assert done.position == 3052
    assert not done.applied.unknown


def test_the_first_signed_checkpoint_of_a_legacy_store_covers_its_sealed_history(
        legacy: Zhibao, tmp_path: Path) -> None:
    """Old seals are honoured: they are still compared, their anchor still accepted, and the
    first signed checkpoint commits to the whole log, the sealed part included."""
    from infra.audit.checkpoints import take_checkpoint
    from tests.conftest import make_key

    make_key(tmp_path / "audit.key")
    legacy.settings = legacy.settings.model_copy(update={"audit_signing_key":
                                                         tmp_path / "audit.key"})
    signed = take_checkpoint(legacy)
    assert signed is not None and signed.size == 3052 and signed.number == 2
    verification = verify(legacy, anchor=ANCHOR)
    assert verification.ok, verification.first_break
    assert verification.checkpoints == 2 and verification.tree_size == 3052


@pytest.mark.parametrize("removed", [False, True])
def test_sealed_blocks_are_compared_alike_when_workers_check_the_pages(
        legacy: Zhibao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, removed: bool) -> None:
    """A sealed aggregate's last event removed breaks only its block's seal; the pages'
    chain hashes come back from the workers for it."""
    if removed:
        db = sqlite3.connect(tmp_path / "zhibao.db", isolation_level=None)
        db.execute("DELETE FROM stored_events WHERE rowid = (SELECT min(rowid) FROM "
                   "stored_events e WHERE originator_version = (SELECT max(originator_version) "
                   "FROM stored_events WHERE originator_id = e.originator_id))")
        db.close()
    monkeypatch.setattr(integrity, "PAGE", 200)
    here = verify(legacy, anchor=ANCHOR)
    assert (here.first_break and here.first_break.kind) is (BreakKind.SEAL if removed
                                                            else None), here.first_break
    monkeypatch.setattr(integrity, "PARALLEL_FROM", 0)
    in_workers = verify(legacy, anchor=ANCHOR)
    assert in_workers.pages_in_workers > 0
    assert replace(in_workers, pages_in_workers=0) == here
