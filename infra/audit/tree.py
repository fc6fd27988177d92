"""The log's Merkle tree (RFC 9162 §2.1) in the store's own database: one leaf per stored
event in log order (`infra.audit.verifier.event_leaf`), appended as the log grows and read
for proofs without scanning the log.

Storage follows the tiles of c2sp.org/tlog-tiles: the hashes of tree levels 0, 8, 16, … are
kept in rows of up to 256 consecutive hashes (`zhibao_merkle_tiles`: level, tile, hashes), and
the levels in between are recomputed from one tile when a proof needs them (at most 255
hashes). Level-0 tiles also keep each leaf's log position: the leaf index is the log order of
what is stored, and positions may have gaps (PostgreSQL's ids of rolled-back transactions).
Appending a leaf costs its hash, on average one node hash and a share of a tile row —
O(log n) — written in one short transaction per chunk of leaves.
"""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from infra.audit.verifier import EMPTY_ROOT, HASH_SIZE, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
TILE_BYTES = TILE_WIDTH * HASH_SIZE
TABLE = "zhibao_merkle_tiles"
POSITIONS_INDEX = "zhibao_merkle_tiles_positions"


class TreeRaced(Exception):
    """Another process appended to the tree meanwhile; load it again and retry."""


@dataclass(frozen=True)
class Tile:
    level: int  # tile level: holds hashes of tree level 8 × level
    index: int
    hashes: bytes  # up to 256 hashes of 32 bytes, left to right
    positions: bytes | None = None  # level 0: each leaf's log position, 8 bytes big-endian

    @property
    def width(self) -> int:
        return len(self.hashes) // HASH_SIZE

    def position(self, offset: int) -> int:
        assert self.positions is not None
        return int.from_bytes(self.positions[offset * 8:offset * 8 + 8], "big")


def perfect_root(hashes: list[bytes]) -> bytes:
    """The root over a power-of-two number of consecutive node hashes."""
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def pack_positions(positions: list[int]) -> bytes:
    return struct.pack(f">{len(positions)}Q", *positions)


def split(size: int) -> int:
    """The largest power of two smaller than `size` (RFC 9162's k)."""
    return 1 << ((size - 1).bit_length() - 1)


@dataclass
class TreeBuilder:
    """The right edge of a tree being appended to, in memory: the roots of its perfect
    subtrees (what the root and the next nodes are made of) and its unfinished tiles.
    Finished tiles collect in `finished` for the caller to store or compare."""

    size: int = 0
    stack: list[bytes] = field(default_factory=list)  # perfect subtree roots, left to right
    partial: list[bytearray] = field(default_factory=lambda: [bytearray()])  # per tile level
    positions: list[int] = field(default_factory=list)  # of partial[0]'s leaves
    finished: list[Tile] = field(default_factory=list)

    def add(self, position: int, leaf: bytes) -> None:
        """Append one leaf hash at log position `position`."""
        self.extend(((position, leaf),))

    def extend(self, leaves: Iterable[tuple[int, bytes]]) -> None:
        """Append (position, leaf hash) pairs: each costs its share of a tile and, on
        average, one node hash (the loop is the hot path of a catch-up)."""
        sha256, stack, size = hashlib.sha256, self.stack, self.size
        tile, positions = self.partial[0], self.positions
        for position, node in leaves:
            tile += node
            positions.append(position)
            if len(tile) == TILE_BYTES:
                self.size = size
                self._finish(0)
                tile, positions = self.partial[0], self.positions
            n, height = size, 0
            while n & 1:
                node = sha256(b"\x01" + stack.pop() + node).digest()
                height += 1
                n >>= 1
                if not height % TILE_HEIGHT:
                    self.size = size
                    self._push(height // TILE_HEIGHT, node)
            stack.append(node)
            size += 1
        self.size = size

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        root = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            root = node_hash(left, root)
        return root

    def unfinished(self) -> list[Tile]:
        """The tiles not yet full, as they stand."""
        return [Tile(level, self._nodes(level) // TILE_WIDTH, bytes(hashes),
                     pack_positions(self.positions) if level == 0 else None)
                for level, hashes in enumerate(self.partial) if hashes]

    def _nodes(self, level: int) -> int:
        """How many hashes tree level 8 × `level` holds."""
        return self.size >> (TILE_HEIGHT * level) if level else self.size

    def _push(self, level: int, node: bytes) -> None:
        if level == len(self.partial):
            self.partial.append(bytearray())
        self.partial[level] += node
        if len(self.partial[level]) == TILE_BYTES:
            self._finish(level)

    def _finish(self, level: int) -> None:
        """A tile has just filled: hand it over and start the next. Called while a leaf is
        added, before `size` counts it: the level then holds one node more than `size` says."""
        nodes = self._nodes(level) + 1
        hashes = bytes(self.partial[level])
        positions = pack_positions(self.positions) if level == 0 else None
        self.finished.append(Tile(level, (nodes - 1) // TILE_WIDTH, hashes, positions))
        self.partial[level] = bytearray()
        if level == 0:
            self.positions = []


class TileStore:
    """`zhibao_merkle_tiles` in the store's database (SQLite or PostgreSQL)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.sqlite = isinstance(recorder, SQLiteApplicationRecorder)
        datastore: Any = recorder.datastore  # type: ignore[attr-defined]
        self.datastore = datastore
        if not self._exists():
            self._create()

    def _exists(self) -> bool:
        with self.datastore.transaction(commit=False) as cursor:
            if self.sqlite:
                cursor.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,))
            else:
                cursor.execute("SELECT to_regclass(%s) AS found",
                               (f'"{self.datastore.schema}".{TABLE}',))
            row = cursor.fetchone()
        return row is not None and (self.sqlite or row["found"] is not None)

    def _create(self) -> None:
        """Processes starting at once on PostgreSQL take turns (an advisory lock): its DDL
        run side by side fails ("tuple concurrently updated")."""
        with self.datastore.transaction(commit=True) as cursor:
            if not self.sqlite:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                               (f"zhibao-ddl:{self.datastore.schema}.{TABLE}",))
            cursor.execute(self._sql(
                "CREATE TABLE IF NOT EXISTS {table} (level INTEGER NOT NULL, tile BIGINT NOT "
                "NULL, hashes {blob} NOT NULL, positions {blob}, last_position BIGINT, "
                "PRIMARY KEY (level, tile))"))
            cursor.execute(self._sql(
                "CREATE INDEX IF NOT EXISTS {index} ON {table} (last_position) "
                "WHERE level = 0"))
            if not self.sqlite:  # hashes do not compress: spare PostgreSQL's attempts
                cursor.execute(self._sql("ALTER TABLE {table} ALTER COLUMN hashes SET STORAGE "
                                         "EXTERNAL, ALTER COLUMN positions SET STORAGE "
                                         "EXTERNAL"))

    def _sql(self, statement: str) -> Any:
        if self.sqlite:
            return statement.format(table=TABLE, index=POSITIONS_INDEX,
                                    blob="BLOB").replace("%s", "?")
        return SQL(statement.replace("{blob}", "BYTEA")).format(  # type: ignore[arg-type]
            table=Identifier(self.datastore.schema, TABLE), index=Identifier(POSITIONS_INDEX))

    def _fetch(self, statement: str, params: tuple[Any, ...]) -> Tile | None:
        found = self._fetch_all(statement, params)
        return found[0] if found else None

    def _fetch_all(self, statement: str, params: tuple[Any, ...]) -> list[Tile]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._sql(statement), params)
            rows = cursor.fetchall()
        return [Tile(row["level"], row["tile"], bytes(row["hashes"]),
                     None if row["positions"] is None else bytes(row["positions"]))
                for row in rows]

    def read(self, level: int, index: int) -> Tile | None:
        return self._fetch("SELECT level, tile, hashes, positions FROM {table} "
                           "WHERE level = %s AND tile = %s", (level, index))

    def read_range(self, level: int, first: int, last: int) -> dict[int, Tile]:
        """The stored tiles `first`…`last` of `level`, by index, in one query (a verifier
        compares a page's worth of tiles: a query each cost a round trip each)."""
        return {tile.index: tile for tile in self._fetch_all(
            "SELECT level, tile, hashes, positions FROM {table} "
            "WHERE level = %s AND tile >= %s AND tile <= %s", (level, first, last))}

    def last(self) -> Tile | None:
        """The newest level-0 tile: the tree's size and last position are in it."""
        return self._fetch("SELECT level, tile, hashes, positions FROM {table} WHERE level = 0 "
                           "ORDER BY tile DESC LIMIT 1", ())

    def holding(self, position: int) -> Tile | None:
        """The level-0 tile whose leaves' positions reach `position` first."""
        return self._fetch("SELECT level, tile, hashes, positions FROM {table} WHERE level = 0 "
                           "AND last_position >= %s ORDER BY last_position LIMIT 1",
                           (position,))

    @contextmanager
    def writing(self) -> Iterator[Any]:
        """A transaction holding the tree's write lock (one appender at a time)."""
        if self.sqlite:
            with self.datastore.get_connection(commit=True) as connection:
                cursor = connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                except BaseException:
                    connection.rollback()
                    raise
                connection.commit()
            return
        with self.datastore.get_connection() as connection, connection.transaction(), \
                connection.cursor() as cursor:
            cursor.execute(self._sql("LOCK TABLE {table} IN EXCLUSIVE MODE"))
            yield cursor

    def size_within(self, cursor: Any) -> int:
        cursor.execute(self._sql("SELECT tile, hashes FROM {table} WHERE level = 0 "
                                 "ORDER BY tile DESC LIMIT 1"))
        row = cursor.fetchone()
        return 0 if row is None else row["tile"] * TILE_WIDTH + len(row["hashes"]) // HASH_SIZE

    def write(self, cursor: Any, tiles: Iterable[Tile]) -> None:
        rows = [(tile.level, tile.index, tile.hashes, tile.positions,
                 tile.position(tile.width - 1) if tile.positions else None) for tile in tiles]
        cursor.executemany(self._sql(
            "INSERT INTO {table} (level, tile, hashes, positions, last_position) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (level, tile) DO UPDATE SET "
            "hashes = excluded.hashes, positions = excluded.positions, "
            "last_position = excluded.last_position"), rows)


class MerkleTree:
    """Reading and appending the stored tree. Tiles read are kept: the tree only grows, so a
    hash once read never changes (a tile read while partial is read again when a hash
    beyond it is needed)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.tiles = TileStore(recorder)
        self._cache: dict[tuple[int, int], Tile] = {}
        self._roots: dict[tuple[int, int], bytes] = {}  # subtrees of 256+ leaves: shared

    # -- reading

    def size(self) -> int:
        last = self.tiles.last()
        return 0 if last is None else last.index * TILE_WIDTH + last.width

    def last_position(self) -> int:
        last = self.tiles.last()
        return 0 if last is None else last.position(last.width - 1)

    def _tile(self, level: int, index: int, width: int) -> Tile:
        tile = self._cache.get((level, index))
        if tile is None or tile.width < width:
            tile = self.tiles.read(level, index)
            if tile is None or tile.width < width:
                raise LookupError(f"the stored tree lacks tile {level}/{index} (width {width})")
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[(level, index)] = tile
        return tile

    def subtree(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of `height` whose leaves start at index × 2^height.
        Those of 256 leaves or more are kept: most proofs share them."""
        if height < TILE_HEIGHT:
            return self._subtree(height, index)
        root = self._roots.get((height, index))
        if root is None:
            if len(self._roots) > 100_000:
                self._roots.clear()
            root = self._roots[(height, index)] = self._subtree(height, index)
        return root

    def _subtree(self, height: int, index: int) -> bytes:
        level, within = divmod(height, TILE_HEIGHT)
        first = index << within
        offset = first % TILE_WIDTH
        tile = self._tile(level, first // TILE_WIDTH, offset + (1 << within))
        hashes = tile.hashes
        return perfect_root([hashes[i * HASH_SIZE:(i + 1) * HASH_SIZE]
                             for i in range(offset, offset + (1 << within))])

    def range_hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for the ranges RFC 9162's recursions produce."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            return self.subtree(n.bit_length() - 1, lo // n)
        k = split(n)
        return node_hash(self.range_hash(lo, lo + k), self.range_hash(lo + k, hi))

    def root(self, size: int) -> bytes:
        return self.range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), bottom-up."""
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        path: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = split(hi - lo)
            if index < lo + k:
                path.append(self.range_hash(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.range_hash(lo, lo + k))
                lo += k
        return path[::-1]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2])."""
        if not 0 < size1 <= size2:
            raise ValueError(f"no consistency proof from {size1} to {size2} leaves")
        proof: list[bytes] = []
        lo, hi, m, complete = 0, size2, size1, True
        while m != hi - lo:
            k = split(hi - lo)
            if m <= k:
                proof.append(self.range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.range_hash(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:
            proof.append(self.range_hash(lo, hi))
        return proof[::-1]

    def index_of(self, position: int) -> int | None:
        """The leaf index of the event at log `position`; None if the tree lacks it."""
        tile = self.tiles.holding(position)
        if tile is None:
            return None
        positions = [tile.position(i) for i in range(tile.width)]
        offset = bisect_left(positions, position)
        if offset == len(positions) or positions[offset] != position:
            return None
        return tile.index * TILE_WIDTH + offset

    def position_of(self, index: int) -> int:
        return self._tile(0, index // TILE_WIDTH, index % TILE_WIDTH + 1).position(
            index % TILE_WIDTH)

    # -- appending

    def builder(self) -> TreeBuilder:
        """The stored tree's right edge, ready to append to."""
        size = self.size()
        builder = TreeBuilder(size=size)
        offset = 0
        for height in range(size.bit_length() - 1, -1, -1):
            if size >> height & 1:
                builder.stack.append(self.subtree(height, offset >> height))
                offset += 1 << height
        levels = []
        level = 0
        while level == 0 or size >> (TILE_HEIGHT * level):
            nodes = size >> (TILE_HEIGHT * level)
            used = nodes % TILE_WIDTH
            tile = self._tile(level, nodes // TILE_WIDTH, used) if used else None
            levels.append(bytearray(tile.hashes[:used * HASH_SIZE]) if tile else bytearray())
            if level == 0 and tile is not None:
                builder.positions = [tile.position(i) for i in range(used)]
            level += 1
        builder.partial = levels
        return builder

    def store(self, builder: TreeBuilder, base_size: int) -> None:
        """Write what `builder` appended since the stored tree had `base_size` leaves, in one
        transaction; TreeRaced (nothing written) if another process appended meanwhile."""
        with self.tiles.writing() as cursor:
            if self.tiles.size_within(cursor) != base_size:
                raise TreeRaced()
            self.tiles.write(cursor, [*builder.finished, *builder.unfinished()])
        builder.finished.clear()

    def append(self, leaves: Iterable[tuple[int, bytes]]) -> int:
        """Append (position, leaf hash) pairs in one transaction; the new size."""
        builder = self.builder()
        base = builder.size
        builder.extend(leaves)
        self.store(builder, base)
        return builder.size

