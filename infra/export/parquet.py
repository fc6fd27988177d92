"""Incremental Parquet export of the events: one dataset per event type, hive-partitioned
by county and recorded year, zstd-compressed, typed by `infra/export/columns.py` — and the
submissions as snapshot datasets by period.

    DIR/_manifest.json
    DIR/_export.lock       (held while a run writes)
    DIR/events/<dataset>/county=<code>/recorded_year=<YYYY>/part-<run>-<chunk>.parquet
    DIR/views/<dataset>/period=<YYYY-MM>/part-<run>-<n>.parquet      (infra/export/views.py)

A run exports the positions after the manifest's watermark up to the newest one when it
starts. It reads the log once, in order, holding at most `CHUNK_EVENTS` events (as compact
Arrow columns) before writing them out; each file is written under a hidden name and renamed
into place, and the manifest is replaced last. The stored records are parsed by Arrow's JSON
reader, a batch of one event type at a time. The county of an event is found in the unit
tree as the store knew it at that event (its unit events folded along the way), so
re-running an export always puts an event in the same partition; the partition is named as
the county's Kafka topic is (`domain/unit_tree.py`: the code the county-level unit was
registered with, kept after a recode).

The directory may be writable by others (infra/files.py): the export follows no link
planted in it, publishes a file only under a free name, and removes only what its
manifest names as its own.
"""

from __future__ import annotations

import fcntl
import io
import os
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq
from eventsourcing.persistence import Notification

from domain.base import SHANGHAI, event_id_text
from infra import files
from infra.audit.checkpoints import newest_checkpoint
from infra.export.columns import dataset_columns, dataset_name
from infra.export.manifest import (
    ExportError,
    FileEntry,
    Manifest,
    Pending,
    Run,
    read_manifest,
    write_manifest,
)
from infra.export.views import recorded_submissions, write_snapshots
from infra.intake.directory import UNIT_EVENTS, Directory, catch_up_directory
from infra.intake.service import Zhibao
from infra.store.log import Row, first_from, last_position, row_range
from infra.store.records import DamagedRecord, event_type, unpack_record

CHUNK_EVENTS = 500_000
"""Events held in memory before their files are written (bounds memory on big runs)."""
ROW_GROUP_ROWS = 1_000_000
"""Rows per Parquet row group: a file of fewer rows is a single row group."""
PENDING_ROWS = 10_000
"""Events held as read, over all types, before they become Arrow batches (a JSON read and
a cast per column and type costs the same for ten rows as for hundreds)."""
WRITERS = 2
"""Files written at once."""
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
LOCK = "_export.lock"

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportResult:
    run: int
    after: int
    through: int
    events: int
    files: list[FileEntry]


def export_parquet(app: Zhibao, directory: Path, progress: Progress | None = None,
                   now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ExportResult:
    """Export every event recorded since the last run into `directory`. Raises ExportError,
    before writing anything, when the directory is not a sound export of this store or
    another export into it is running."""
    store = _store_fingerprint(app)
    if read_manifest(directory) is None:
        directory.mkdir(parents=True, exist_ok=True)
        write_manifest(directory, Manifest(store=store))  # claims it before any data lands
    with _exclusive(directory):
        manifest = read_manifest(directory)  # again: another run may have ended meanwhile
        assert manifest is not None
        if manifest.store != store:
            raise ExportError(f"{directory} holds an export of another store (first event "
                              f"{manifest.store[:12]}…, this store's is {store[:12]}…)")
        return _export_run(app, directory, manifest, progress, now)


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One export into a directory at a time; the lock dies with its process."""
    with files.lock_file(directory / LOCK) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError(f"another export into {directory} is running") from None
        yield


def _export_run(app: Zhibao, directory: Path, manifest: Manifest, progress: Progress | None,
                now: Callable[[], datetime]) -> ExportResult:
    through = last_position(app.recorder)
    if manifest.watermark > through:
        raise ExportError(f"{directory} was exported up to position {manifest.watermark}, but "
                          f"this store ends at {through} — was it restored from a backup?")
    _remove_leftovers(directory, manifest)
    run = manifest.next_run
    if through == manifest.watermark:
        return ExportResult(run, through, through, 0, [])  # nothing new: no run recorded
    writer = _RunWriter(directory, run)
    manifest.pending = Pending(run=run, token=writer.token)
    write_manifest(directory, manifest)  # names this run's temporaries before any exists
    try:  # the snapshots first: a refusal comes before the long pass over the events
        write_snapshots(app, recorded_submissions(app, manifest.watermark, through),
                        writer.write_view)
    except ExportError:
        writer.discard()
        manifest.pending = None
        write_manifest(directory, manifest)
        raise
    events = _Exporter(app, manifest.watermark, writer).run(through, progress)
    writer.publish(manifest)
    manifest.runs.append(Run(run=run, after=manifest.watermark, through=through, events=events,
                             finished_at=now(), checkpoint=_newest_checkpoint(app)))
    manifest.files.extend(writer.files)
    manifest.watermark = through
    manifest.pending = None
    write_manifest(directory, manifest)
    return ExportResult(run, manifest.runs[-1].after, through, events, writer.files)


def _store_fingerprint(app: Zhibao) -> str:
    first = first_from(app.recorder)
    if first is None:
        raise ExportError("the store is empty: nothing to export")
    return unpack_record(first.state)[1]


def _newest_checkpoint(app: Zhibao) -> str | None:
    newest = newest_checkpoint(app)
    return newest.note if newest else None


def _remove_leftovers(directory: Path, manifest: Manifest) -> None:
    """Files of a run that was interrupted before its manifest: its hidden temporaries
    (named by its token) and the files it was publishing, both listed in the manifest's
    `pending` before they were made. Nothing else is touched: a file the manifest does not
    name is not the export's, whatever its name."""
    pending = manifest.pending
    if pending is None:
        return
    for path in [*(directory / "events").glob(f"*/*/*/.part-*.{pending.token}.tmp"),
                 *(directory / "views").glob(f"*/*/.part-*.{pending.token}.tmp")]:
        path.unlink()
    for relative in pending.files:
        (directory / relative).unlink(missing_ok=True)
    manifest.pending = None


class _RunWriter:
    """Writes one run's files under hidden names, then publishes them all at once: a glob
    reader sees none of them before the run commits."""

    def __init__(self, directory: Path, run: int) -> None:
        self.directory = directory
        self.run = run
        self.token = secrets.token_hex(6)
        self.chunk = 0  # in the next file's name: advanced after each chunk and views file
        self.files: list[FileEntry] = []
        self.temporaries: list[Path] = []

    def write(self, parts: Iterable[tuple[tuple[str, ...], str, pa.Table]]) -> None:
        """Files of the current chunk: each part a file of `dataset` (its rows `table`) in the
        folder `where` (relative to the export directory), `WRITERS` written at once — Arrow
        encodes and compresses without holding the GIL — and listed in the order given."""
        with ThreadPoolExecutor(WRITERS) as pool:
            for temporary, entry in pool.map(lambda part: self._file(*part), parts):
                self.temporaries.append(temporary)
                self.files.append(entry)

    def _file(self, where: tuple[str, ...], dataset: str, table: pa.Table
              ) -> tuple[Path, FileEntry]:
        folder = files.folder(self.directory, *where)
        name = f"part-{self.run:06d}-{self.chunk:04d}.parquet"
        temporary = files.hidden(folder, name, self.token)
        table = table.combine_chunks()  # its batches' dictionaries made one: written faster
        with files.created(temporary) as file:
            pq.write_table(table, file, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        positions = table.column("position")
        return temporary, FileEntry(
            path=(folder / name).relative_to(self.directory).as_posix(), dataset=dataset,
            rows=table.num_rows, run=self.run, first_position=positions[0].as_py(),
            last_position=positions[-1].as_py())

    def write_view(self, dataset: str, period: str, table: pa.Table) -> None:
        """One file of a snapshot dataset's period (infra/export/views.py)."""
        self.write([(("views", dataset, f"period={period}"), dataset, table)])
        self.chunk += 1

    def discard(self) -> None:
        """Remove what was written: the run is abandoned before anything is published."""
        for temporary in self.temporaries:
            temporary.unlink()
        self.temporaries.clear()
        self.files.clear()

    def publish(self, manifest: Manifest) -> None:
        """Give every file its real name — each must be free — after the manifest names
        them as pending, so an interruption leaves nothing the next run cannot remove."""
        for entry in self.files:
            if os.path.lexists(self.directory / entry.path):
                self.discard()
                raise ExportError(f"{self.directory / entry.path} was not written by this "
                                  "export and stands where its file goes; move it away")
        assert manifest.pending is not None
        manifest.pending.files = [entry.path for entry in self.files]
        write_manifest(self.directory, manifest)
        for temporary, entry in zip(self.temporaries, self.files, strict=True):
            files.publish(temporary, self.directory / entry.path)


_Partition = tuple[str, str, str]
"""Topic, county, recorded year."""


class _Exporter:
    """One pass over the log range: holds each event type's rows as read, turns
    them into Arrow batches `PENDING_ROWS` events at a time, splits those by partition and
    writes the partitions out a chunk at a time."""

    def __init__(self, app: Zhibao, after: int, writer: _RunWriter) -> None:
        self.app = app
        self.after = after
        self.writer = writer
        self.tree = _UnitTree(app, after)
        self.pending: dict[str, list[Row]] = {}  # by topic, not yet converted
        self.held = 0  # rows pending
        self.batches: defaultdict[_Partition, list[pa.RecordBatch]] = defaultdict(list)
        self.buffered = 0  # events in the chunk, converted or not

    def run(self, through: int, progress: Progress | None) -> int:
        events = 0
        unit_topics = self.tree.directory.topics
        for page in _read_ahead(row_range(self.app.recorder, self.after, through)):
            for row in page:
                topic = row[3]
                if topic in unit_topics:
                    self.tree.fold(row)
                held = self.pending.get(topic)
                if held is None:
                    held = self.pending[topic] = []
                held.append(row)
            events += len(page)
            self.held += len(page)
            self.buffered += len(page)
            if self.buffered >= CHUNK_EVENTS:
                self._flush()
            elif self.held >= PENDING_ROWS:
                self._convert()
            if progress:
                progress(page[-1][0])
        self._flush()
        return events

    def _convert(self) -> None:
        for topic, rows in self.pending.items():
            batch, counties, years = _batch(topic, rows, self.tree)
            self._split(topic, batch, counties, years)
        self.pending.clear()
        self.held = 0
        self.tree.forget_changes()

    def _split(self, topic: str, batch: pa.RecordBatch, counties: pa.Array,
               years: pa.Array) -> None:
        """The rows of `batch` to their partitions, in log order within each."""
        keys = pa.table({"county": counties, "year": years})
        order = pc.sort_indices(keys, [("county", "ascending"), ("year", "ascending")])
        batch, keys = batch.take(order), keys.take(order)  # a stable sort: log order kept
        groups = keys.group_by(["county", "year"], use_threads=False).aggregate(
            [([], "count_all")])  # in order of appearance: sorted
        start = 0
        for county, year, rows in zip(*(groups.column(name).to_pylist() for name in (
                "county", "year", "count_all")), strict=True):
            self.batches[topic, county, year].append(batch.slice(start, rows))
            start += rows

    def _flush(self) -> None:
        self._convert()
        parts = []
        for (topic, county, year), batches in sorted(self.batches.items()):
            dataset = dataset_name(event_type(topic))
            parts.append((("events", dataset, f"county={county}", f"recorded_year={year}"),
                          dataset, pa.Table.from_batches(batches)))
        self.writer.write(parts)
        self.batches.clear()
        self.buffered = 0
        self.writer.chunk += 1


def _read_ahead(pages: Iterator[list[Row]]) -> Iterator[list[Row]]:
    """`pages`, each read by a thread while the one before is converted: on PostgreSQL half
    a page's time is the server's."""
    with ThreadPoolExecutor(1) as reader:
        ahead = reader.submit(next, pages, None)
        while (page := ahead.result()) is not None:
            ahead = reader.submit(next, pages, None)
            yield page


def _batch(topic: str, rows: list[Row], tree: _UnitTree
           ) -> tuple[pa.RecordBatch, pa.Array, pa.Array]:
    """Events of one type as rows of its dataset, with each row's county and recorded
    year: their stored records parsed by Arrow's JSON reader in one call, each column cast
    in one, the envelope from the stored rows — no Python object per value."""
    columns = dataset_columns(event_type(topic))
    records = _records(topic, rows, _record_schema(event_type(topic)))
    event = records.column("event")
    aggregates = [row[1] for row in rows]
    versions = [row[2] for row in rows]
    positions = pa.array([row[0] for row in rows], pa.int64())
    envelope = {
        "position": positions,
        "event_id": pa.array([event_id_text(a, v) for a, v in zip(aggregates, versions,
                                                                    strict=True)]),
        "aggregate_id": pa.array(aggregates, pa.string()),
        "aggregate_version": pa.array(versions, pa.int64()),
        "month": _in_shanghai(pc.struct_field(event, ["occurred_at"]), 7),
        "prev_hash": records.column("prev"),
        "hash": records.column("hash"),
    }
    batch = pa.RecordBatch.from_arrays(
        [column.array(pc.struct_field(event, list(column.path)) if column.path
                      else envelope[column.name]) for column in columns],
        names=[column.name for column in columns])
    counties = tree.counties(pc.struct_field(event, ["unit_code"]), positions)
    return batch, counties, _in_shanghai(pc.struct_field(event, ["timestamp"]), 4)


@cache
def _record_schema(event_type: str) -> pa.Schema:
    """The stored record's JSON as far as the dataset's columns read it: the chain header,
    and the event's fields at the columns' paths, each as it is stored."""
    fields: dict[str, Any] = {}
    for column in dataset_columns(event_type):
        if column.path:
            node = fields
            for key in column.path[:-1]:
                node = node.setdefault(key, {})
            node[column.path[-1]] = column.stored_type

    def struct(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([(key, struct(value) if isinstance(value, dict) else value)
                          for key, value in node.items()])

    return pa.schema([("prev", pa.string()), ("hash", pa.string()), ("event", struct(fields))])


def _records(topic: str, rows: list[Row], schema: pa.Schema) -> pa.RecordBatch:
    """The stored records as one batch, read as JSON lines (a record holds no raw newline)."""
    try:
        lines = b"\n".join(row[4] for row in rows)  # type: ignore[arg-type]
        table = pj.read_json(io.BytesIO(lines),
                             pj.ReadOptions(use_threads=False, block_size=len(lines) + 1),
                             pj.ParseOptions(explicit_schema=schema,
                                             unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, TypeError) as e:  # TypeError: a NULL state
        raise DamagedRecord(f"a stored record of {topic} does not read as the "
                            f"JSON zhibao writes ({e}); run `zhibao audit verify`") from None
    return table.combine_chunks().to_batches()[0]


def _in_shanghai(instants: pa.Array, width: int) -> pa.Array:
    """The first `width` characters of YYYY-MM of ISO instants in Asia/Shanghai: cut from
    the text when each carries +08:00, as stored instants normally do, else parsed."""
    if pc.all(pc.ends_with(instants, "+08:00")).as_py():
        return pc.utf8_slice_codeunits(instants, 0, width)
    return pa.array([datetime.fromisoformat(instant).astimezone(SHANGHAI).strftime("%Y-%m")
                     [:width] for instant in instants.to_pylist()], pa.string())


class _UnitTree:
    """The county partition of a unit code as the store knew it at a position: the unit
    events folded in log order (orgs, persons and enterprises play no part in it).

    Rows are converted after later unit events may have been folded. A unit event changes
    the partition only of the codes it names (a unit's level, parent and registered code
    never change, and its parent is registered before it), so for each such code the tree
    keeps where it changed and the partition before, until every row read is converted."""

    def __init__(self, app: Zhibao, through: int) -> None:
        self.mapper = app.mapper
        self.directory = Directory(UNIT_EVENTS)
        catch_up_directory(self.directory, app.recorder, self.mapper, through)
        self.known: dict[str | None, str] = {}  # code → partition now
        self.changes: dict[str, list[tuple[int, str]]] = {}  # code → (position, before)…

    def fold(self, row: Row) -> None:
        """Apply a unit event, read as a plain row."""
        position, originator_id, version, topic, state = row
        event = self.mapper.to_domain_event(
            Notification(UUID(originator_id), version, topic, state, position))  # type: ignore[arg-type]
        before = {code: self.county(code) for code in _texts(event)}
        self.directory.apply(event)
        self.known.clear()
        for code, county in before.items():
            if self.county(code) != county:
                self.changes.setdefault(code, []).append((position, county))

    def forget_changes(self) -> None:
        """Every row read is converted: no partition before now will be asked for."""
        self.changes.clear()

    def county(self, code: str | None) -> str:
        county = self.known.get(code)
        if county is None:
            stream = None if code is None else self.directory.stream_code(code)
            county = self.known[code] = stream or NULL_PARTITION
        return county

    def counties(self, codes: pa.Array, positions: pa.Array) -> pa.Array:
        """The partition of each row's unit code at the row's position."""
        distinct = pc.unique(codes)
        counties = pa.array([self.county(code) for code in distinct.to_pylist()],
                            pa.string()).take(pc.index_in(codes, distinct))
        changed = [code for code in distinct.to_pylist() if code in self.changes]
        if not changed:
            return counties
        last = pa.array([self.changes[code][-1][0] for code in changed], pa.int64())
        earlier = pc.fill_null(pc.less(positions, last.take(pc.index_in(
            codes, pa.array(changed, pa.string())))), False)
        if not pc.any(earlier).as_py():  # the usual case: rows read after the change
            return counties
        resolved = counties.to_pylist()
        for row in pc.indices_nonzero(earlier).to_pylist():
            position = positions[row].as_py()
            resolved[row] = next(before for at, before in self.changes[codes[row].as_py()]
                                 if position < at)
        return pa.array(resolved, pa.string())


def _texts(event: object) -> set[str]:
    """The texts an event's fields hold (every code it names among them)."""
    texts: set[str] = set()
    for value in vars(event).values():
        if isinstance(value, str):
            texts.add(value)
        elif isinstance(value, tuple):
            texts.update(item for item in value if isinstance(item, str))
    return texts
