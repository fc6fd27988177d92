"""The audit trail: signed checkpoints of the log's Merkle tree, so that removing, inserting,
re-ordering or rewriting stored events is detected even where every per-aggregate chain still
holds — and provable to anyone holding an earlier checkpoint, without the database.

A checkpoint (c2sp.org/tlog-checkpoint) commits to the first `tree_size` events of the log,
one Merkle leaf each in log order, through the tree's root hash; its note is signed with a
key kept outside the database. Each checkpoint carries the consistency proof from the one
before it, so whoever saw the earlier one (a county system reading Kafka, a witness) checks
that the log only grew. Checkpoints are events of one aggregate, hash-chained like any other.

Stores sealed before signed checkpoints existed hold `CheckpointSealed` events (blocks of
positions with a digest each); they are still read and checked, and no longer written.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid5

from eventsourcing.dispatch import singledispatchmethod

from domain.base import EVENT_ID_NAMESPACE, Context, ZhibaoAggregate, require

AUDIT_TRAIL_ID = uuid5(EVENT_ID_NAMESPACE, "zhibao/audit-trail")
"""There is one trail per store, so its id is fixed."""


@dataclass(frozen=True)
class SealedBlock:
    """Positions after the previous block's `last_position` up to this one's."""

    last_position: int
    events: int
    digest: str  # SHA-256 hex over "<position>:<chain hash>\n" of each event, in log order


class AuditTrail(ZhibaoAggregate):
    def __init__(self, unit_code: str) -> None:
        self.unit_code = unit_code
        self.through_position = 0
        self.checkpoints = 0
        self.origin: str | None = None  # the log's name, fixed by its first signed checkpoint
        self.tree_size = 0
        self.root_hash = ""

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class AuditTrailStarted(ZhibaoAggregate.Created):
        pass

    @classmethod
    def start(cls, ctx: Context) -> AuditTrail:
        return cls._start(cls.AuditTrailStarted, ctx, AUDIT_TRAIL_ID, ctx.org.unit_code,
                          ctx.recorded_at)

    class CheckpointSealed(Event):
        """Written by stores before signed checkpoints (read, never written now)."""

        through_position: int
        events: int
        blocks: tuple[SealedBlock, ...]

    @when.register
    def _(self, event: AuditTrail.CheckpointSealed) -> None:
        self.through_position = event.through_position
        self.checkpoints += 1

    class CheckpointSigned(Event):
        origin: str
        tree_size: int
        root_hash: str  # hex
        through_position: int  # the log position of the tree's last leaf
        previous_size: int  # the tree size of the checkpoint before (0: none)
        consistency: tuple[str, ...]  # hex hashes proving this tree extends that one
        note: str  # the signed checkpoint (c2sp.org/tlog-checkpoint)

    def sign(self, ctx: Context, origin: str, tree_size: int, root_hash: str,
             through_position: int, consistency: tuple[str, ...], note: str) -> None:
        require(self.origin in (None, origin), "origin",
                f"this store's log is {self.origin!r}; a checkpoint of {origin!r} is another log",
                "AUDIT-LOG")
        require(tree_size > self.tree_size, "tree_size",
                f"must be above {self.tree_size}, the size already checkpointed",
                "AUDIT-SIZE")
        require(bool(consistency) == (self.tree_size > 0), "consistency",
                "a checkpoint after another carries the proof that it extends it", "AUDIT-LOG")
        self._record(self.CheckpointSigned, ctx, origin=origin, tree_size=tree_size,
                     root_hash=root_hash, through_position=through_position,
                     previous_size=self.tree_size, consistency=consistency, note=note)

    @when.register
    def _(self, event: AuditTrail.CheckpointSigned) -> None:
        self.origin = event.origin
        self.tree_size = event.tree_size
        self.root_hash = event.root_hash
        self.through_position = max(self.through_position, event.through_position)
        self.checkpoints += 1
