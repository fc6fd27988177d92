"""A real `zhibao serve` on a loopback port, in its own process, over a store a test built
— and small helpers to talk to it and to count what the store holds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra.intake.service import Zhibao
from infra.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    database_url: str
    env: dict[str, str]

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60,
                            **kwargs)  # type: ignore[arg-type]


def server_env(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ZHIBAO_DATABASE_URL": database_url,
            "ZHIBAO_OUTPUT_DIR": str(tmp / "out"),
            "ZHIBAO_AUDIT_SIGNING_KEY": str(tmp / "no-audit.key"),
            "ZHIBAO_HTTP_SECRET_KEY": str(tmp / "http.key"),
            "ZHIBAO_REPORT_WORKERS": "1", **extra}


@contextmanager
def serving(database_url: str, tmp: Path, **extra: str) -> Iterator[Server]:
    """`zhibao serve` on a free loopback port until the block ends; its output kept in
    tmp/server.log."""
    port = free_port()
    env = server_env(database_url, tmp, **extra)
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "infra.cli.main", "serve", "--port",
                                str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"zhibao serve did not start: "
                                   f"{(tmp / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield Server(url, database_url, env)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def event_count(database_url: str) -> int:
    """Events in the store, as a fresh process reads it."""
    app = Zhibao(Settings(database_url=database_url, audit_signing_key=None))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()
