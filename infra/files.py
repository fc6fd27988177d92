"""Writing files safely into directories others can write to (the export, the reports).

A writer never follows a symbolic link it did not create, never overwrites or deletes a
file it did not write, and never shows a reader a file before it is complete:

- new files are created under a hidden temporary name in their own folder (`hidden`),
  with O_EXCL and O_NOFOLLOW, so a link or file planted under that name is refused, not
  followed or truncated;
- they are then published under their real name — without replacing anything that
  stands there (`publish`), or replacing only a regular file the caller knows it wrote
  (`replace`): a link planted there is refused;
- folders are created one component at a time, and a component that is a symbolic link
  is refused (`folder`);
- a lock file is opened without truncating and without following a link (`lock_file`).

A refusal is an `OSError` naming the path, so the command line prints it in one line.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
IN_MEMORY = Path("/dev/shm")


def scratch_parent() -> Path | None:
    """Where files that live for seconds go (a temporary folder's parent; None: the
    system's default): a tmpfs where the machine has one. On ext4 without a journal the
    kernel skips every inode freed in the last one to six minutes when it allocates one
    (`recently_deleted`): a cascade's 10,760 files created after as many were removed cost
    4.8 s of kernel time instead of 0.8 s (in memory: 0.7 s)."""
    return IN_MEMORY if IN_MEMORY.is_dir() and os.access(IN_MEMORY, os.W_OK) else None


def _refused(path: Path, why: str) -> OSError:
    return OSError(errno.ELOOP if "link" in why else errno.EEXIST, why, str(path))


def hidden(folder: Path, name: str, token: str | None = None) -> Path:
    """A hidden temporary name beside `name` that no glob of `*.parquet`, `*.json` … sees;
    `token` (random by default) tells one run's temporaries from anyone else's."""
    return folder / f".{name}.{token or secrets.token_hex(6)}.tmp"


@contextmanager
def created(path: Path) -> Iterator[BinaryIO]:
    """A new file at `path`, opened for writing: never an existing file, never a link."""
    try:
        descriptor = os.open(path, _NEW, 0o644)
    except FileExistsError:
        raise _refused(path, "a file or link already stands here; zhibao did not write it") \
            from None
    with os.fdopen(descriptor, "wb") as file:
        yield file


def publish(temporary: Path, path: Path) -> None:
    """Give the complete `temporary` its real name `path`, which must be free: whatever
    stands there was not written by this run and is left alone."""
    try:
        os.link(temporary, path, follow_symlinks=False)
    except FileExistsError:
        raise _refused(path, "a file or link already stands here; zhibao did not write it "
                             "and will not replace it") from None
    finally:
        os.unlink(temporary)


def replace(temporary: Path, path: Path) -> None:
    """Give the complete `temporary` its real name `path`, replacing the regular file the
    caller wrote there before; a link or anything else planted there is refused."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        os.unlink(temporary)
        raise _refused(path, "a symbolic link or other non-file stands here; zhibao did not "
                             "create it and will not write through it")
    os.replace(temporary, path)


def write_new(path: Path, content: bytes) -> None:
    """Write `content` to the free name `path`, complete or not at all."""
    temporary = hidden(path.parent, path.name)
    with created(temporary) as file:
        file.write(content)
    publish(temporary, path)


def write_over(path: Path, content: bytes) -> None:
    """Write `content` to `path`, replacing the regular file the caller wrote there."""
    temporary = hidden(path.parent, path.name)
    with created(temporary) as file:
        file.write(content)
    replace(temporary, path)


def folder(root: Path, *parts: str) -> Path:
    """`root`/parts…, made as needed, each component below `root` (the directory the
    user named, made too if need be) a real directory — never a link."""
    root.mkdir(parents=True, exist_ok=True)
    path = root
    for part in parts:
        path = path / part
        with suppress(FileExistsError):
            path.mkdir()
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise _refused(path, "a symbolic link or file stands where zhibao keeps a folder")
    return path


@contextmanager
def lock_file(path: Path) -> Iterator[int]:
    """The descriptor of the lock file at `path`, created if need be, never truncated and
    never through a link."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise _refused(path, "a symbolic link stands where zhibao keeps its lock") from None
    try:
        yield descriptor
    finally:
        os.close(descriptor)
