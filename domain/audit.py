"""The audit trail: checkpoints that seal the notification log, so that removing, inserting
or re-ordering stored events is detected even where every per-aggregate chain still holds
(a whole aggregate deleted, the last events of an aggregate cut off, two aggregates'
records swapped in the log).

A checkpoint covers the log positions after the previous checkpoint up to `through_position`,
split into blocks of consecutive positions. Each block records how many events it holds and a
SHA-256 over their positions and chain hashes, so a verifier names the block where the log
differs. The checkpoints are themselves events of one aggregate, hash-chained like any other;
the chain hash of the newest checkpoint commits to the whole sealed history and can be copied
elsewhere as an anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, ZhibaoAggregate, require

AUDIT_TRAIL_ID = uuid5(UUID("6f1b3a52-2d7c-4e55-9a57-7a1f0b7f3e01"), "zhibao/audit-trail")
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
        through_position: int
        events: int
        blocks: tuple[SealedBlock, ...]

    def seal(self, ctx: Context, blocks: tuple[SealedBlock, ...]) -> None:
        require(bool(blocks), "blocks", "a checkpoint seals at least one event")
        require(blocks[0].last_position > self.through_position, "blocks",
                f"must start after position {self.through_position}, sealed already")
        self._record(self.CheckpointSealed, ctx, through_position=blocks[-1].last_position,
                     events=sum(block.events for block in blocks), blocks=blocks)

    @when.register
    def _(self, event: AuditTrail.CheckpointSealed) -> None:
        self.through_position = event.through_position
        self.checkpoints += 1
