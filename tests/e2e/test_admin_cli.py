"""Starting a store as a user does, on both stores: `zhibao admin init` registers the top
unit, its top org and the first administrator once, and prints who to act as; the
administrator then works through `zhibao command --as`. A second init, or a malformed one,
is refused in one line and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import orjson
import pytest

from infra.cli.main import main
from infra.intake.service import Zhibao
from infra.settings import Settings, get_settings

INIT = ["admin", "init", "--unit", "610000", "--unit-name", "陕西省",
        "--org-name", "陕西省安全生产委员会办公室", "--admin-name", "张三"]


@pytest.fixture
def store(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", database_url)
    monkeypatch.delenv("ZHIBAO_ACTOR", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def events(database_url: str) -> int:
    app = Zhibao(Settings(database_url=database_url))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def test_admin_init_starts_a_store_once(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(INIT) == 0
    out, err = capsys.readouterr()
    assert "陕西省 610000 is the top unit" in " ".join(err.split())
    admin = out.strip().removeprefix("ZHIBAO_ACTOR=")
    written = events(store)
    assert written == 4  # the unit, the org, the person and their role

    assert main([*INIT[:3], "620000", *INIT[4:]]) == 2
    assert "the store already has persons" in capsys.readouterr().err
    assert events(store) == written

    city = {"command": "RegisterAdminUnit", "code": "610900", "code_system": "GB2260",
            "level": "city", "kind": "地级市", "name": "安康市", "parent_code": "610000",
            "valid_from": "2000-01-01"}
    assert main(["command", orjson.dumps(city).decode(), "--as", admin]) == 0
    assert orjson.loads(capsys.readouterr().out)["events"] == 1
    clerk = {"command": "RegisterPerson", "person_id": str(uuid4()), "name": "李四",
             "org_id": str(uuid4()), "roles": ["committee_staff"]}
    assert main(["command", orjson.dumps(clerk).decode(), "--as", admin]) == 2
    assert "org_id: no org or enterprise has the id" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--level", "country", "level: Input should be 'village'"),
    ("--org-type", "department", "the top org is a government, 安委会 or 安委办"),
    ("--unit", "61000", "code"),
])
def test_a_malformed_init_is_refused_in_one_line(store: str, option: str, value: str,
                                                 says: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    arguments = list(INIT)
    if option in arguments:
        arguments[arguments.index(option) + 1] = value
    else:
        arguments += [option, value]
    assert main(arguments) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err and "Traceback" not in err
    assert events(store) == 0
