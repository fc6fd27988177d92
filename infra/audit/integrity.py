"""Verifying a store (`zhibao audit verify`): one walk over the whole log, in order, with
bounded memory, that stops at the first broken link.

Three layers, each catching what the others cannot:

- Per-aggregate chains (`infra/store/records.py`): every event's hash covers its content and
  its predecessor's hash. Each hash is recomputed and each version must follow the previous
  one earlier in the log: an edited record, a removed or swapped version inside an
  aggregate, versions re-ordered in the log.
- The Merkle tree (`infra/audit/tree.py`) is rebuilt from the events and compared, tile by
  tile, with the tree stored when checkpoints were taken, and its root with every signed
  checkpoint at that checkpoint's size: what leaves every chain intact — a whole aggregate
  removed, the newest events of an aggregate cut off, records swapped in the log, a forged
  event slipped into a gap, an aggregate rewritten and re-chained. Each checkpoint's
  signature is checked with the trusted keys (`infra/audit/checkpoints.py`).
- Checkpoints kept outside the store (`infra/audit/anchors.py`, or given by the auditor):
  the store must hold each and its events must still hash to each root. Someone with write
  access could re-seal a rewritten store — but not with the signing key, and not the copies
  kept elsewhere; deleting the audit trail, or the tree, is found the same way.

Stores sealed before signed checkpoints carry `CheckpointSealed` blocks (a digest over
"<position>:<chain hash>" per block of positions); they are still compared, and a legacy
anchor (the chain hash of such a record) is still accepted.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic

from domain.audit import AUDIT_TRAIL_ID, AuditTrail, SealedBlock
from infra.audit.anchors import Anchor, newest_anchors
from infra.audit.checkpoints import (
    SIGNED_TOPIC,
    SignedCheckpoint,
    TamperedError,
    signing_keys,
    take_checkpoint,
    trusted_keys,
)
from infra.audit.keys import KeyFileError
from infra.audit.pages import (
    Break,
    BreakKind,
    CheckedPage,
    Head,
    Link,
    checked_pages,
    event_break,
    link_break,
    needs_lookup,
)
from infra.audit.tree import TILE_WIDTH, MerkleTree, Tile, TreeBuilder
from infra.audit.verifier import (
    HASH_SIZE,
    ProofError,
    VerifierKey,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
)
from infra.intake.service import Zhibao
from infra.store.log import PAGE, Version, first_from, last_position, locate, locate_many
from infra.store.records import GENESIS, DamagedRecord, chain_hash, unpack_record

NOT_SEALED = sys.maxsize
"""`block_last` once the walk is past every legacy sealed block."""
HEADS_KEPT = 200_000
"""Aggregate heads the verifier remembers from one page to the next (bounded memory); a link
to an older one is checked against the previous version looked up, a page's in one query
(`_Walk._predecessors`)."""
PARALLEL_FROM = 200_000
"""Logs at least this long have their pages checked by worker processes (`infra.audit.pages`).
Two start in ~0.5 s and the walk then takes a quarter more CPU in all (at 1.2M events, 12.5 s
instead of 10; shipping the pages back): on two free cores it pays from ~160k events."""
SEALED_TOPIC = get_topic(AuditTrail.CheckpointSealed)

Progress = Callable[[int], None]
"""Called with the last position read after each page."""


@dataclass(frozen=True)
class Verification:
    events: int
    through_position: int  # the newest position read
    tree_size: int  # leaves of the stored tree, each compared with the log
    checkpoints: int  # signed (and legacy) checkpoints found and compared
    signatures_checked: bool  # whether trusted keys were at hand for the signatures
    anchors: tuple[str, ...]  # where the outside checkpoints compared came from
    first_break: Break | None
    pages_in_workers: int = 0  # pages checked by worker processes (a long log's)

    @property
    def ok(self) -> bool:
        return self.first_break is None


@dataclass(frozen=True)
class _Signed:
    number: int
    position: int
    version: int
    size: int
    root: bytes


class _Stop(Exception):
    def __init__(self, found: Break) -> None:
        self.found = found


def verify(app: Zhibao, anchor: str | None = None, progress: Progress | None = None,
           anchors: tuple[Anchor, ...] = (), keys: tuple[VerifierKey, ...] = ()
           ) -> Verification:
    """Walk the whole log once, in order, with bounded memory; stop at the first break.
    `anchors` are checkpoints an auditor kept; `anchor`, for a store sealed before signed
    checkpoints, the chain hash of one of its CheckpointSealed records."""
    trusted = trusted_keys(app.settings, keys)
    try:
        trail = _Trail(app, trusted)
    except _Stop as stop:
        return Verification(0, 0, 0, 0, bool(trusted), (), stop.found)
    origin = trail.origin or _key_name(app)
    outside = newest_anchors(app.settings, origin, anchors) if origin else list(anchors)
    tree = MerkleTree(app.recorder)
    walk = _Walk(app, trail, tree, outside)
    found = walk.run(last_position(app.recorder), progress)
    if found is None and anchor is not None:
        found = trail.legacy_anchor(anchor)
    return Verification(walk.events, walk.position, walk.stored_size,
                        len(trail.signed) + trail.legacy_checkpoints, bool(trusted),
                        tuple(a.source for a in outside), found, walk.pages_in_workers)


def _key_name(app: Zhibao) -> str | None:
    """The log's name by its signing key, for a store whose trail names none (yet, or any
    more)."""
    try:
        return signing_keys(app.settings).signers[0].name
    except KeyFileError:
        return None


class _Trail:
    """The audit trail's records, read before the walk: its own chain checked first (a
    doctored checkpoint must not pass for a doctored log), signatures verified."""

    def __init__(self, app: Zhibao, keys: list[VerifierKey]) -> None:
        self.app = app
        self.blocks: list[tuple[int, SealedBlock]] = []  # legacy, with checkpoint numbers
        self.legacy_checkpoints = 0
        self.signed: list[_Signed] = []
        self.origin: str | None = None
        self.hashes: list[str] = []
        previous = GENESIS
        for stored in app.recorder.select_events(AUDIT_TRAIL_ID):
            version = stored.originator_version
            try:
                prev, digest, payload = unpack_record(stored.state)
            except DamagedRecord:
                raise _Stop(self._break(BreakKind.TRAIL, version, "the checkpoint record is "
                                        "empty or cut short")) from None
            if prev != previous or chain_hash(prev, AUDIT_TRAIL_ID, version, stored.topic,
                                              payload) != digest:
                raise _Stop(self._break(BreakKind.TRAIL, version, "the checkpoint record was "
                                        "altered or does not follow the previous one"))
            previous = digest
            self.hashes.append(digest)
            if stored.topic == SEALED_TOPIC:
                self.legacy_checkpoints += 1
                self.blocks.extend((self.legacy_checkpoints, SealedBlock(**block))
                                   for block in orjson.loads(payload)["blocks"])
            elif stored.topic == SIGNED_TOPIC:
                self._signed(version, orjson.loads(payload), keys)

    def _break(self, kind: BreakKind, version: int, detail: str) -> Break:
        located = locate(self.app.recorder, AUDIT_TRAIL_ID, version)
        return Break(kind, located and located[0], AUDIT_TRAIL_ID, version, detail)

    def _signed(self, version: int, payload: dict[str, Any], keys: list[VerifierKey]) -> None:
        number = len(self.signed) + 1
        note = payload["note"]
        try:
            origin, size, root = parse_checkpoint(parse_note(note).text)
            if keys:
                open_checkpoint(note, keys)
        except ProofError as e:
            raise _Stop(self._break(BreakKind.SIGNATURE, version,
                                    f"checkpoint {number}: {e}")) from None
        if (origin, size, root.hex()) != (payload["origin"], payload["tree_size"],
                                          payload["root_hash"]):
            raise _Stop(self._break(BreakKind.TRAIL, version, f"checkpoint {number}'s fields "
                                    "differ from its signed note"))
        self.origin = origin
        position = locate(self.app.recorder, AUDIT_TRAIL_ID, version)
        self.signed.append(_Signed(number, position[0] if position else 0, version, size, root))

    def legacy_anchor(self, anchor: str) -> Break | None:
        if anchor in self.hashes:
            return None
        return Break(BreakKind.ANCHOR, None, None, None,
                     f"no checkpoint has the chain hash {anchor}: the sealed history was "
                     "rewritten (or the anchor belongs to another store)")


class _Walk:
    """One pass over the log: chain links per aggregate, the rebuilt tree against the stored
    one and the checkpoints, and legacy sealed blocks in turn."""

    def __init__(self, app: Zhibao, trail: _Trail, tree: MerkleTree,
                 outside: list[Anchor]) -> None:
        self.app = app
        self.trail = trail
        self.tree = tree
        self.stored_size = tree.size()
        self.builder = TreeBuilder()
        self.stored: dict[int, Tile] = {}  # level-0 tiles stored for the current page's leaves
        self.stored_span = range(0)  # the indexes `stored` was read for
        self.outside = outside
        self.targets = sorted({s.size for s in trail.signed} | {a.size for a in outside})
        self.target_index = 0
        self.heads: dict[str, tuple[int, str]] = {}  # by aggregate id; the oldest goes first
        self.predecessors: dict[tuple[str, int], tuple[int, str] | None] = {}  # of the page
        self.pages_in_workers = 0
        self.events = 0
        self.position = 0
        blocks = trail.blocks
        self.block_index = 0
        self.block_first = 1  # first position the current legacy block covers
        self.block_last = blocks[0][1].last_position if blocks else NOT_SEALED
        self.block_digest = hashlib.sha256()
        self.block_events = 0

    def run(self, through: int, progress: Progress | None) -> Break | None:
        blocks = self.trail.blocks
        sealed_through = blocks[-1][1].last_position if blocks else 0
        pages = checked_pages(self.app.recorder, self.app.settings.database_url, through, PAGE,
                              sealed_through, PARALLEL_FROM)
        try:
            with closing(pages):  # workers stopped at once at a break
                for page in pages:
                    self.pages_in_workers += page.by_worker
                    self.predecessors = self._predecessors(page.links)
                    self._page(page)
                    self._forget_oldest_heads()
                    if progress:
                        progress(self.position)
            self._end()
        except _Stop as stop:
            return stop.found
        except DamagedRecord:  # a store that cannot even read the record back (PostgreSQL)
            return self._damaged_after(self.position)
        return None

    def _predecessors(self, links: list[Link]) -> dict[tuple[str, int], tuple[int, str] | None]:
        """The previous versions the page's links to earlier pages need that no remembered
        head holds, looked up in one query (None: not in the store). A province-year has more
        live aggregates than `HEADS_KEPT`; a query per such link kept its verify under 0.08
        of the raw read."""
        heads = self.heads
        wanted = [(aggregate, version - 1) for _, aggregate, version, _, head in links
                  if needs_lookup(version, heads.get(aggregate) if head is None else head)]
        keys: list[Version] = [(UUID(aggregate), version) for aggregate, version in wanted]
        found = locate_many(self.app.recorder, keys)
        return {previous: found.get(key) for previous, key in zip(wanted, keys, strict=True)}

    def _forget_oldest_heads(self) -> None:
        """Keep `HEADS_KEPT` heads, the most recently seen, between pages (within a page
        every head is kept, so no link inside a page is ever looked up)."""
        for aggregate in list(islice(self.heads, max(0, len(self.heads) - HEADS_KEPT))):
            del self.heads[aggregate]

    def _damaged_after(self, position: int) -> Break:
        """The first record after `position` that cannot be read, found one at a time."""
        recorder = self.app.recorder
        while True:
            try:
                page = recorder.select_notifications(start=position, limit=1,
                                                     inclusive_of_start=False)
            except DamagedRecord:
                return Break(BreakKind.ALTERED, None, None, None,
                             f"the record after position {position} is empty or cut short")
            position = page[0].id

    def _page(self, page: CheckedPage) -> None:
        """A checked page's legacy sealed blocks and links to earlier pages, then its leaves
        into the tree. The first break among them (in log order; in one event, a sealed
        block's before its link) is raised only once the leaves before it are in the tree and
        compared: the tree, or a checkpoint, may break earlier in the log, and the first
        break is the one reported."""
        problem = None if page.problem is None else (len(page.leaves), page.problem)
        found = min((found for found in (self._sealed(page), self._linked(page), problem)
                     if found is not None), key=lambda found: found[0], default=None)
        if found is None:
            self._grow(page.leaves)
            self._remember(page.heads)
            return
        before, first = found
        self._grow(page.leaves[:before])
        raise _Stop(first)

    def _remember(self, heads: list[tuple[str, Head]]) -> None:
        """The page's newest version of each aggregate, in the order the page left them."""
        remembered = self.heads
        for aggregate, head in heads:
            remembered.pop(aggregate, None)  # re-inserted: the newest goes last
            remembered[aggregate] = head

    def _grow(self, leaves: list[tuple[int, bytes]]) -> None:
        """Add `leaves` to the rebuilt tree in runs that end where a tile fills or a
        checkpoint's size is reached, and compare there: every comparison sees the tree (and
        counts the events) as it stood after that very leaf."""
        if not leaves:
            return
        builder = self.builder
        self._read_stored(builder.size, len(leaves))
        start = 0
        while start < len(leaves):
            end = start + TILE_WIDTH - builder.size % TILE_WIDTH
            if self.target_index < len(self.targets) and \
                    self.targets[self.target_index] > builder.size:
                end = min(end, start + self.targets[self.target_index] - builder.size)
            run = leaves[start:end]
            builder.extend(run)
            self.events += len(run) - 1  # a break at the run's last leaf leaves it uncounted
            if len(run) > 1:
                self.position = run[-2][0]
            if builder.finished:
                self._compare_tiles(builder.finished)
                builder.finished.clear()
            while self.target_index < len(self.targets) and \
                    self.targets[self.target_index] == builder.size:
                self._compare_roots(builder.size, builder.root())
                self.target_index += 1
            self.events += 1
            self.position = run[-1][0]
            start = end

    def _read_stored(self, size: int, leaves: int) -> None:
        """The stored level-0 tiles a page's `leaves` added after `size` fill or reach, in
        one query."""
        first, last = size // TILE_WIDTH, (size + leaves - 1) // TILE_WIDTH
        self.stored = self.tree.tiles.read_range(0, first, last)
        self.stored_span = range(first, last + 1)

    def _stored_tile(self, level: int, index: int) -> Tile | None:
        if level == 0 and index in self.stored_span:
            return self.stored.get(index)
        return self.tree.tiles.read(level, index)

    def _end(self) -> None:
        self._seal_up_to(None)
        self._compare_tiles(self.builder.unfinished())
        size = self.builder.size
        if self.stored_size > size:
            raise _Stop(Break(BreakKind.TREE, None, None, None,
                              f"the stored tree holds {self.stored_size:,} leaves, the log "
                              f"only {size:,} events: events were removed at its end"))
        if self.stored_size and not self.trail.signed and not self.trail.legacy_checkpoints:
            raise _Stop(Break(BreakKind.TRAIL, None, None, None,
                              f"the tree holds {self.stored_size:,} leaves, so checkpoints "
                              "were taken, but the store holds none: the audit trail was "
                              "removed"))
        for anchor in self.outside:
            if anchor.size > size:
                raise _Stop(Break(BreakKind.ANCHOR, None, None, None,
                                  f"the log has {size:,} events, fewer than the {anchor.size:,} "
                                  f"of the checkpoint kept in {anchor.source}: events were "
                                  "removed"))
            if not any((s.size, s.root) == (anchor.size, anchor.root)
                       for s in self.trail.signed):
                raise _Stop(Break(BreakKind.ANCHOR, None, None, None,
                                  f"the checkpoint of {anchor.size:,} leaves kept in "
                                  f"{anchor.source} is not in the store: checkpoints were "
                                  "removed from it"))

    # chains

    def _linked(self, page: CheckedPage) -> tuple[int, Break] | None:
        """The page's links to earlier pages, in log order: the first broken, with its index
        in the page. A link that follows its remembered head is checked inline."""
        heads, leaves = self.heads, page.leaves
        for index, aggregate, version, prev, head in page.links:
            if head is None:
                head = heads.get(aggregate)
                if head is not None and head[0] == version - 1 and head[1] == prev:
                    continue
            found = self._link_break(leaves[index][0], aggregate, version, prev, head)
            if found is not None:
                return index, found
        return None

    def _link_break(self, position: int, aggregate: str, version: int, prev: str,
                    head: Head | None) -> Break | None:
        """What is wrong with the link of an event to the previous version of its aggregate,
        given the aggregate's head before this event — looked up when that cannot tell."""
        if needs_lookup(version, head):
            located = self.predecessors[aggregate, version - 1]
            if located is None:
                return event_break(BreakKind.MISSING, position, aggregate, version,
                                   f"version {version - 1} is not in the store")
            if located[0] > position:
                return event_break(BreakKind.OUT_OF_ORDER, position, aggregate, version,
                                   f"version {version - 1} comes later, at position "
                                   f"{located[0]}")
            head = version - 1, located[1]
        found = link_break(version, prev, head)
        return None if found is None else event_break(found[0], position, aggregate, version,
                                                      found[1])

    # the tree and the checkpoints

    def _compare_tiles(self, tiles: list[Tile]) -> None:
        """Each rebuilt tile against the stored one, as far as the stored tree reaches."""
        for tile in tiles:
            stored = self._stored_tile(tile.level, tile.index)
            if stored is None:
                continue  # beyond the stored tree: nothing was committed there yet
            width = min(stored.width, tile.width)
            if stored.hashes[:width * HASH_SIZE] != tile.hashes[:width * HASH_SIZE] or (
                    tile.level == 0 and (stored.positions or b"")[:width * 8]
                    != (tile.positions or b"")[:width * 8]):
                raise _Stop(self._tile_break(tile, stored))

    def _tile_break(self, tile: Tile, stored: Tile) -> Break:
        if tile.level > 0:
            return Break(BreakKind.TREE, None, None, None,
                         f"the stored tree's tile {tile.level}/{tile.index} was altered")
        offset = next(i for i in range(min(stored.width, tile.width))
                      if stored.hashes[i * HASH_SIZE:(i + 1) * HASH_SIZE]
                      != tile.hashes[i * HASH_SIZE:(i + 1) * HASH_SIZE]
                      or stored.position(i) != tile.position(i))
        index = tile.index * TILE_WIDTH + offset
        position = tile.position(offset)
        here = first_from(self.app.recorder, position)  # the event just read there
        detail = (f"the event here is not the one the tree committed to as leaf {index} (at "
                  f"position {stored.position(offset)}): rewritten, removed, inserted or moved")
        if here is None or here.id != position:
            return Break(BreakKind.TREE, position, None, None, detail)
        assert isinstance(here.originator_id, UUID)
        return Break(BreakKind.TREE, position, here.originator_id, here.originator_version,
                     detail)

    def _compare_roots(self, size: int, root: bytes) -> None:
        """At a checkpoint's size: the leaves so far against the stored tree first (it names
        the event that differs), then the root against the signed one."""
        self._compare_tiles(self.builder.unfinished()[:1])
        for signed in self.trail.signed:
            if signed.size == size and signed.root != root:
                raise _Stop(Break(
                    BreakKind.CHECKPOINT, self.position, None, None,
                    f"the first {size:,} events no longer hash to the root signed in checkpoint "
                    f"{signed.number} (at position {signed.position}): events up to here were "
                    "rewritten, removed, inserted or re-ordered"))
        for anchor in self.outside:
            if anchor.size == size and anchor.root != root:
                raise _Stop(Break(
                    BreakKind.ANCHOR, self.position, None, None,
                    f"the first {size:,} events no longer hash to the root of the checkpoint "
                    f"kept in {anchor.source}: the log was rewritten"))

    # legacy sealed blocks

    def _sealed(self, page: CheckedPage) -> tuple[int, Break] | None:
        """The page's events counted into their legacy sealed block, each block compared
        once the log passes its end: the first that differs, with the index in the page of
        the event after it."""
        if self.block_last == NOT_SEALED:
            return None
        positions = [position for position, _ in page.leaves]
        if page.problem is not None:
            positions.append(page.problem.position or 0)
        for index, position in enumerate(positions):
            if position > self.block_last:
                try:
                    self._seal_up_to(position - 1)
                except _Stop as stop:
                    return index, stop.found
            if self.block_last == NOT_SEALED or index == len(page.leaves):
                return None
            self.block_digest.update(b"%d:%s\n" % (position, page.digests[index].encode()))
            self.block_events += 1
        return None

    def _seal_up_to(self, position: int | None) -> None:
        """Close every legacy block that ends before `position` (None: the end of the log)."""
        blocks = self.trail.blocks
        while self.block_index < len(blocks):
            number, block = blocks[self.block_index]
            if position is not None and block.last_position > position:
                self.block_last = block.last_position
                return
            self._compare_block(number, block)
            self.block_index += 1
            self.block_first = block.last_position + 1
            self.block_digest = hashlib.sha256()
            self.block_events = 0
        self.block_last = NOT_SEALED

    def _compare_block(self, number: int, block: SealedBlock) -> None:
        found = self.block_events
        if found == block.events and self.block_digest.hexdigest() == block.digest:
            return
        first, last = self.block_first, block.last_position
        difference = found - block.events
        what = (f"{-difference} event(s) removed" if difference < 0 else
                f"{difference} event(s) added" if difference > 0 else
                "events re-ordered, moved or rewritten")
        raise _Stop(Break(BreakKind.SEAL, first, None, None,
                          f"positions {first}–{last} differ from checkpoint {number}: "
                          f"{block.events} event(s) sealed, {found} found — {what}"))


def verify_then_checkpoint(app: Zhibao, progress: Progress | None = None,
                           anchors: tuple[Anchor, ...] = ()
                           ) -> tuple[Verification, SignedCheckpoint | None]:
    """Verify the store and, only if it is intact, take a checkpoint (`audit checkpoint`
    and the scheduled audit). TamperedError, nothing signed, when verification fails."""
    verification = verify(app, progress=progress, anchors=anchors)
    if not verification.ok:
        raise TamperedError(f"nothing signed — the store fails verification: "
                            f"{verification.first_break}")
    return verification, take_checkpoint(app, anchors=anchors)


def describe(verification: Verification) -> dict[str, Any]:
    """A JSON-able summary (for flows and machine readers)."""
    found = verification.first_break
    return {
        "ok": verification.ok, "events": verification.events,
        "through_position": verification.through_position,
        "tree_size": verification.tree_size, "checkpoints": verification.checkpoints,
        "signatures_checked": verification.signatures_checked,
        "anchors": list(verification.anchors),
        "first_break": None if found is None else {
            "kind": found.kind.value, "position": found.position,
            "aggregate_id": None if found.aggregate_id is None else str(found.aggregate_id),
            "version": found.version, "detail": found.detail},
    }
