"""A throwaway PostgreSQL server of its own, for what the shared one (trust auth) cannot
show: a server that checks passwords. Started from the installed server binaries (initdb,
pg_ctl) on a free port, as the `postgres` user when the tests run as root."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "s3cret-zhibao"


@dataclass(frozen=True)
class PasswordServer:
    port: int

    def url(self, password: str = PASSWORD, dbname: str = "postgres") -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{dbname}"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(
        f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.skip(f"the PostgreSQL server binaries ({name}) are not installed")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def password_postgres() -> Iterator[PasswordServer]:
    as_owner: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="zhibao-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    password_file = directory / "password"
    password_file.write_text(PASSWORD)
    if as_owner:
        os.chown(password_file, pwd.getpwnam("postgres").pw_uid, -1)
    data = directory / "data"
    port = _free_port()
    subprocess.run([*as_owner, _binary("initdb"), "-D", str(data), "-U", "postgres",
                    "-A", "scram-sha-256", f"--pwfile={password_file}", "--no-sync"],
                   check=True, capture_output=True)
    pg_ctl = [*as_owner, _binary("pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-w", "-l", str(directory / "log"), "-o",
                    f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start"], check=True, capture_output=True)
    try:
        yield PasswordServer(port)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
