"""`zhibao credentials` as an operator runs it, on both stores: a token printed once and
working at once, listed without its secret, revoked; an invitation link; bad input refused
in one line naming the field, exit 2, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from infra.cli.main import main
from infra.http.credentials import Credentials, Refused
from infra.intake.service import Zhibao
from infra.settings import Settings, get_settings
from tests.support.builders import World, build_world
from tests.support.server import event_count


@pytest.fixture
def world(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    app = Zhibao(Settings(database_url=database_url, audit_signing_key=None))
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield build_world(app)
    app.close()
    get_settings.cache_clear()


def test_issue_list_revoke_and_invite(world: World, database_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    person = str(world.persons["county_ema"])
    assert main(["credentials", "issue", person, "--scope", "ReportHazard,read", "--days",
                 "7", "--label", "county IT"]) == 0
    token = capsys.readouterr().out.strip()
    credentials = Credentials(Zhibao(Settings(database_url=database_url,
                                              audit_signing_key=None)))
    principal = credentials.token(token)
    assert str(principal.person_id) == person and principal.scope == {"ReportHazard", "read"}

    assert main(["credentials", "list"]) == 0
    listed = capsys.readouterr().out
    assert str(principal.credential_id) in listed and token.split("_", 2)[2] not in listed

    assert main(["credentials", "revoke", str(principal.credential_id), "--reason",
                 "project ended"]) == 0
    with pytest.raises(Refused, match="revoked"):
        credentials.token(token)

    assert main(["credentials", "invite", str(world.persons["town"]), "--login", "li"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://127.0.0.1:8000/invitation?key=zb_")
    assert credentials.invitation(link.partition("key=")[2])["login"] == "li"
    credentials.close()
    credentials.app.close()


@pytest.mark.parametrize(("argv", "says"), [
    (["issue", "not-a-uuid", "--scope", "read"], "person: 'not-a-uuid' is not an id"),
    (["issue", "{person}", "--scope", "Teleport"], "scope: Teleport: not an action"),
    (["issue", "{person}", "--scope", "read", "--days", "0"], "expires:"),
    (["issue", str(uuid4()), "--scope", "read"], "actor: no registered person"),
    (["revoke", str(uuid4()), "--reason", "x"], "credential_id: no credential"),
])
def test_bad_input_is_refused_in_one_line(world: World, database_url: str, argv: list[str],
                                          says: str, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    before = event_count(database_url)
    argv = [arg.replace("{person}", str(world.persons["town"])) for arg in argv]
    assert main(["credentials", *argv]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err and "Traceback" not in err
    assert event_count(database_url) == before
