"""A real `zhibao serve` in a process of its own on a free loopback port, for the HTTP
benchmark and the end-to-end tests (tests/support/server.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """The settings a served store runs with: outputs and keys under `tmp`."""
    return {**os.environ, "ZHIBAO_DATABASE_URL": database_url,
            "ZHIBAO_OUTPUT_DIR": str(tmp / "out"),
            "ZHIBAO_AUDIT_SIGNING_KEY": str(tmp / "no-audit.key"),
            "ZHIBAO_HTTP_SECRET_KEY": str(tmp / "http.key"),
            "ZHIBAO_REPORT_WORKERS": "1", **extra}


@contextmanager
def serving(database_url: str, tmp: Path, **extra: str) -> Iterator[str]:
    """`zhibao serve` until the block ends; yields its base URL. Its output is kept in
    tmp/server.log (and shown when it does not start)."""
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.cli.main", "serve", "--port", str(port)],
            env=server_env(database_url, tmp, **extra), stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"zhibao serve did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
