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
into place, and the manifest is replaced last. The county of an event is found in the unit
tree as the store knew it at that event (`infra/intake/directory.py`, folded along the way), so
re-running an export always puts an event in the same partition; the partition is named as
the county's Kafka topic is (`domain/unit_tree.py`: the code the county-level unit was
registered with, kept after a recode).

The directory may be writable by others (infra/files.py): the export follows no link
planted in it, publishes a file only under a free name, and removes only what its
manifest names as its own.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from eventsourcing.persistence import Notification

from domain.base import SHANGHAI, event_id_text
from infra import files
from infra.audit.checkpoints import newest_checkpoint
from infra.export.columns import Column, dataset_columns, dataset_name
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
from infra.intake.directory import REFERENCE_TOPICS, Directory, catch_up_directory
from infra.intake.service import Zhibao
from infra.store.log import first_from, last_position, log_range
from infra.store.records import event_type, unpack_record

CHUNK_EVENTS = 500_000
"""Events held in memory before their files are written (bounds memory on big runs)."""
ROW_GROUP_ROWS = 1_000_000
"""Rows per Parquet row group: a file of fewer rows is a single row group."""
PENDING_ROWS = 10_000
"""Rows kept as parsed JSON, over all partitions, before they become Arrow arrays: few
enough that the garbage collector does not keep walking a large heap of them."""
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

    def write(self, where: tuple[str, ...], dataset: str, table: pa.Table) -> None:
        """One file of `dataset` in the folder `where` (relative to the export directory)."""
        folder = files.folder(self.directory, *where)
        name = f"part-{self.run:06d}-{self.chunk:04d}.parquet"
        temporary = files.hidden(folder, name, self.token)
        with files.created(temporary) as file:
            pq.write_table(table, file, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        self.temporaries.append(temporary)
        positions = table.column("position")
        self.files.append(FileEntry(
            path=(folder / name).relative_to(self.directory).as_posix(), dataset=dataset,
            rows=table.num_rows, run=self.run, first_position=positions[0].as_py(),
            last_position=positions[-1].as_py()))

    def write_view(self, dataset: str, period: str, table: pa.Table) -> None:
        """One file of a snapshot dataset's period (infra/export/views.py)."""
        self.write(("views", dataset, f"period={period}"), dataset, table)
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


_Row = tuple[Notification, str, str, dict[str, Any], str]
"""A stored event not yet converted: notification, prev hash, hash, parsed JSON, month."""
_Partition = tuple[str, str, str]
"""Topic, county, recorded year."""


class _PartitionBuffer:
    """The rows of one event type in one partition, for the current chunk: Arrow batches,
    plus the rows not yet converted (kept as parsed JSON until a batch is full)."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.batches: list[pa.RecordBatch] = []
        self.pending: list[_Row] = []

    def convert(self) -> None:
        """The pending rows as one Arrow batch, each column in one comprehension and one
        `pyarrow.array` call: far cheaper than row by row."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        payloads = [row[3] for row in pending]
        aggregates = [str(row[0].originator_id) for row in pending]
        versions = [row[0].originator_version for row in pending]
        envelope = {
            "position": [row[0].id for row in pending],
            "event_id": [event_id_text(a, v) for a, v in zip(aggregates, versions, strict=True)],
            "aggregate_id": aggregates,
            "aggregate_version": versions,
            "month": [row[4] for row in pending],
            "prev_hash": [row[1] for row in pending],
            "hash": [row[2] for row in pending],
        }
        arrays = [column.array(_extract(payloads, column.path) if column.path
                               else envelope[column.name]) for column in self.columns]
        self.batches.append(pa.RecordBatch.from_arrays(arrays,
                                                       names=[c.name for c in self.columns]))

    def table(self) -> pa.Table:
        self.convert()
        return pa.Table.from_batches(self.batches)


def _extract(payloads: list[dict[str, Any]], path: tuple[str, ...]) -> list[Any]:
    if len(path) == 1:
        key = path[0]
        return [payload[key] for payload in payloads]
    outer, inner = path[0], path[1:]
    return _extract([payload[outer] or {} for payload in payloads], inner) if len(inner) > 1 \
        else [(payload[outer] or {}).get(inner[0]) for payload in payloads]


class _Exporter:
    """One pass over the log range: folds the unit tree along, buffers rows, writes chunks."""

    def __init__(self, app: Zhibao, after: int, writer: _RunWriter) -> None:
        self.app = app
        self.after = after
        self.writer = writer
        self.directory = Directory()
        self.counties: dict[str, str] = {}
        self.buffers: dict[_Partition, _PartitionBuffer] = {}
        self.buffered = 0  # events in the buffers
        self.pending = 0  # of which not yet converted
        catch_up_directory(self.directory, self.app.recorder, self.app.mapper, after)


    def run(self, through: int, progress: Progress | None) -> int:
        events = 0
        reference = set(REFERENCE_TOPICS)
        for page in log_range(self.app.recorder, self.after, through):
            for notification in page:
                if notification.topic in reference:
                    self.directory.apply(self.app.mapper.to_domain_event(notification))
                    self.counties.clear()
                self._add(notification)
            events += len(page)
            if self.buffered >= CHUNK_EVENTS:
                self._flush()
            if progress:
                progress(page[-1].id)
        self._flush()
        return events

    def _add(self, notification: Notification) -> None:
        prev, digest, payload_bytes = unpack_record(notification.state)
        payload = orjson.loads(payload_bytes)
        code, occurred, recorded = payload["unit_code"], payload["occurred_at"], \
            payload["timestamp"]
        county = self.counties.get(code) or self._county(code)
        month = occurred[:7] if occurred.endswith("+08:00") else _month(occurred)
        year = recorded[:4] if recorded.endswith("+08:00") else _month(recorded)[:4]
        partition = (notification.topic, county, year)
        buffer = self.buffers.get(partition)
        if buffer is None:
            columns = dataset_columns(event_type(notification.topic))
            buffer = self.buffers[partition] = _PartitionBuffer(columns)
        buffer.pending.append((notification, prev, digest, payload, month))
        self.buffered += 1
        self.pending += 1
        if self.pending >= PENDING_ROWS:
            for each in self.buffers.values():
                each.convert()
            self.pending = 0

    def _county(self, code: str) -> str:
        county = self.counties.get(code)
        if county is None:
            county = self.counties[code] = self.directory.stream_code(code) or NULL_PARTITION
        return county

    def _flush(self) -> None:
        for (topic, county, year), buffer in sorted(self.buffers.items()):
            dataset = dataset_name(event_type(topic))
            where = ("events", dataset, f"county={county}", f"recorded_year={year}")
            self.writer.write(where, dataset,
                              buffer.table())
        self.buffers.clear()
        self.buffered = self.pending = 0
        self.writer.chunk += 1


def _month(occurred_at: str) -> str:
    """YYYY-MM in Asia/Shanghai (stored instants normally carry +08:00 and need no parsing)."""
    return datetime.fromisoformat(occurred_at).astimezone(SHANGHAI).strftime("%Y-%m")
