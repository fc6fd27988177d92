"""The web workspace's guards against a real `zhibao serve`, on SQLite and PostgreSQL: a
password set once through an invitation link, sessions that expire and end at sign-out,
CSRF on every form, lock-out after repeated failures (each recorded, never the password),
security headers — and a form refused by the service shows the field and rule."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.http.credentials import Credentials
from infra.intake.service import Zhibao
from infra.reporting.reporter import open_period, open_views
from infra.settings import Settings
from tests.support.builders import World, build_world
from tests.support.server import Server, event_count, serving

PASSWORD = "correct horse battery"
SESSION_SECONDS = 3


@dataclass
class Workspace:
    server: Server
    world: World
    invitations: dict[str, str]

    def events(self) -> int:
        return event_count(self.server.database_url)


@pytest.fixture(scope="module")
def workspace(module_database_url: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Workspace]:
    tmp = tmp_path_factory.mktemp("web")
    app = Zhibao(Settings(database_url=module_database_url, audit_signing_key=None))
    world = build_world(app)
    views = open_views(app)
    open_period(app, views, "2021-03")  # as the scheduler opens each month
    views.close()
    world.persons["auditor"] = world.person("county_gov", "auditor", name="审计员")
    credentials = Credentials(app)
    invitations = {name: credentials.invite(world.persons[name], name).secret
                   for name in ("village", "town", "other_town", "auditor", "chem")}
    credentials.close()
    app.close()
    with serving(module_database_url, tmp, ZHIBAO_HTTP_SESSION_SECONDS=str(SESSION_SECONDS),
                 ZHIBAO_HTTP_MAX_FAILURES="3") as server:
        space = Workspace(server, world, invitations)
        for name in ("village", "town", "other_town", "auditor", "chem"):
            accept(space, name)
        yield space


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def accept(space: Workspace, name: str) -> None:
    with space.server.client() as browser:
        page = browser.get("/invitation", params={"key": space.invitations[name]})
        assert page.status_code == 200 and name in page.text
        done = browser.post("/invitation", data={
            "csrf_token": csrf(page.text), "key": space.invitations[name], "login": name,
            "password": PASSWORD, "password2": PASSWORD})
        assert "密码已设置" in done.text


def sign_in(space: Workspace, name: str, password: str = PASSWORD) -> httpx.Client:
    browser = space.server.client(follow_redirects=False)
    page = browser.get("/signin")
    response = browser.post("/signin", data={"csrf_token": csrf(page.text), "login": name,
                                             "password": password})
    browser.last = response  # type: ignore[attr-defined]
    return browser


def test_an_invitation_works_once(workspace: Workspace) -> None:
    with workspace.server.client() as browser:
        again = browser.get("/invitation", params={"key": workspace.invitations["village"]})
    assert again.status_code == 404


def test_sign_in_shows_my_unit_and_sign_out_ends_the_session(workspace: Workspace) -> None:
    browser = sign_in(workspace, "village")
    assert browser.last.status_code == 303  # type: ignore[attr-defined]
    cookie = browser.last.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    dashboard = browser.get("/dashboard")
    assert dashboard.status_code == 200 and "一村" in dashboard.text
    assert dashboard.headers["cache-control"] == "no-store"
    policy = dashboard.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "<script" not in dashboard.text
    assert browser.get("/dashboard", params={"unit": "610902101000"}).status_code == 403

    stolen = dict(browser.cookies)
    signed_out = browser.post("/signout", data={"csrf_token": csrf(dashboard.text)})
    assert signed_out.status_code == 303
    with workspace.server.client(follow_redirects=False, cookies=stolen) as replay:
        assert replay.get("/dashboard").headers["location"] == "/signin"


def test_a_session_expires(workspace: Workspace) -> None:
    browser = sign_in(workspace, "town")
    assert browser.get("/dashboard").status_code == 200
    time.sleep(SESSION_SECONDS + 1.5)
    assert browser.get("/dashboard").headers["location"] == "/signin"


def report_form(space: Workspace, enterprise: str = "chem", **fields: str) -> dict[str, str]:
    return {"enterprise_id": str(space.world.enterprises[enterprise]), "channel": "photo_report",
            "discovered_at": "2021-03-02T09:30", "description": "配电箱无防护",
            "category": "unsafe_condition", **fields}


def test_forms_need_their_csrf_token(workspace: Workspace) -> None:
    browser = sign_in(workspace, "village")
    before = workspace.events()
    for token in (None, "forged"):
        data = report_form(workspace) | ({"csrf_token": token} if token else {})
        response = browser.post("/hazards/new", data=data)
        assert response.status_code == 403 and "csrf_token" in response.text
    assert workspace.events() == before
    page = browser.get("/hazards/new")
    done = browser.post("/hazards/new", data={**report_form(workspace),
                                              "csrf_token": csrf(page.text)})
    assert done.status_code == 303 and done.headers["location"].startswith("/hazards/")
    assert workspace.events() == before + 1


def test_a_refused_form_shows_the_field_and_rule_and_writes_nothing(
        workspace: Workspace) -> None:
    village = sign_in(workspace, "village")
    page = village.get("/hazards/new")
    reported = village.post("/hazards/new", data={**report_form(workspace),
                                                  "csrf_token": csrf(page.text)})
    hazard = reported.headers["location"]
    town = sign_in(workspace, "town")
    page = town.get(hazard, params={"act": "ConfirmHazard"})
    assert page.status_code == 200 and 'name="deadline"' in page.text
    before = workspace.events()
    refused = town.post(f"{hazard}/ConfirmHazard", data={
        "csrf_token": csrf(page.text), "grade": "general", "treatment": "deadline",
        "deadline": "2021-02-01"})
    assert refused.status_code == 422
    assert re.search(r'data-field="deadline">[^<]*2021-02-01', refused.text)
    assert workspace.events() == before
    other = sign_in(workspace, "other_town")
    assert other.get(hazard).status_code == 403
    assert "ConfirmHazard" not in village.get(hazard).text  # not the grid worker's to do


def test_repeated_failures_lock_the_login_and_are_recorded(workspace: Workspace) -> None:
    before = workspace.events()
    for _ in range(3):
        failed = sign_in(workspace, "other_town", "wrong password!")
        assert failed.last.status_code == 401  # type: ignore[attr-defined]
    locked = sign_in(workspace, "other_town")
    assert locked.last.status_code == 401  # type: ignore[attr-defined]
    assert "锁定" in locked.last.text  # type: ignore[attr-defined]
    assert workspace.events() == before + 4  # three failures and one locked-out attempt
    app = Zhibao(Settings(database_url=workspace.server.database_url, audit_signing_key=None))
    try:
        failures = [n for n in app.recorder.select_notifications(start=before, limit=10)
                    if n.topic.endswith("SignInFailed")]
    finally:
        app.close()
    assert len(failures) == 4
    assert not any(b"wrong password!" in n.state or PASSWORD.encode() in n.state
                   for n in failures)


def test_sign_in_attempts_are_rate_limited_per_address(workspace: Workspace,
                                                       tmp_path: Path) -> None:
    with serving(workspace.server.database_url, tmp_path, ZHIBAO_HTTP_LOGIN_RATE="3") as other:
        limited = Workspace(other, workspace.world, workspace.invitations)
        before = workspace.events()
        answers = [sign_in(limited, "nobody", "guess-guess").last  # type: ignore[attr-defined]
                   .status_code for _ in range(4)]
        assert answers == [401, 401, 401, 429]
        assert sign_in(limited, "village").last.status_code == 429  # type: ignore[attr-defined]
        assert workspace.events() == before  # an unknown login has no credential to record


def test_an_auditor_reads_its_county_and_writes_nothing(workspace: Workspace) -> None:
    auditor = sign_in(workspace, "auditor")
    county = auditor.get("/dashboard", params={"unit": "610902"})
    assert county.status_code == 200 and "上报隐患" not in county.text
    assert auditor.get("/dashboard", params={"unit": "610921"}).status_code == 403
    assert auditor.get("/audit").status_code == 200
    assert auditor.get("/hazards/new").status_code == 403
    before = workspace.events()
    refused = auditor.post("/hazards/new", data={**report_form(workspace),
                                                 "csrf_token": csrf(county.text)})
    assert refused.status_code == 403 and "AUTH-ROLE" in refused.text
    assert workspace.events() == before


def test_an_enterprise_submits_its_self_inspection(workspace: Workspace) -> None:
    chem = sign_in(workspace, "chem")
    assert chem.get("/dashboard").headers["location"] == "/hazards"
    page = chem.get("/self-inspection")
    enterprise = str(workspace.world.enterprises["chem"])
    assert page.status_code == 200 and f'value="{enterprise}"' in page.text
    form = {"csrf_token": csrf(page.text), "enterprise_id": enterprise,
            "submitted_at": "2021-03-31T17:00", "hazards_found": "2",
            "signed_by_principal": "true"}
    before = workspace.events()
    refused = chem.post("/self-inspection", data={**form, "period": "2021-13"})
    assert refused.status_code == 422 and 'data-field="period"' in refused.text
    assert workspace.events() == before
    done = chem.post("/self-inspection", data={**form, "period": "2021-03"})
    assert done.status_code == 303 and workspace.events() == before + 1
