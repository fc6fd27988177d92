"""The front door: (a) 16 concurrent clients posting single commands to a real `zhibao
serve` vs the in-process single-command path (`Zhibao.execute`, one command per
transaction) on the same store, in alternating rounds — target ≥ 0.5, with p50 and p99
latency; (b) the city's
dashboard page (signed in, figures assembled as its submission's) vs the bare SQL that
reads the same figures from the views (`projections.stats.tally`), reported with its p95.

The store is the demo's first two months (about 25,000 events), not the scale-8 store of
1.1M events: building that takes longer than this benchmark may.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import threading
import time
from datetime import datetime
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import orjson

from bench.harness import Result, fresh_store, stopwatch
from bench.serving import serving
from domain.authority import Role
from domain.base import SHANGHAI
from domain.commands import ReportHazard
from infra.demo import build_demo
from infra.http.credentials import Credentials
from infra.http.demo import DEMO_PASSWORD, demo_accounts
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import Issuer
from infra.reporting.reporter import catch_up, open_period, open_views
from infra.settings import Settings
from projections.report import Assembler
from projections.stats import tally

UNTIL = datetime(2021, 2, 28, 23, 59, tzinfo=SHANGHAI)
PERIOD = "2021-02"
CLIENTS = 16
COMMANDS = 320  # over HTTP per round, 20 per client
IN_PROCESS = 160  # per round
ROUNDS = 3  # alternating, so both sides see the same load on a shared machine
PAGES = 10
WORKERS = 1  # server processes (ZHIBAO_HTTP_WORKERS); 2 measured no better here


def _village_and_enterprise(app: Zhibao) -> tuple[UUID, UUID]:
    """A grid worker and an enterprise of their village."""
    directory = app.directory
    for person in directory.persons.values():
        if Role.GRID_WORKER in person.roles:
            village = directory.org(person.org_id).unit_code
            for enterprise in directory.enterprises.values():
                if directory.current_code(enterprise.moves[-1][1]) == village:
                    return person.person_id, enterprise.enterprise_id
    raise LookupError("no grid worker with an enterprise in their village")


def _command(enterprise: UUID, number: int) -> dict[str, str]:
    return {"command": "ReportHazard", "enterprise_id": str(enterprise),
            "channel": "photo_report", "discovered_at": "2021-02-20T10:00",
            "description": f"基准测试隐患 {number}", "category": "unsafe_condition"}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _post_concurrently(base: str, token: str, enterprise: UUID) -> tuple[float, list[float]]:
    """Seconds for COMMANDS commands over HTTP from CLIENTS threads, and each request's
    latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = COMMANDS // CLIENTS

    address = urlsplit(base)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(index: int) -> None:
        """One keep-alive connection, the standard library's client: the clients share
        this machine's cores with the server, so they should cost little."""
        mine = []
        http = HTTPConnection(address.hostname, address.port, timeout=120)
        bodies = [orjson.dumps(_command(enterprise, index * per_client + n))
                  for n in range(per_client)]
        for body in bodies:
            started = time.perf_counter()
            http.request("POST", "/api/v1/commands", body, headers)
            response = http.getresponse()
            answer = response.read()
            mine.append(time.perf_counter() - started)
            assert response.status == 201, answer
        http.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    with stopwatch() as elapsed:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return elapsed[0], latencies


def _in_process(app: Zhibao, person: UUID, enterprise: UUID) -> float:
    """Seconds for IN_PROCESS commands through the application service, one per
    transaction."""
    issuer = Issuer(person)
    commands = [ReportHazard.model_validate(_command(enterprise, n)) for n in
                range(IN_PROCESS)]
    with stopwatch() as elapsed:
        for command in commands:
            app.execute(command, issuer)
    return elapsed[0]


def _signed_in(base: str, login: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=300)
    page = http.get("/signin").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    http.post("/signin", data={"csrf_token": token.group(1), "login": login,
                               "password": DEMO_PASSWORD})
    return http


def _dashboard_times(base: str) -> list[float]:
    http = _signed_in(base, "city")
    try:
        assert http.get("/dashboard", params={"period": PERIOD}).status_code == 200  # warm
        times = []
        for _ in range(PAGES):
            started = time.perf_counter()
            assert http.get("/dashboard", params={"period": PERIOD}).status_code == 200
            times.append(time.perf_counter() - started)
        return times
    finally:
        http.close()


def _bare_sql_times(app: Zhibao) -> list[float]:
    views = open_views(app)
    try:
        times = []
        for _ in range(PAGES):
            with views.snapshot() as tx, stopwatch() as elapsed:
                assembler = Assembler(tx, PERIOD, datetime.now(SHANGHAI), counted=False)
                tally(tx, assembler.window, assembler.tree)
            times.append(elapsed[0])
        return times
    finally:
        views.close()


def _prepare(url: str) -> tuple[UUID, UUID, str]:
    app = Zhibao(Settings(database_url=url, audit_signing_key=None))
    try:
        build_demo(app, until=UNTIL)
        app.clock = lambda: datetime.now(SHANGHAI)
        views = open_views(app)
        catch_up(app, views)
        open_period(app, views, PERIOD)
        views.close()
        credentials = Credentials(app)
        demo_accounts(credentials)
        person, enterprise = _village_and_enterprise(app)
        token = credentials.issue_token(person, ("ReportHazard",), 1, "bench").secret
        credentials.close()
        return person, enterprise, token
    finally:
        app.close()


def run(stores: list[str]) -> list[Result]:
    results = []
    for kind in stores:
        with fresh_store(kind) as url, tempfile.TemporaryDirectory() as tmp:
            person, enterprise, token = _prepare(url)
            app = Zhibao(Settings(database_url=url, audit_signing_key=None))
            with serving(url, Path(tmp), ZHIBAO_HTTP_WORKERS=str(WORKERS)) as base:
                here = there = 0.0
                latencies: list[float] = []
                for _ in range(ROUNDS):
                    here += _in_process(app, person, enterprise)
                    took, measured = _post_concurrently(base, token, enterprise)
                    there += took
                    latencies.extend(measured)
                pages = _dashboard_times(base)
            in_process = ROUNDS * IN_PROCESS / here
            over_http = ROUNDS * COMMANDS / there
            sql = _bare_sql_times(app)
            app.close()
            results.append(Result(
                f"http {kind}: {CLIENTS} clients posting single commands", over_http,
                "commands/s", in_process, "in-process execute", 0.5,
                f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
                f"p99 {_percentile(latencies, 0.99) * 1000:.0f} ms"))
            results.append(Result(
                f"http {kind}: bare SQL reading the city's figures (tally)",
                statistics.median(sql) * 1000, "ms", statistics.median(pages) * 1000,
                "the city dashboard page (p50)", None,
                f"page p95 {_percentile(pages, 0.95) * 1000:.0f} ms; ratio = the share of "
                f"the page that is the SQL; {PERIOD} demo store, not scale 8"))
    return results

