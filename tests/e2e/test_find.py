"""`zhibao find`, as a user looks up the ids a command needs, on both stores: by part of a
name, by the start of a unit code or USCC, by the start of an id, limited to some kinds;
nothing found is exit status 1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.cli.common import console
from infra.cli.main import main
from infra.intake.service import Zhibao
from infra.settings import get_settings
from tests.support.builders import World, build_world


@pytest.fixture
def world(app: Zhibao, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    built = build_world(app)
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", app.settings.database_url)
    monkeypatch.setattr(console, "width", 250)  # rows whole, so each is one line
    get_settings.cache_clear()
    yield built
    get_settings.cache_clear()


def rows(capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("│").split("│")]
            for line in capsys.readouterr().err.splitlines() if line.startswith("│")]


def test_find_by_name_code_uscc_and_id(world: World, capsys: pytest.CaptureFixture[str]):
    assert main(["find", "汉阴"]) == 0
    assert [(r[0], r[2], r[3]) for r in rows(capsys)] == [("unit", "610921", "汉阴县")]

    assert main(["find", "6109021", "--kind", "unit"]) == 0
    codes = [r[2] for r in rows(capsys)]
    assert "610902101000" in codes and all(code.startswith("6109021") for code in codes)

    chem = str(world.enterprises["chem"])
    assert main(["find", chem[:8], "--kind", "enterprise"]) == 0
    [found] = rows(capsys)
    assert found[:2] == ["enterprise", chem] and found[4].startswith("610902101201")

    assert main(["find", "county_ema", "--kind", "person", "--kind", "org"]) == 0
    found = rows(capsys)
    assert {("org", str(world.orgs["county_ema"])),
            ("person", str(world.persons["county_ema"]))} <= {(r[0], r[1]) for r in found}
    assert {r[0] for r in found} == {"org", "person"}
    assert all("county_ema" in r[3] for r in found)
    assert main(["find", "91610921"]) == 0  # the start of the mine's USCC
    assert [(r[0], r[1]) for r in rows(capsys)] == [("enterprise", str(world.enterprises["mine"]))]


def test_nothing_found_is_exit_status_1(world: World, capsys: pytest.CaptureFixture[str]):
    assert main(["find", "没有这个名字"]) == 1
    assert "0 found" in capsys.readouterr().err
