"""The example systemd units in deploy/ run commands zhibao accepts: each `zhibao …` line
parses with the real command line's parser, and every unit names the shared environment
file, whose Prefect settings keep it offline."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from infra.cli.main import build_parser
from infra.settings import PREFECT_OFFLINE

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_there_is_a_unit_for_every_long_running_process():
    assert {path.name for path in UNITS} >= {
        "zhibao-serve.service", "zhibao-projector.service", "zhibao-relay.service",
        "zhibao-consumer@.service", "prefect-server.service", "zhibao-worker.service"}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_zhibao_command_parses(path: Path):
    assert "\nEnvironmentFile=/etc/zhibao/zhibao.env\n" in path.read_text()
    service = unit(path)["Service"]
    for key in ("ExecStartPre", "ExecStart"):
        if key not in service:
            continue
        program, *args = shlex.split(service[key].replace("%i", "610902"))
        if Path(program).name != "zhibao":
            continue
        parsed = build_parser().parse_args(args)
        assert callable(parsed.run)


def test_the_environment_keeps_prefect_offline():
    lines = dict(line.split("=", 1) for line in (DEPLOY / "zhibao.env").read_text().splitlines()
                 if line and not line.startswith("#"))
    assert {name: lines.get(name) for name in PREFECT_OFFLINE} == PREFECT_OFFLINE
