"""The export manifest (`_manifest.json`): which store the directory was exported from, the
watermark (the last notification-log position exported), each run and every file with its
row count. A re-run starts after the watermark, so nothing is exported twice or skipped.

The manifest is replaced atomically after a run's files are in place; files of a run that
never reached its manifest are leftovers, removed before the next run starts. A directory
that is not ours, or whose manifest does not add up, is refused before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from infra import files

MANIFEST = "_manifest.json"
FORMAT = "zhibao-parquet/1"


class ExportError(Exception):
    """The directory cannot take this export; nothing was written."""


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str  # relative to the export directory, with forward slashes
    dataset: str
    rows: int
    run: int
    first_position: int
    last_position: int


class Run(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run: int
    after: int  # positions after this one …
    through: int  # … up to and including this one were exported
    events: int
    finished_at: datetime
    # the store's newest signed checkpoint (a c2sp.org/tlog-checkpoint note) when the run
    # ended: a copy outside the database that `zhibao audit verify` compares the store with
    checkpoint: str | None = None
    anchor: str | None = None  # runs before signed checkpoints: a legacy checkpoint's hash


class Pending(BaseModel):
    """The run under way: its temporaries carry `token`; `files` are the paths it is
    publishing. What an interrupted run left is exactly what this names."""

    model_config = ConfigDict(extra="forbid")

    run: int
    token: str
    files: list[str] = []


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    store: str  # chain hash of the store's first event: which store this is an export of
    watermark: int = 0
    runs: list[Run] = []
    files: list[FileEntry] = []
    pending: Pending | None = None

    @property
    def next_run(self) -> int:
        return len(self.runs) + 1


def read_manifest(directory: Path) -> Manifest | None:
    """The directory's manifest; None for a directory that does not exist yet or is empty.
    Raises ExportError for anything else that is not a sound zhibao export."""
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} is a file, not a directory")
    path = directory / MANIFEST
    if path.is_symlink():
        raise ExportError(f"{path} is a symbolic link the export did not create")
    if not path.exists():
        others = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
        if others:
            raise ExportError(f"{directory} already holds other data ({', '.join(others[:3])}"
                              f"{', …' if len(others) > 3 else ''}) and no {MANIFEST}; "
                              "export into a new or empty directory")
        return None
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ExportError(f"{path} is corrupt — {where}: {first['msg']}; nothing was "
                          "written (move the directory aside to start a new export)") from None
    _check_consistent(directory, manifest)
    return manifest


def _check_consistent(directory: Path, manifest: Manifest) -> None:
    path = directory / MANIFEST
    if manifest.format != FORMAT:
        raise ExportError(f"{path}: format {manifest.format!r} is not {FORMAT!r}")
    last = manifest.runs[-1].through if manifest.runs else 0
    if manifest.watermark != last:
        raise ExportError(f"{path} is corrupt — watermark {manifest.watermark} is not the last "
                          f"run's end {last}")
    for entry in manifest.files:
        if not (directory / entry.path).is_file():
            raise ExportError(f"{path} is corrupt — listed file {entry.path} is missing")


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write then rename, so a reader sees the old manifest or the new one, never half."""
    files.write_over(directory / MANIFEST, manifest.model_dump_json(indent=1).encode())
