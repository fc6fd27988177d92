"""Tamper evidence on both stores: rows are altered, deleted and re-ordered with raw SQL on
the `stored_events` table (and the audit trail, the Merkle tree, the copies kept outside),
and `verify` must name the first broken link; a checkpoint is never signed over it."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import orjson
import psycopg
import pytest

from domain.audit import AUDIT_TRAIL_ID
from infra.audit import integrity
from infra.audit.anchors import anchor_from_text, anchors_path
from infra.audit.bundles import consistency
from infra.audit.checkpoints import TamperedError, stored_checkpoints, take_checkpoint
from infra.audit.integrity import Break, BreakKind, verify, verify_then_checkpoint
from infra.audit.keys import generate, sign_note
from infra.audit.tree import TABLE as TILES
from infra.audit.verifier import ProofError, check_consistency, read_verifier_keys
from infra.intake.service import Zhibao
from infra.store import workers
from infra.store.records import GENESIS, chain_hash, pack_record, unpack_record
from tests.conftest import PG_ADMIN_URL, make_key, open_app
from tests.support.builders import build_world
from tests.support.ledger_world import Ledger, build_ledger, general_hazard


def first_break(app: Zhibao, kind: BreakKind) -> Break:
    """The first break `zhibao audit verify` finds, which must be of `kind`."""
    found = verify(app).first_break
    assert found is not None and found.kind is kind, found
    return found


class RawStore:
    """Direct SQL on the store's table, the way someone with database access would."""

    def __init__(self, app: Zhibao) -> None:
        url = urlsplit(app.settings.database_url)
        table = app.recorder.events_table_name  # type: ignore[attr-defined]
        self.sqlite = url.scheme == "sqlite"
        if self.sqlite:
            self.conn: Any = sqlite3.connect(url.path[1:], isolation_level=None)
            self.table, self.position, self.tiles = table, "rowid", TILES
        else:
            self.conn = psycopg.connect(PG_ADMIN_URL, autocommit=True)
            schema = parse_qs(url.query)["schema"][0]
            self.table, self.tiles = f'"{schema}"."{table}"', f'"{schema}"."{TILES}"'
            self.position = "notification_id"

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        sql = sql.format(t=self.table, pos=self.position, tiles=self.tiles)
        cursor = self.conn.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []

    def key(self, aggregate_id: UUID) -> Any:
        return aggregate_id.hex if self.sqlite else aggregate_id

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        return self.run("SELECT {pos} FROM {t} WHERE originator_id = ? AND "
                        "originator_version = ?", self.key(aggregate_id), version)[0][0]

    def state(self, aggregate_id: UUID, version: int) -> bytes:
        return bytes(self.run("SELECT state FROM {t} WHERE originator_id = ? AND "
                              "originator_version = ?", self.key(aggregate_id), version)[0][0])

    def put_state(self, aggregate_id: UUID, version: int, state: bytes) -> None:
        self.run("UPDATE {t} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                 state, self.key(aggregate_id), version)

    def delete(self, aggregate_id: UUID, version: int | None = None) -> None:
        if version is None:
            self.run("DELETE FROM {t} WHERE originator_id = ?", self.key(aggregate_id))
        else:
            self.run("DELETE FROM {t} WHERE originator_id = ? AND originator_version = ?",
                     self.key(aggregate_id), version)

    def swap_positions(self, a: int, b: int) -> None:
        for old, new in ((a, -1), (b, a), (-1, b)):
            self.run("UPDATE {t} SET {pos} = ? WHERE {pos} = ?", new, old)

    def topic(self, aggregate_id: UUID, version: int) -> str:
        return self.run("SELECT topic FROM {t} WHERE originator_id = ? AND "
                        "originator_version = ?", self.key(aggregate_id), version)[0][0]

    def rewrite_and_rechain(self, aggregate_id: UUID, version: int, old: bytes,
                            new: bytes) -> None:
        """Edit one version's content and re-compute its hash and every later link, as an
        informed forger would: every chain check passes afterwards."""
        prev = unpack_record(self.state(aggregate_id, version))[0]
        current = version
        while self.run("SELECT 1 FROM {t} WHERE originator_id = ? AND originator_version = ?",
                       self.key(aggregate_id), current):
            payload = unpack_record(self.state(aggregate_id, current))[2]
            if current == version:
                payload = payload.replace(old, new)
            digest = chain_hash(prev, aggregate_id, current, self.topic(aggregate_id, current),
                                payload)
            self.put_state(aggregate_id, current, pack_record(prev, digest, payload))
            prev, current = digest, current + 1

    def clear_tree(self) -> None:
        self.run("DELETE FROM {tiles}")


@pytest.fixture
def ledger(app: Zhibao, clock: Any, signed: Path) -> Ledger:
    return build_ledger(app, clock)


@pytest.fixture
def raw(app: Zhibao) -> Iterator[RawStore]:
    store = RawStore(app)
    yield store
    store.conn.close()


@pytest.fixture(params=["heads remembered", "heads looked up", "pages in workers"])
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways a link is checked: against the aggregate's head the walk remembers, and,
    as in a province with more aggregates than it remembers, against the previous version
    looked up — with the page's others (pages of a few events) or alone; and pages of a few
    events checked by worker processes, as a long log's are."""
    if request.param == "heads looked up":
        monkeypatch.setattr(integrity, "HEADS_KEPT", 0)
        monkeypatch.setattr(integrity, "PAGE", 5)
    if request.param == "pages in workers":
        monkeypatch.setattr(integrity, "PARALLEL_FROM", 0)
        monkeypatch.setattr(integrity, "PAGE", 5)


def keys(public: Path) -> list[Any]:
    return read_verifier_keys(str(public))


@pytest.mark.usefixtures("walk")
def test_clean_store_verifies_before_and_after_checkpoints(app: Zhibao, ledger: Ledger) -> None:
    unsigned = verify(app)
    assert unsigned.ok and unsigned.checkpoints == 0 and unsigned.tree_size == 0
    first = take_checkpoint(app)
    assert first is not None and first.number == 1 and first.size == unsigned.events
    assert take_checkpoint(app) is None  # nothing new but the checkpoint itself
    hazard = ledger.hazards[-1]
    ledger.world.do("ReportRectificationProgress", "shop", hazard_id=hazard, percent=50)
    second = take_checkpoint(app)
    assert second is not None and second.number == 2
    assert second.size == first.size + 3  # the trail's first two records and the progress
    result = verify(app)
    assert result.ok, result.first_break
    assert result.checkpoints == 2 and result.tree_size == second.size
    assert result.signatures_checked and result.anchors  # the anchors file, outside the DB
    assert result.events == unsigned.events + 4  # two trail records, one event, one more


@pytest.mark.usefixtures("walk")
def test_altered_record_is_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    hazard = ledger.hazards[1]
    raw.put_state(hazard, 1, raw.state(hazard, 1).replace("消防通道堵塞".encode(), "无".encode()))
    found = first_break(app, BreakKind.ALTERED)
    assert (found.aggregate_id, found.version) == (hazard, 1)
    assert found.position == raw.position_of(hazard, 1)


def test_checkpoint_refuses_to_sign_an_altered_record(app: Zhibao, ledger: Ledger,
                                                      raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    raw.put_state(hazard, 2, raw.state(hazard, 2).replace(b'"general"', b'"major"'))
    with pytest.raises(TamperedError, match=f"position {raw.position_of(hazard, 2)}"):
        take_checkpoint(app)
    assert app.recorder.select_events(AUDIT_TRAIL_ID) == []
    assert not anchors_path(app.settings).exists()


@pytest.mark.usefixtures("walk")
def test_deleted_middle_version_is_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    third = raw.position_of(hazard, 3)
    raw.delete(hazard, 2)
    found = first_break(app, BreakKind.MISSING)
    assert (found.aggregate_id, found.version, found.position) == (hazard, 3, third)


@pytest.mark.usefixtures("walk")
def test_versions_reordered_in_the_log_are_found(app: Zhibao, ledger: Ledger,
                                                 raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    second, third = raw.position_of(hazard, 2), raw.position_of(hazard, 3)
    raw.swap_positions(second, third)
    found = first_break(app, BreakKind.OUT_OF_ORDER)
    assert (found.aggregate_id, found.version, found.position) == (hazard, 3, second)


@pytest.mark.usefixtures("walk")
def test_swapped_versions_are_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    second = raw.position_of(hazard, 2)
    raw.run("UPDATE {t} SET originator_version = 99 WHERE originator_id = ? AND "
            "originator_version = 2", raw.key(hazard))
    raw.run("UPDATE {t} SET originator_version = 2 WHERE originator_id = ? AND "
            "originator_version = 3", raw.key(hazard))
    raw.run("UPDATE {t} SET originator_version = 3 WHERE originator_id = ? AND "
            "originator_version = 99", raw.key(hazard))
    found = first_break(app, BreakKind.ALTERED)
    assert (found.aggregate_id, found.version, found.position) == (hazard, 3, second)


# What only the Merkle tree can see: every per-aggregate chain still holds afterwards.


def test_removed_aggregate_is_found_by_the_tree(app: Zhibao, ledger: Ledger,
                                               raw: RawStore) -> None:
    take_checkpoint(app)
    hazard = ledger.hazards[1]
    first = raw.position_of(hazard, 1)
    raw.delete(hazard)
    found = first_break(app, BreakKind.TREE)
    assert found.position == first + 6  # the event that now sits where the hazard began
    assert "not the one the tree committed to" in found.detail
    assert verify_without_the_trail(app, raw).ok, "the chains alone cannot see it"


def test_cut_off_newest_versions_are_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    take_checkpoint(app)
    hazard = ledger.hazards[0]
    fifth = raw.position_of(hazard, 5)
    raw.delete(hazard, 6)
    raw.delete(hazard, 5)
    found = first_break(app, BreakKind.TREE)
    assert found.position > fifth


def test_records_of_two_aggregates_swapped_in_the_log_are_found(app: Zhibao, ledger: Ledger,
                                                                raw: RawStore) -> None:
    take_checkpoint(app)
    last_of_a, first_of_b = (raw.position_of(ledger.hazards[3], 6),
                             raw.position_of(ledger.hazards[4], 1))
    assert last_of_a + 1 == first_of_b  # so both chains stay in order after the swap
    raw.swap_positions(last_of_a, first_of_b)
    found = first_break(app, BreakKind.TREE)
    assert found.position == last_of_a


def test_rewritten_and_rechained_aggregate_is_found(app: Zhibao, ledger: Ledger,
                                                    raw: RawStore) -> None:
    take_checkpoint(app)
    case = ledger.case
    assert case is not None
    raw.rewrite_and_rechain(case, 2, b'"amount_fen":1500000', b'"amount_fen":150000')
    found = first_break(app, BreakKind.TREE)
    assert (found.aggregate_id, found.version) == (case, 2)
    raw.clear_tree()  # the tree's copy gone too: the signed root still knows
    found = first_break(app, BreakKind.CHECKPOINT)


def test_doctored_checkpoint_is_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    take_checkpoint(app)
    state = raw.state(AUDIT_TRAIL_ID, 2)
    root = unpack_record(state)[2].split(b'"root_hash":"')[1][:64]
    raw.put_state(AUDIT_TRAIL_ID, 2, state.replace(root, b"0" * 64))
    found = first_break(app, BreakKind.TRAIL)
    assert (found.aggregate_id, found.version) == (AUDIT_TRAIL_ID, 2)
    assert found.position == raw.position_of(AUDIT_TRAIL_ID, 2)


def test_a_checkpoint_signed_by_another_key_is_found(app: Zhibao, ledger: Ledger,
                                                     raw: RawStore) -> None:
    """A forger re-signs the trail's checkpoint with a key of their own name-alike (and
    re-chains the record): only the trusted key's signature counts."""
    checkpoint = take_checkpoint(app)
    assert checkpoint is not None
    text = checkpoint.note.partition("\n\n")[0] + "\n"
    forged = sign_note(text, (generate(checkpoint.origin),))
    state = raw.state(AUDIT_TRAIL_ID, 2)
    prev, _, payload = unpack_record(state)
    fields = orjson.loads(payload)
    fields["note"] = forged
    payload = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    digest = chain_hash(prev, AUDIT_TRAIL_ID, 2, raw.topic(AUDIT_TRAIL_ID, 2), payload)
    raw.put_state(AUDIT_TRAIL_ID, 2, pack_record(prev, digest, payload))
    found = first_break(app, BreakKind.SIGNATURE)
    assert "not signed by a trusted key" in found.detail


# The trail cannot vanish quietly (issue 10 §6), and a re-sealed forgery is caught outside.


def test_a_removed_trail_is_found_and_nothing_is_resealed(app: Zhibao, ledger: Ledger,
                                                         raw: RawStore) -> None:
    take_checkpoint(app)
    raw.delete(AUDIT_TRAIL_ID)
    first_break(app, BreakKind.TRAIL)  # the tree still knows
    raw.clear_tree()
    found = first_break(app, BreakKind.ANCHOR)  # the anchors file knows
    assert "not in the store: checkpoints were removed" in found.detail
    with pytest.raises(TamperedError):
        verify_then_checkpoint(app)
    with pytest.raises(TamperedError, match="checkpoints were removed from the store"):
        take_checkpoint(app)
    assert app.recorder.select_events(AUDIT_TRAIL_ID) == []


def test_a_removed_trail_with_its_tree_left_is_found(app: Zhibao, ledger: Ledger,
                                                     raw: RawStore) -> None:
    take_checkpoint(app)
    raw.delete(AUDIT_TRAIL_ID)
    anchors_path(app.settings).unlink()
    found = first_break(app, BreakKind.TRAIL)
    assert "the audit trail was removed" in found.detail


def test_a_rewrite_resealed_without_the_key_fails_consistency_for_an_earlier_holder(
        app: Zhibao, ledger: Ledger, raw: RawStore, signed: Path) -> None:
    """Someone with write access but not the key rewrites an event, re-chains, removes the
    trail, the tree and the copy outside, and lets zhibao re-seal: whoever kept the earlier
    checkpoint (a county, a bundle's holder) finds the new log does not extend it."""
    earlier = take_checkpoint(app)
    assert earlier is not None
    kept = anchor_from_text("the county's copy", earlier.note)
    case = ledger.case
    assert case is not None
    raw.rewrite_and_rechain(case, 2, b'"amount_fen":1500000', b'"amount_fen":150000')
    raw.delete(AUDIT_TRAIL_ID)
    raw.clear_tree()
    anchors_path(app.settings).unlink()
    resealed = take_checkpoint(app)
    assert resealed is not None and resealed.size == earlier.size  # same size, another root
    with pytest.raises(ProofError, match=r"forked|does not extend"):
        check_consistency(consistency(app, kept), keys(signed))
    found = verify(app, anchors=(kept,)).first_break
    assert found is not None and found.kind is BreakKind.ANCHOR
    assert "no longer hash to the root of the checkpoint kept in the county's copy" in \
        found.detail


def test_checkpoints_deleted_from_the_store_are_found_against_a_witness_copy(
        app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    take_checkpoint(app)
    ledger.world.do("ReportRectificationProgress", "shop", hazard_id=ledger.hazards[-1],
                    percent=10)
    second = take_checkpoint(app)
    assert second is not None
    witness_copy = anchor_from_text("the city's witness", second.note)
    raw.run("DELETE FROM {t} WHERE originator_id = ? AND originator_version > 2",
            raw.key(AUDIT_TRAIL_ID))
    raw.clear_tree()  # the second checkpoint's record was a leaf: the tree would show it
    anchors_path(app.settings).unlink()
    assert verify(app).ok  # nothing inside the store shows it
    found = verify(app, anchors=(witness_copy,)).first_break
    assert found is not None and found.kind is BreakKind.ANCHOR
    assert f"checkpoint of {second.size:,} leaves kept in the city's witness is not in the " \
           "store" in found.detail


def verify_without_the_trail(app: Zhibao, raw: RawStore) -> Any:
    """The same store with its trail, tree and outside copies removed: only the chains are
    checked."""
    raw.delete(AUDIT_TRAIL_ID)
    raw.clear_tree()
    anchors_path(app.settings).unlink()
    return verify(app)


@pytest.mark.postgres
def test_postgres_position_gaps_change_nothing_but_a_filled_gap_is_found(
        postgres_url: str, clock: Any, tmp_path: Path) -> None:
    """Rolled-back transactions leave gaps in PostgreSQL's notification ids; a forger could
    slip a record with a valid chain of its own into one."""
    app = open_app(postgres_url, clock, tmp_path / "out")
    make_key(tmp_path / "audit.key")
    app.settings = app.settings.model_copy(update={"audit_signing_key": tmp_path / "audit.key"})
    raw = RawStore(app)
    try:
        world = build_world(app)
        sequence = raw.run("SELECT pg_get_serial_sequence('{t}', 'notification_id')")[0][0]
        gap = raw.run(f"SELECT nextval('{sequence}')")[0][0]
        general_hazard(world, clock, "chem", 1)
        checkpoint = take_checkpoint(app)
        assert checkpoint is not None and verify(app).ok
        assert checkpoint.size == checkpoint.through_position - 1  # the gap is no leaf
        forged_id = uuid4()
        payload = unpack_record(raw.state(world.enterprises["mine"], 1))[2]
        topic = raw.topic(world.enterprises["mine"], 1)
        state = pack_record(GENESIS, chain_hash(GENESIS, forged_id, 1, topic, payload), payload)
        raw.run("INSERT INTO {t} (originator_id, originator_version, topic, state, {pos}) "
                "VALUES (?, 1, ?, ?, ?)", forged_id, topic, state, gap)
        found = first_break(app, BreakKind.TREE)
        assert found.position == gap
        assert stored_checkpoints(app)[-1].size == checkpoint.size
    finally:
        raw.conn.close()
        app.close()


def test_a_trail_whose_start_was_removed_is_found(app: Zhibao, ledger: Ledger,
                                                  raw: RawStore) -> None:
    take_checkpoint(app)
    raw.delete(AUDIT_TRAIL_ID, 1)
    found = first_break(app, BreakKind.TRAIL)
    assert (found.aggregate_id, found.version) == (AUDIT_TRAIL_ID, 2)


def test_the_trail_its_tree_and_an_aggregate_removed_together_are_found(
        app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    """The issue-10 attack whole: every audit record deleted, the tree cleared and an
    aggregate removed. `verify` fails against the anchor kept outside the store, and
    `audit checkpoint` refuses to re-seal what is left."""
    take_checkpoint(app)
    raw.delete(AUDIT_TRAIL_ID)
    raw.clear_tree()
    raw.delete(ledger.hazards[0])
    verification = verify(app)
    assert not verification.ok and verification.first_break.kind is BreakKind.ANCHOR
    with pytest.raises(TamperedError):
        verify_then_checkpoint(app)
    assert app.recorder.select_events(AUDIT_TRAIL_ID) == []


# A long log's pages are checked by worker processes: the same first break is found.


def _alter(raw: RawStore, ledger: Ledger) -> None:
    hazard = ledger.hazards[3]
    raw.put_state(hazard, 1, raw.state(hazard, 1).replace("消防通道堵塞".encode(), "无".encode()))


def _cut_short(raw: RawStore, ledger: Ledger) -> None:
    raw.put_state(ledger.hazards[2], 2, b'{"prev":"')


def _delete_middle(raw: RawStore, ledger: Ledger) -> None:
    raw.delete(ledger.hazards[0], 2)


def _reorder(raw: RawStore, ledger: Ledger) -> None:
    hazard = ledger.hazards[0]
    raw.swap_positions(raw.position_of(hazard, 2), raw.position_of(hazard, 3))


def _rechain(raw: RawStore, ledger: Ledger) -> None:
    assert ledger.case is not None
    raw.rewrite_and_rechain(ledger.case, 2, b'"amount_fen":1500000', b'"amount_fen":150000')


def _rechain_and_alter_a_later_record(raw: RawStore, ledger: Ledger) -> None:
    """The tree, compared at the checkpoint's size, breaks before a record after it."""
    hazard = ledger.hazards[-1]
    ledger.world.do("ReportRectificationProgress", "shop", hazard_id=hazard, percent=50)
    version = raw.run("SELECT max(originator_version) FROM {t} WHERE originator_id = ?",
                      raw.key(hazard))[0][0]
    raw.put_state(hazard, version, raw.state(hazard, version).replace(b"50", b"90"))
    _rechain(raw, ledger)


@pytest.mark.parametrize(("damage", "kind", "page"), [
    (None, None, 5), (_alter, BreakKind.ALTERED, 5), (_cut_short, BreakKind.ALTERED, 5),
    (_delete_middle, BreakKind.MISSING, 5), (_reorder, BreakKind.OUT_OF_ORDER, 5),
    (_rechain, BreakKind.TREE, 5), (_rechain_and_alter_a_later_record, BreakKind.TREE, 5),
    (_rechain_and_alter_a_later_record, BreakKind.TREE, 10_000)])  # both in one page
def test_a_long_log_checked_in_workers_finds_the_first_break_found_here(
        app: Zhibao, ledger: Ledger, raw: RawStore, monkeypatch: pytest.MonkeyPatch,
        damage: Any, kind: BreakKind | None, page: int) -> None:
    take_checkpoint(app)
    if damage is not None:
        damage(raw, ledger)
    monkeypatch.setattr(integrity, "PAGE", page)
    here = verify(app)
    assert here.pages_in_workers == 0
    assert (here.first_break and here.first_break.kind) is kind, here.first_break
    monkeypatch.setattr(integrity, "PARALLEL_FROM", 0)
    in_workers = verify(app)
    assert in_workers.pages_in_workers > 0
    assert replace(in_workers, pages_in_workers=0) == here


def test_workers_that_cannot_start_leave_the_pages_to_this_process(
        app: Zhibao, ledger: Ledger, raw: RawStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _alter(raw, ledger)
    monkeypatch.setattr(integrity, "PAGE", 5)
    here = verify(app)
    monkeypatch.setattr(integrity, "PARALLEL_FROM", 0)
    monkeypatch.setattr(workers, "open_worker_reader", os._exit)  # each worker dies at start
    assert verify(app) == here
