"""A real `zhibao serve` on a loopback port (bench/serving.py), over a store a test built,
and what the tests ask of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.serving import serving as serve
from infra.intake.service import Zhibao
from infra.settings import Settings


@dataclass
class Server:
    url: str
    database_url: str

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60,
                            **kwargs)  # type: ignore[arg-type]


@contextmanager
def serving(database_url: str, tmp: Path, **extra: str) -> Iterator[Server]:
    with serve(database_url, tmp, **extra) as url:
        yield Server(url, database_url)


def event_count(database_url: str) -> int:
    """Events in the store, as a fresh process reads it."""
    app = Zhibao(Settings(database_url=database_url, audit_signing_key=None))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()
