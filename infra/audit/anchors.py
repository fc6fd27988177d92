"""Checkpoints kept outside the database: whoever can rewrite the store can also delete its
checkpoints, so every checkpoint is written out as it is signed, and verification compares
the store with the newest copy found outside.

- `ZHIBAO_OUTPUT_DIR/audit/checkpoints.jsonl`: one JSON line per checkpoint, appended and
  flushed to disk, never rewritten.
- The Parquet export's manifest (`ZHIBAO_OUTPUT_DIR/parquet/_manifest.json`): each run
  records the newest checkpoint it saw.
- The Kafka system topic carries every checkpoint as an event (the relay publishes it like
  any other); county consumers keep the newest they checked (`infra/audit/witness.py`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from infra.audit.verifier import ProofError, parse_checkpoint, parse_note
from infra.settings import Settings

log = logging.getLogger("zhibao.audit")

ANCHORS_FILE = Path("audit") / "checkpoints.jsonl"
MANIFEST_FILE = Path("parquet") / "_manifest.json"


@dataclass(frozen=True)
class Anchor:
    """A checkpoint found outside the store, and where."""

    source: str
    origin: str
    size: int
    root: bytes
    note: str


def anchors_path(settings: Settings) -> Path:
    return settings.output_dir / ANCHORS_FILE


def write_anchor(settings: Settings, note: str, recorded_at: datetime) -> Path:
    """Append the signed checkpoint `note` to the anchors file and flush it to disk."""
    path = anchors_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    origin, size, root = parse_checkpoint(parse_note(note).text)
    line = json.dumps({"origin": origin, "tree_size": size, "root_hash": root.hex(),
                       "recorded_at": recorded_at.isoformat(), "note": note},
                      ensure_ascii=False) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        os.write(descriptor, line.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return path


def _anchor(source: str, note: str) -> Anchor | None:
    try:
        origin, size, root = parse_checkpoint(parse_note(note).text)
    except ProofError as e:
        log.warning("%s holds something that is not a checkpoint (%s); ignored", source, e)
        return None
    return Anchor(source, origin, size, root, note)


def _from_anchors_file(path: Path) -> list[Anchor]:
    if not path.is_file():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            note = json.loads(line)["note"]
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("%s line %d is not a checkpoint record; ignored", path, number)
            continue
        anchor = _anchor(f"{path} line {number}", note)
        if anchor is not None:
            found.append(anchor)
    return found


def _from_manifest(path: Path) -> list[Anchor]:
    """Checkpoints the export runs recorded (read as plain JSON: the export may be of any
    version)."""
    if not path.is_file():
        return []
    try:
        runs = json.loads(path.read_text(encoding="utf-8")).get("runs", [])
    except (json.JSONDecodeError, OSError, AttributeError):
        log.warning("%s is not a readable export manifest; its checkpoints are not used", path)
        return []
    found = []
    for run in runs:
        note = run.get("checkpoint") if isinstance(run, dict) else None
        if isinstance(note, str):
            anchor = _anchor(f"{path} run {run.get('run')}", note)
            if anchor is not None:
                found.append(anchor)
    return found


def newest_anchors(settings: Settings, origin: str, extra: tuple[Anchor, ...] = ()
                   ) -> list[Anchor]:
    """For each place outside the store (the anchors file, the export manifest, each of
    `extra`), the newest checkpoint of the log `origin` it holds."""
    places = [_from_anchors_file(anchors_path(settings)),
              _from_manifest(settings.output_dir / MANIFEST_FILE),
              *([anchor] for anchor in extra)]
    newest = []
    for anchors in places:
        mine = [anchor for anchor in anchors if anchor.origin == origin]
        if mine:
            newest.append(max(mine, key=lambda anchor: anchor.size))
    return newest


def anchor_from_text(source: str, text: str) -> Anchor:
    """A checkpoint an auditor keeps (a file's content, or a note given on the command
    line); ProofError if it is not one."""
    origin, size, root = parse_checkpoint(parse_note(text).text)
    return Anchor(source, origin, size, root, text)
