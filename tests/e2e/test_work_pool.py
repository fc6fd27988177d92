"""The production set-up of the schedules (deploy/): a real `prefect server start`, the
deployments registered for a process work pool by `zhibao flows deploy`, and a real `prefect
worker start` that picks up a cascade run and runs it in a process of its own — recording
every unit's submission and writing its files, offline (PREFECT_OFFLINE), as the systemd
units set it. Slow by nature (a server, a worker, a flow-run process): about a minute."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.settings import PREFECT_OFFLINE
from infra.store.summary import events_by_type
from tests.conftest import FakeClock, open_app
from tests.integration.test_flows import prefect_server  # noqa: F401 (the fixture)
from tests.support.march_world import CITY, build_march

BIN = Path(sys.executable).parent
POOL = "zhibao-test"


@pytest.mark.slow
def test_a_worker_of_a_process_pool_runs_the_cascade(prefect_server: str,  # noqa: F811
                                                     clock: FakeClock, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"sqlite:///{tmp_path}/zhibao.db"
    app = open_app(url, clock)
    build_march(app, clock)
    app.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIBAO_", "PREFECT_"))}
    env.update(PREFECT_OFFLINE, PREFECT_API_URL=prefect_server,
               PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_WORKER_QUERY_SECONDS="1",
               ZHIBAO_DATABASE_URL=url, ZHIBAO_OUTPUT_DIR=str(tmp_path / "out"),
               ZHIBAO_AUDIT_SIGNING_KEY="", ZHIBAO_REPORT_WORKERS="1")

    deployed = subprocess.run([str(BIN / "zhibao"), "flows", "deploy", "--pool", POOL],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert deployed.returncode == 0, deployed.stderr
    assert "zhibao-report-cascade/monthly" in deployed.stderr

    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", POOL,
                               "--type", "process"], env=env, cwd=tmp_path,
                              stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        with temporary_settings(updates={PREFECT_API_URL: prefect_server}), \
                get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("zhibao-report-cascade/monthly")
            assert deployment.work_pool_name == POOL
            run = client.create_flow_run_from_deployment(deployment.id,
                                                          parameters={"period": "2021-03"})
            deadline = time.monotonic() + 150
            while not (state := client.read_flow_run(run.id).state).is_final():
                assert time.monotonic() < deadline, f"the run is still {state.name}"
                time.sleep(1)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still winding down on a loaded machine: the
            worker.kill()                  # cascade is what this test is about
            worker.wait()
        worker_log.close()
    log = (tmp_path / "worker.log").read_text()
    assert state.is_completed(), log[-3000:]
    assert "| ERROR" not in log

    app = open_app(url, clock)
    recorded = events_by_type(app.recorder)["ReportSubmitted"]
    app.close()
    assert recorded == 4 + 3 + 2 + 1  # every village, town, county and the city
    assert (tmp_path / "out/reports/2021-03" / CITY / "v1.pdf").is_file()
