"""Tamper evidence on both stores: rows are altered, deleted and re-ordered with raw SQL on
the `stored_events` table, and `verify` must name the first broken link."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import psycopg
import pytest

from domain.audit import AUDIT_TRAIL_ID
from infra.audit.seal import BreakKind, TamperedError, take_checkpoint, verify
from infra.intake.service import Zhibao
from infra.store.records import GENESIS, chain_hash, pack_record, unpack_record
from tests.conftest import PG_ADMIN_URL, open_app
from tests.support.builders import build_world
from tests.support.ledger_world import Ledger, build_ledger, general_hazard


class RawStore:
    """Direct SQL on the store's table, the way someone with database access would."""

    def __init__(self, app: Zhibao) -> None:
        url = urlsplit(app.settings.database_url)
        table = app.recorder.events_table_name  # type: ignore[attr-defined]
        self.sqlite = url.scheme == "sqlite"
        if self.sqlite:
            self.conn: Any = sqlite3.connect(url.path[1:], isolation_level=None)
            self.table, self.position = table, "rowid"
        else:
            self.conn = psycopg.connect(PG_ADMIN_URL, autocommit=True)
            self.table = f'"{parse_qs(url.query)["schema"][0]}"."{table}"'
            self.position = "notification_id"

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        sql = sql.format(t=self.table, pos=self.position)
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


@pytest.fixture
def ledger(app: Zhibao, clock: Any) -> Ledger:
    return build_ledger(app, clock)


@pytest.fixture
def raw(app: Zhibao) -> Iterator[RawStore]:
    store = RawStore(app)
    yield store
    store.conn.close()


def test_clean_store_verifies_before_and_after_checkpoints(app: Zhibao, ledger: Ledger) -> None:
    unsealed = verify(app)
    assert unsealed.ok and unsealed.checkpoints == 0 and unsealed.sealed_through == 0
    first = take_checkpoint(app)
    assert first is not None and first.number == 1 and first.events == unsealed.events
    assert take_checkpoint(app) is None  # nothing new but the checkpoint itself
    hazard = ledger.hazards[-1]
    ledger.world.do("ReportRectificationProgress", "shop", hazard_id=hazard, percent=50)
    second = take_checkpoint(app)
    assert second is not None and second.number == 2
    assert second.events == 3  # the trail's first two records and the progress report
    result = verify(app, anchor=second.anchor)
    assert result.ok, result.first_break
    assert result.checkpoints == 2 and result.sealed_through == second.through_position
    assert result.events == unsealed.events + 4  # two trail records, one event, one more seal


def test_altered_record_is_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    hazard = ledger.hazards[1]
    raw.put_state(hazard, 1, raw.state(hazard, 1).replace("消防通道堵塞".encode(), "无".encode()))
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.ALTERED
    assert (found.aggregate_id, found.version) == (hazard, 1)
    assert found.position == raw.position_of(hazard, 1)


def test_checkpoint_refuses_to_seal_an_altered_record(app: Zhibao, ledger: Ledger,
                                                      raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    raw.put_state(hazard, 2, raw.state(hazard, 2).replace(b'"general"', b'"major"'))
    with pytest.raises(TamperedError) as error:
        take_checkpoint(app)
    assert (error.value.found.aggregate_id, error.value.found.version) == (hazard, 2)
    assert app.recorder.select_events(AUDIT_TRAIL_ID) == []


def test_deleted_middle_version_is_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    third = raw.position_of(hazard, 3)
    raw.delete(hazard, 2)
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.MISSING
    assert (found.aggregate_id, found.version, found.position) == (hazard, 3, third)


def test_versions_reordered_in_the_log_are_found(app: Zhibao, ledger: Ledger,
                                                 raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    second, third = raw.position_of(hazard, 2), raw.position_of(hazard, 3)
    raw.swap_positions(second, third)
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.OUT_OF_ORDER
    assert (found.aggregate_id, found.version, found.position) == (hazard, 3, second)


def test_swapped_versions_are_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    hazard = ledger.hazards[0]
    second = raw.position_of(hazard, 2)
    raw.run("UPDATE {t} SET originator_version = 99 WHERE originator_id = ? AND "
            "originator_version = 2", raw.key(hazard))
    raw.run("UPDATE {t} SET originator_version = 2 WHERE originator_id = ? AND "
            "originator_version = 3", raw.key(hazard))
    raw.run("UPDATE {t} SET originator_version = 3 WHERE originator_id = ? AND "
            "originator_version = 99", raw.key(hazard))
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.ALTERED
    assert (found.aggregate_id, found.version, found.position) == (hazard, 3, second)


# What only a checkpoint can see: every per-aggregate chain still holds afterwards.


def test_removed_aggregate_is_found_by_the_checkpoint(app: Zhibao, ledger: Ledger,
                                                      raw: RawStore) -> None:
    take_checkpoint(app)
    hazard = ledger.hazards[1]
    first, last = raw.position_of(hazard, 1), raw.position_of(hazard, 6)
    raw.delete(hazard)
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.SEAL
    assert found.position is not None and found.position <= first
    assert "removed" in found.detail
    assert verify_without_checkpoints(app, raw).ok, "the chains alone cannot see it"
    assert last > first


def test_cut_off_newest_versions_are_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    take_checkpoint(app)
    hazard = ledger.hazards[0]
    raw.delete(hazard, 6)
    raw.delete(hazard, 5)
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.SEAL and "2 event(s) removed" in \
        found.detail


def test_records_of_two_aggregates_swapped_in_the_log_are_found(app: Zhibao, ledger: Ledger,
                                                                raw: RawStore) -> None:
    take_checkpoint(app)
    last_of_a, first_of_b = (raw.position_of(ledger.hazards[3], 6),
                             raw.position_of(ledger.hazards[4], 1))
    assert last_of_a + 1 == first_of_b  # so both chains stay in order after the swap
    raw.swap_positions(last_of_a, first_of_b)
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.SEAL and "re-ordered" in found.detail


def test_rewritten_and_rechained_aggregate_is_found(app: Zhibao, ledger: Ledger,
                                                    raw: RawStore) -> None:
    sealed = take_checkpoint(app)
    assert sealed is not None
    case = ledger.case
    assert case is not None
    raw.rewrite_and_rechain(case, 2, b'"amount_fen":1500000', b'"amount_fen":150000')
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.SEAL
    assert found.position is not None and found.position <= raw.position_of(case, 2)


def test_doctored_checkpoint_is_found(app: Zhibao, ledger: Ledger, raw: RawStore) -> None:
    take_checkpoint(app)
    state = raw.state(AUDIT_TRAIL_ID, 2)
    digest = unpack_record(state)[2].split(b'"digest":"')[1][:64]
    raw.put_state(AUDIT_TRAIL_ID, 2, state.replace(digest, b"0" * 64))
    found = verify(app).first_break
    assert found is not None and found.kind is BreakKind.TRAIL
    assert (found.aggregate_id, found.version) == (AUDIT_TRAIL_ID, 2)
    assert found.position == raw.position_of(AUDIT_TRAIL_ID, 2)


def test_resealed_forgery_is_found_by_the_anchor(app: Zhibao, ledger: Ledger,
                                                 raw: RawStore) -> None:
    """A forger who rewrites the history AND its checkpoints passes every check inside the
    database; the anchor kept outside it does not."""
    sealed = take_checkpoint(app)
    assert sealed is not None
    raw.delete(AUDIT_TRAIL_ID)
    raw.delete(ledger.hazards[0])
    forged = take_checkpoint(app)
    assert forged is not None and forged.anchor != sealed.anchor
    assert verify(app).ok
    found = verify(app, anchor=sealed.anchor).first_break
    assert found is not None and found.kind is BreakKind.ANCHOR


def verify_without_checkpoints(app: Zhibao, raw: RawStore) -> Any:
    """The same store with its trail removed: only the chains are checked."""
    raw.delete(AUDIT_TRAIL_ID)
    return verify(app)


@pytest.mark.postgres
def test_postgres_position_gaps_change_nothing_but_a_filled_gap_is_found(postgres_url: str,
                                                                          clock: Any) -> None:
    """Rolled-back transactions leave gaps in PostgreSQL's notification ids; a forger could
    slip a record with a valid chain of its own into one."""
    app = open_app(postgres_url, clock)
    raw = RawStore(app)
    try:
        world = build_world(app)
        sequence = raw.run("SELECT pg_get_serial_sequence('{t}', 'notification_id')")[0][0]
        gap = raw.run(f"SELECT nextval('{sequence}')")[0][0]
        general_hazard(world, clock, "chem", 1)
        assert take_checkpoint(app) is not None and verify(app).ok
        forged_id = uuid4()
        payload = unpack_record(raw.state(world.enterprises["mine"], 1))[2]
        topic = raw.topic(world.enterprises["mine"], 1)
        state = pack_record(GENESIS, chain_hash(GENESIS, forged_id, 1, topic, payload), payload)
        raw.run("INSERT INTO {t} (originator_id, originator_version, topic, state, {pos}) "
                "VALUES (?, 1, ?, ?, ?)", forged_id, topic, state, gap)
        found = verify(app).first_break
        assert found is not None and found.kind is BreakKind.SEAL
        assert "1 event(s) added" in found.detail and found.position is not None
        assert found.position <= gap
    finally:
        raw.conn.close()
        app.close()
