"""schemathesis against the OpenAPI document a real `zhibao serve` serves (SQLite): every
operation, with generated input, as a person holding a token — never a 5xx, and every
response matches the schema the document declares for it. A few examples per operation
keep it fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from infra.http.credentials import SCOPES, Credentials
from infra.intake.service import Zhibao
from infra.reporting.reporter import open_period, open_views
from infra.settings import Settings
from tests.support.builders import build_world
from tests.support.server import Server, serving


@schemathesis.serializer("application/x-ndjson")
def jsonl(ctx: object, value: object) -> dict[str, bytes]:
    """A batch body is text: one command per line."""
    return {"data": value if isinstance(value, bytes) else str(value).encode()}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    tmp = tmp_path_factory.mktemp("openapi")
    url = f"sqlite:///{tmp}/zhibao.db"
    app = Zhibao(Settings(database_url=url, audit_signing_key=None))
    world = build_world(app)
    views = open_views(app)
    open_period(app, views, "2021-03")
    views.close()
    credentials = Credentials(app)
    token = credentials.issue_token(world.persons["county_ema"], tuple(SCOPES), 30).secret
    credentials.close()
    app.close()
    with serving(url, tmp) as server:
        yield server, token


def test_no_server_error_and_every_response_matches_its_schema(
        served: tuple[Server, str]) -> None:
    server, token = served
    api = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    checked = []
    for found in api.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url, headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance,
                                           content_type_conformance])

        exercise()
        checked.append(operation.label)
    assert len(checked) >= 15, checked
