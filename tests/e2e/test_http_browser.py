"""The workspace in a real headless Chromium (Debian's `chromium`, driven by Playwright),
against a real `zhibao serve`, on SQLite and PostgreSQL: a village grid worker signs in and
reports a hazard through the form; the town officer signs in, tries to confirm it with a
deadline before its discovery and sees the field and rule beside the deadline, confirms it,
and sees the dashboard's figures equal those of the town's submission JSON. When a step
fails, a screenshot is kept (test-artifacts/, or ZHIBAO_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from infra.http.credentials import Credentials
from infra.intake.service import Zhibao
from infra.reporting.reporter import open_period, open_views
from infra.settings import Settings
from tests.support.builders import World, build_world
from tests.support.server import Server, serving

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-test-password"
ARTIFACTS = Path(os.environ.get("ZHIBAO_TEST_ARTIFACTS", "test-artifacts"))

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (.ci/run installs it)")


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, World]]:
    app = Zhibao(Settings(database_url=database_url, audit_signing_key=None))
    world = build_world(app)
    views = open_views(app)
    open_period(app, views, "2021-03")
    views.close()
    credentials = Credentials(app)
    for name in ("village", "town"):
        credentials.accept(credentials.invite(world.persons[name], name).secret, PASSWORD)
    credentials.close()
    app.close()
    with serving(database_url, tmp_path) as server:
        yield server, world


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser page; if the test fails while using it, its screenshot is kept."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN").new_page()
        yield page
        if getattr(request.node, "call_failed", False):
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
        browser.close()


def sign_in(page: Page, url: str, login: str) -> None:
    page.goto(f"{url}/signin")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).not_to_have_text("登录")


def test_report_refuse_confirm_and_the_dashboard(served: tuple[Server, World],
                                                 page: Page, tmp_path: Path) -> None:
    server, world = served
    sign_in(page, server.url, "village")
    page.click("text=上报隐患")
    page.fill("#f-enterprise_id", str(world.enterprises["chem"]))
    page.select_option("#f-channel", "photo_report")
    page.fill("#f-discovered_at", "2021-03-05T10:20")
    page.fill("#f-description", "消防通道堵塞")
    page.select_option("#f-category", "unsafe_condition")
    page.click("button:has-text('提交')")
    expect(page.locator("#timeline")).to_contain_text("HazardReported")
    hazard_url = page.url
    expect(page.locator(".actions")).to_have_count(0)  # nothing more is the grid worker's
    page.click("button:has-text('退出')")

    sign_in(page, server.url, "town")
    page.goto(hazard_url)
    page.click("text=确认隐患")
    page.select_option("#f-grade", "general")
    page.select_option("#f-treatment", "deadline")
    page.fill("#f-deadline", "2021-03-01")
    page.click("button:has-text('提交')")
    error = page.locator("[data-field=deadline]")
    expect(error).to_contain_text("2021-03-01")
    expect(error).to_contain_text("must be after the discovery date 2021-03-05 (V1)")
    page.fill("#f-deadline", "2021-03-25")
    page.click("button:has-text('提交')")
    expect(page.locator("#timeline")).to_contain_text("HazardConfirmed")

    page.goto(f"{server.url}/submissions?period=2021-03")
    page.click("button:has-text('生成并报送')")
    expect(page.locator("#versions")).to_contain_text("v1")
    submitted = page.request.get(f"{server.url}/submissions/610902101000/2021-03/v1.json")
    statistics = {f["code"]: f for f in orjson.loads(submitted.body())["statistics"]}

    page.goto(f"{server.url}/dashboard?period=2021-03")
    rows = page.locator("#headline tbody tr")
    expect(rows).to_have_count(7)
    for i in range(rows.count()):
        row = rows.nth(i)
        figure = statistics[row.get_attribute("data-code") or ""]
        for column in ("month", "cumulative", "at_end"):
            shown = row.locator(f"[data-column={column}]").inner_text().strip()
            if column in figure:
                value = figure[column]
                unit = "%" if figure["measure"] == "%" else ""
                expected = "—" if value is None else f"{value}{unit}"
                assert shown == expected, (figure["code"], column)
    assert statistics["B1"]["month"] == 1
    expect(page.locator("#children")).to_contain_text("一村")
    page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
