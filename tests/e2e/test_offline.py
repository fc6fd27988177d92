"""Offline by default: a cascade run as an operator starts it (`zhibao flows run`, Prefect's
ephemeral server included) tries no outbound connection — every HTTP(S) client in the process
tree is pointed at a trap proxy that counts who knocks — and logs no ERROR: the server's
telemetry heartbeat, whose write into the ephemeral server's SQLite database raced the flow
run's and failed with `database is locked`, no longer runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FakeClock, open_app
from tests.support.march_world import build_march

ZHIBAO = [sys.executable, "-m", "infra.cli.main"]


class TrapProxy:
    """A proxy that answers nobody: it only counts the connections made to it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.knocks = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.knocks += 1
            connection.close()


@pytest.fixture
def trap() -> Iterator[TrapProxy]:
    proxy = TrapProxy()
    yield proxy
    proxy.socket.close()


def test_a_flow_run_calls_nobody_and_logs_no_error(trap: TrapProxy, clock: FakeClock,
                                                    tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/zhibao.db"
    app = open_app(url, clock)
    build_march(app, clock)
    app.close()

    quiet = ("PREFECT_", "ZHIBAO_", "DO_NOT_TRACK", "CI", "HTTP_PROXY", "HTTPS_PROXY",
             "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith(quiet)}
    proxy = f"http://127.0.0.1:{trap.port}"
    env.update(ZHIBAO_DATABASE_URL=url, ZHIBAO_OUTPUT_DIR=str(tmp_path / "out"),
               ZHIBAO_AUDIT_SIGNING_KEY="", PREFECT_HOME=str(tmp_path / "prefect"),
               HTTP_PROXY=proxy, HTTPS_PROXY=proxy, ALL_PROXY=proxy, http_proxy=proxy,
               https_proxy=proxy, all_proxy=proxy, NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost",
               # the ephemeral server gets more than its default 20 s to start on a busy
               # machine (the suite runs beside other work on two cores)
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90")
    run = subprocess.run([*ZHIBAO, "flows", "run", "cascade", "--period", "2021-03"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert "Finished in state Completed" in log
    assert [line for line in log.splitlines() if "| ERROR" in line or "Traceback" in line
            or "locked" in line] == []
    assert trap.knocks == 0
