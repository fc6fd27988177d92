"""Tamper evidence: checkpoints over the notification log, and the verifier that walks the
store and reports the first broken link.

Two layers, each catching what the other cannot:

- Per-aggregate chains (`infra/store.py`): every event's hash covers its content and its
  predecessor's hash. The verifier recomputes each hash and checks that each version follows
  the previous one earlier in the log. This catches an edited record, a removed or swapped
  version inside an aggregate, and versions re-ordered in the log.
- Checkpoints (`domain/audit.py`): blocks of log positions sealed with a digest over
  "<position>:<chain hash>". This catches what leaves every chain intact: a whole aggregate
  removed, the newest events of an aggregate cut off, records of different aggregates
  swapped in the log, a forged event inserted into a gap of the sealed range, or an
  aggregate rewritten and re-chained. Positions are part of the digest and blocks are
  ranges, so PostgreSQL's gaps (rolled-back transactions) change nothing, and an SQLite rowid
  re-used after the newest sealed row was deleted shows up as a difference.

What neither can stop: someone with write access who knows these rules can rewrite history,
re-chain it and re-seal it. The chain hash of the newest checkpoint (its "anchor") commits to
everything sealed so far; kept outside the database (printed, mailed, in the Parquet
manifest), `verify --anchor` turns such a rewrite into a finding. Events after the newest
checkpoint are only chain-checked, so checkpoints should be taken often (scheduled, and after
each bulk import).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.audit import AUDIT_TRAIL_ID, AuditTrail, SealedBlock
from domain.commands import SealCheckpoint
from infra.intake.service import Zhibao
from infra.store.log import last_position, locate, log_range
from infra.store.records import GENESIS, chain_hash, unpack_record

BLOCK_EVENTS = 4096
"""Events per sealed block: how precisely a checkpoint mismatch is located."""
NOT_SEALED = sys.maxsize
"""`block_last` once the walk is past every sealed block."""
HEADS_KEPT = 200_000
"""Aggregate heads the verifier remembers (bounded memory); older ones are looked up."""
SEALED_TOPIC = get_topic(AuditTrail.CheckpointSealed)

Progress = Callable[[int], None]
"""Called with the last position read after each page."""


class BreakKind(StrEnum):
    ALTERED = "altered"  # the record's hash does not match its content
    BROKEN_LINK = "broken-link"  # prev is not the hash of the previous version
    MISSING = "missing"  # a version of the aggregate is not in the store
    OUT_OF_ORDER = "out-of-order"  # a version appears in the log before its predecessor
    SEAL = "seal"  # a sealed block of positions differs from its checkpoint
    TRAIL = "trail"  # a checkpoint record cannot be read
    ANCHOR = "anchor"  # no checkpoint has the expected chain hash


@dataclass(frozen=True)
class Break:
    """The first broken link: what is wrong, where in the log, in which aggregate."""

    kind: BreakKind
    position: int | None
    aggregate_id: UUID | None
    version: int | None
    detail: str

    def __str__(self) -> str:
        where = [f"position {self.position}"] if self.position is not None else []
        if self.aggregate_id is not None:
            where.append(f"aggregate {self.aggregate_id} version {self.version}")
        return f"{self.kind} at {', '.join(where) or 'the audit trail'}: {self.detail}"


class TamperedError(Exception):
    """A checkpoint refused to seal a record that is already broken."""

    def __init__(self, found: Break) -> None:
        super().__init__(f"nothing sealed — {found}")
        self.found = found


@dataclass(frozen=True)
class Checkpoint:
    number: int
    through_position: int
    events: int
    blocks: int
    anchor: str  # chain hash of the checkpoint record: keep it outside the database


@dataclass(frozen=True)
class Verification:
    events: int
    through_position: int  # the newest position read
    sealed_through: int  # positions up to here were also checked against checkpoints
    checkpoints: int
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _block_digest(entries: bytes) -> str:
    return hashlib.sha256(entries).hexdigest()


def _entry(position: int, digest: bytes) -> bytes:
    return b"%d:%s\n" % (position, digest)


# -- taking checkpoints -----------------------------------------------------------------------


def take_checkpoint(app: Zhibao, progress: Progress | None = None) -> Checkpoint | None:
    """Seal every event recorded since the last checkpoint; None when there is nothing new.

    Each new record's own hash is recomputed first, so an edited record is never sealed.
    Call it after a bulk import or on a schedule. The checkpoint is recorded by zhibao
    itself, through the application service's internal path (`seal_checkpoint`). Two
    concurrent calls cannot both succeed: the trail's optimistic concurrency rejects the
    second (ConflictError).
    """
    trail = _load_trail(app)
    blocks = list(_seal_blocks(app, trail.through_position if trail else 0,
                               last_position(app.recorder), progress))
    if not blocks:
        return None
    return seal_checkpoint(app, tuple(blocks))


def seal_checkpoint(app: Zhibao, blocks: tuple[SealedBlock, ...]) -> Checkpoint:
    """Record a checkpoint over `blocks` as zhibao — the audit trail's one write path."""
    app.record(SealCheckpoint(blocks=blocks))
    trail = _load_trail(app)
    assert trail is not None
    sealed = app.recorder.select_events(AUDIT_TRAIL_ID, desc=True, limit=1)[0]
    return Checkpoint(trail.checkpoints, trail.through_position, sum(b.events for b in blocks),
                      len(blocks), unpack_record(sealed.state)[1])


def _load_trail(app: Zhibao) -> AuditTrail | None:
    try:
        trail = app.repository.get(AUDIT_TRAIL_ID)
    except AggregateNotFoundError:
        return None
    assert isinstance(trail, AuditTrail)
    return trail


def _seal_blocks(app: Zhibao, after: int, through: int,
                 progress: Progress | None) -> Iterator[SealedBlock]:
    """Blocks over (after, through]; none when the range holds only the trail's own records
    (sealing just the previous checkpoint would add a checkpoint per call forever)."""
    entries: list[bytes] = []
    only_trail = True
    for page in log_range(app.recorder, after, through):
        for notification in page:
            only_trail &= notification.originator_id == AUDIT_TRAIL_ID
            entries.append(_entry(notification.id, _checked_hash(notification).encode()))
            if len(entries) == BLOCK_EVENTS:
                yield SealedBlock(notification.id, len(entries), _block_digest(b"".join(entries)))
                entries = []
        if progress:
            progress(page[-1].id)
    if entries and not only_trail:
        yield SealedBlock(through, len(entries), _block_digest(b"".join(entries)))


def _checked_hash(notification: Notification) -> str:
    prev, digest, payload = unpack_record(notification.state)
    if chain_hash(prev, notification.originator_id, notification.originator_version,
                  notification.topic, payload) != digest:
        raise TamperedError(Break(BreakKind.ALTERED, notification.id, notification.originator_id,
                                  notification.originator_version,
                                  "the stored hash does not match the record's content"))
    return digest


# -- verifying ---------------------------------------------------------------------------------


def verify(app: Zhibao, anchor: str | None = None,
           progress: Progress | None = None) -> Verification:
    """Walk the whole log once, in order, with bounded memory; stop at the first break."""
    try:
        blocks = _sealed_blocks(app)
    except _UnreadableTrail as e:
        return Verification(0, 0, 0, 0, e.found)
    walk = _Walk(app, blocks)
    found = walk.run(last_position(app.recorder), progress)
    if found is None and anchor is not None:
        found = _missing_anchor(app, anchor)
    checkpoints, sealed_through = (blocks[-1][0], blocks[-1][1].last_position) if blocks \
        else (0, 0)
    return Verification(walk.events, walk.position, sealed_through, checkpoints, found)


class _UnreadableTrail(Exception):
    def __init__(self, found: Break) -> None:
        self.found = found


def _trail_records(app: Zhibao) -> Iterator[tuple[str, int, bytes]]:
    for stored in app.recorder.select_events(AUDIT_TRAIL_ID):
        yield stored.topic, stored.originator_version, stored.state


def _sealed_blocks(app: Zhibao) -> list[tuple[int, SealedBlock]]:
    """Every sealed block, oldest first, each with its checkpoint's number. The trail's own
    chain is checked first: a doctored checkpoint must not pass for a doctored log."""
    blocks: list[tuple[int, SealedBlock]] = []
    previous = GENESIS
    for topic, version, state in _trail_records(app):
        prev, digest, payload = unpack_record(state)
        if prev != previous or chain_hash(prev, AUDIT_TRAIL_ID, version, topic,
                                          payload) != digest:
            located = locate(app.recorder, AUDIT_TRAIL_ID, version)
            raise _UnreadableTrail(Break(
                BreakKind.TRAIL, located and located[0], AUDIT_TRAIL_ID, version,
                "the checkpoint record was altered or does not follow the previous one"))
        previous = digest
        if topic == SEALED_TOPIC:
            number = blocks[-1][0] + 1 if blocks else 1
            blocks.extend((number, SealedBlock(**block))
                          for block in orjson.loads(payload)["blocks"])
    return blocks


def _missing_anchor(app: Zhibao, anchor: str) -> Break | None:
    for _, _, state in _trail_records(app):
        if unpack_record(state)[1] == anchor:
            return None
    return Break(BreakKind.ANCHOR, None, None, None,
                 f"no checkpoint has the chain hash {anchor}: the sealed history was rewritten "
                 "(or the anchor belongs to another store)")


class _Walk:
    """One pass over the log: chain links per aggregate, and sealed blocks in turn."""

    def __init__(self, app: Zhibao, blocks: list[tuple[int, SealedBlock]]) -> None:
        self.app = app
        self.blocks = blocks
        self.block_index = 0
        self.block_first = 1  # first position the current block covers
        self.block_last = blocks[0][1].last_position if blocks else NOT_SEALED
        self.block_digest = hashlib.sha256()
        self.block_events = 0
        self.heads: dict[str, tuple[int, str]] = {}  # by aggregate id; the oldest goes first
        self.events = 0
        self.position = 0

    def run(self, through: int, progress: Progress | None) -> Break | None:
        for page in log_range(self.app.recorder, 0, through):
            for notification in page:
                if notification.id > self.block_last and (
                        found := self._seal_up_to(notification.id - 1)):
                    return found
                if found := self._check(notification):
                    return found
                self.events += 1
                self.position = notification.id
            if progress:
                progress(self.position)
        return self._seal_up_to(None)

    # chains

    def _check(self, n: Notification) -> Break | None:
        prev, digest, payload = unpack_record(n.state)
        aggregate = str(n.originator_id)  # once: the hash input, and a cheap dictionary key
        version = n.originator_version
        if self.block_last != NOT_SEALED:
            self.block_digest.update(_entry(n.id, digest.encode()))
            self.block_events += 1
        if chain_hash(prev, aggregate, version, n.topic, payload) != digest:
            return self._break(BreakKind.ALTERED, n, "the stored hash does not match the "
                                                     "record's content")
        found = self._check_link(n, aggregate, prev)
        heads = self.heads
        heads.pop(aggregate, None)
        heads[aggregate] = (version, digest)
        if len(heads) > HEADS_KEPT:
            del heads[next(iter(heads))]
        return found

    def _check_link(self, n: Notification, aggregate: str, prev: str) -> Break | None:
        oid, version = n.originator_id, n.originator_version
        assert isinstance(oid, UUID)
        if version == 1:
            return None if prev == GENESIS else self._break(
                BreakKind.BROKEN_LINK, n, "the first version does not start a chain")
        head = self.heads.get(aggregate)
        if head is not None and head[0] >= version:
            return self._break(BreakKind.OUT_OF_ORDER, n, f"version {head[0]} appeared "
                                                         "earlier in the log")
        if head is not None and head[0] == version - 1:
            previous_hash = head[1]
        else:
            located = locate(self.app.recorder, oid, version - 1)
            if located is None:
                return self._break(BreakKind.MISSING, n, f"version {version - 1} is not in "
                                                         "the store")
            if located[0] > n.id:
                return self._break(BreakKind.OUT_OF_ORDER, n, f"version {version - 1} comes "
                                                             f"later, at position {located[0]}")
            previous_hash = located[1]
        if prev != previous_hash:
            return self._break(BreakKind.BROKEN_LINK, n, f"prev does not match the hash of "
                                                        f"version {version - 1}")
        return None

    @staticmethod
    def _break(kind: BreakKind, n: Notification, detail: str) -> Break:
        assert isinstance(n.originator_id, UUID)
        return Break(kind, n.id, n.originator_id, n.originator_version, detail)

    # seals

    def _seal_up_to(self, position: int | None) -> Break | None:
        """Close every sealed block that ends before `position` (None: the end of the log)."""
        while self.block_index < len(self.blocks):
            number, block = self.blocks[self.block_index]
            if position is not None and block.last_position > position:
                self.block_last = block.last_position
                return None
            found = self._compare(number, block)
            if found:
                return found
            self.block_index += 1
            self.block_first = block.last_position + 1
            self.block_digest = hashlib.sha256()
            self.block_events = 0
        self.block_last = NOT_SEALED
        return None

    def _compare(self, number: int, block: SealedBlock) -> Break | None:
        found = self.block_events
        if found == block.events and self.block_digest.hexdigest() == block.digest:
            return None
        first, last = self.block_first, block.last_position
        difference = found - block.events
        what = (f"{-difference} event(s) removed" if difference < 0 else
                f"{difference} event(s) added" if difference > 0 else
                "events re-ordered, moved or rewritten")
        return Break(BreakKind.SEAL, first, None, None,
                     f"positions {first}–{last} differ from checkpoint {number}: "
                     f"{block.events} event(s) sealed, {found} found — {what}")


def describe(verification: Verification) -> dict[str, Any]:
    """A JSON-able summary (for flows and machine readers)."""
    found = verification.first_break
    return {
        "ok": verification.ok, "events": verification.events,
        "through_position": verification.through_position,
        "sealed_through": verification.sealed_through,
        "checkpoints": verification.checkpoints,
        "first_break": None if found is None else {
            "kind": found.kind.value, "position": found.position,
            "aggregate_id": None if found.aggregate_id is None else str(found.aggregate_id),
            "version": found.version, "detail": found.detail},
    }
