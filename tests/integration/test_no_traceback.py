"""No traceback, whatever arrives (issue 10 §4), as a property (hypothesis): generated
command JSON — every entry command, its fields filled with values a careless or hostile
client might send, the text itself sometimes broken — goes through the parser every entry
point shares and the application service, as a registered person of a small world. Each
input is either applied, or refused with a `DomainError` (or a conflict) that names a
field and a rule of `domain.rules.RULES` and leaves the store exactly as it was. Nothing
else may come out. Generated command-line arguments go through `main()` the same way: no
traceback reaches the user, no internal error, and a refusal writes nothing.

At least 10,000 generated commands run on SQLite (in process, about half a minute); fewer
on PostgreSQL and through the command line."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import domain
from domain.base import DomainError
from domain.commands import ENTRY_COMMANDS
from domain.rules import RULES
from domain.values import MAX_COUNT, MAX_FEN, MAX_TEXT
from infra.cli.main import INTERNAL_ERROR, main
from infra.intake.parsing import command_from_json
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import ConflictError
from infra.settings import get_settings
from tests.support.builders import World
from tests.support.hazard_paths import Hazards

BATCH = 20
"""Commands per generated example: a sequence, so hypothesis' own cost per example is
shared by many commands (and a failing sequence still shrinks)."""
COMMANDS = {"sqlite": 10_000, "postgres": 1_000}
"""Generated commands per store: the property's weight lies on the in-process store."""
CLI_RUNS = 150


def _enum_values() -> list[str]:
    """Every enumeration value the domain knows (channels, grades, roles …)."""
    import importlib
    import pkgutil

    values = []
    for module_info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"domain.{module_info.name}")
        for item in vars(module).values():
            if isinstance(item, type) and issubclass(item, enum.Enum) and \
                    item.__module__ == module.__name__:
                values.extend(str(member.value) for member in item)
    return values


ENUM_VALUES = _enum_values()
HOSTILE = [
    "12345678901234567890分", "99999999999999999999999元", f"{MAX_FEN}分", f"{MAX_FEN + 1}分",
    "1.5万元", "300元", {"amount": "Infinity", "unit": "元"}, {"amount": "1e400", "unit": "分"},
    {"amount": 1e308, "unit": "万元"}, {"amount": "5", "unit": "美元"},
    "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1949-09-30T23:59:59",
    "1949-10-01T00:00:00+08:00", "2021-02-01T10:00", "2021-02-30", "2021-02-20", "2099-01-01",
    "2021-01", "2021-13", "2021-Q2", "9999-12", "0000-01", 1614556800, -1, 0, 2**63, 2**64,
    MAX_COUNT, MAX_COUNT + 1, 1.5, True, False, "yes", "true", None, "", " ", "x" * MAX_TEXT,
    "x" * (MAX_TEXT + 1), "６１０９０２１０１２０１", "610902101201", "610902101000", "610902",
    "610900", "610000", "\u0000", "\u202e", "大" * 50, "superadmin", [], {}, ["fire"] * 1001,
    str(uuid4()), "00000000-0000-4000-8000-000000000001",
]
COMMAND_NAMES = [cls.__name__ for cls in ENTRY_COMMANDS]
STRANGE_NAMES = ["SubmitReport", "AmendReport", "SignCheckpoint", "LaunchRocket", ""]
FIELDS = {cls.__name__: sorted(set(cls.model_fields) | {"command_id", "occurred_at"})
          for cls in ENTRY_COMMANDS}


def _known_values(world: World, hazards: list[UUID]) -> list[Any]:
    ids = [*world.orgs.values(), *world.enterprises.values(), *world.persons.values(), *hazards]
    return [str(known) for known in ids]


def values(known: list[Any]) -> st.SearchStrategy[Any]:
    """Values for any field: hostile ones, ids of the world, enumeration values, and
    whatever hypothesis makes of numbers, texts, dates, short lists and objects."""
    scalar = st.one_of(
        st.sampled_from(HOSTILE), st.sampled_from(known), st.sampled_from(ENUM_VALUES),
        st.integers(), st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30), st.dates(date(1900, 1, 1), date(2300, 1, 1)).map(str),
        st.booleans(), st.none())
    return st.one_of(scalar, st.lists(scalar, max_size=3),
                     st.dictionaries(st.sampled_from(["amount", "unit", "x"]), scalar,
                                     max_size=2))


@st.composite
def command_texts(draw: st.DrawFn, value: st.SearchStrategy[Any]) -> bytes:
    """A command's JSON: a command name (rarely an unknown or internal one), some of its
    fields (rarely a foreign one) with generated values — sometimes broken as text."""
    name = draw(st.one_of(st.sampled_from(COMMAND_NAMES), st.sampled_from(STRANGE_NAMES)))
    fields = FIELDS.get(name, ["unit_code", "period"])
    chosen = draw(st.lists(st.sampled_from(fields), unique=True, max_size=len(fields)))
    body: dict[str, Any] = {"command": name}
    for field in chosen:
        body[field] = draw(value)
    if draw(st.integers(0, 20)) == 0:
        body[draw(st.sampled_from(["actor", "colour", "role"]))] = draw(value)
    raw = json.dumps(body, ensure_ascii=False).encode()
    damage = draw(st.integers(0, 30))
    if damage == 0:
        return raw[:draw(st.integers(0, len(raw)))]
    if damage == 1:
        return raw.replace(b"{", b'{"command": "VoidHazard", ', 1)
    if damage == 2:
        return raw + b"\xff"
    if damage == 3:
        return raw.replace(b"null", b"NaN")
    return raw


def templates(world: World, case: UUID) -> list[tuple[str, dict[str, Any]]]:
    """Commands that are accepted as they stand, each with the person who may issue it:
    the generator breaks a field or two of them, so checks deep in the domain are met."""
    chem, village = str(world.enterprises["chem"]), "610902101201"
    return [
        ("town", {"command": "ReportHazard", "enterprise_id": chem, "unit_code": village,
                  "channel": "supervisory_inspection", "discovered_at": "2021-02-20T10:00",
                  "description": "消防通道堵塞", "category": "unsafe_condition"}),
        ("county_ema", {"command": "ImposeFine", "case_id": str(case),
                        "decided_on": "2021-02-02", "amount": "300元"}),
        ("county_ema", {"command": "OpenEnforcementCase", "enterprise_id": chem,
                        "case_no": "汉应急罚〔2021〕9号", "opened_on": "2021-02-01"}),
        ("province", {"command": "RegisterPerson", "name": "张三",
                      "org_id": str(world.orgs["town"]), "roles": ["town_officer"]}),
        ("chem", {"command": "SubmitSelfInspection", "enterprise_id": chem,
                  "period": "2021-02", "submitted_at": "2021-02-25T10:00",
                  "signed_by_principal": True, "hazards_found": 2}),
    ]


@st.composite
def broken_templates(draw: st.DrawFn, value: st.SearchStrategy[Any],
                     known: list[tuple[str, dict[str, Any]]],
                     world: World) -> tuple[bytes, Any]:
    """A template with none, one or two fields replaced, sometimes under a reused
    command_id (V11), issued by its person or, rarely, another."""
    by, body = draw(st.sampled_from(known))
    body = dict(body)
    for field in draw(st.lists(st.sampled_from(FIELDS[body["command"]]), max_size=2)):
        body[field] = draw(value)
    if draw(st.booleans()):
        body["command_id"] = draw(st.sampled_from(["retry-1", "retry-2", "retry-3"]))
    if draw(st.integers(0, 9)) == 0:
        by = draw(st.sampled_from(sorted(world.persons)))
    return json.dumps(body, ensure_ascii=False).encode(), world.issuer(by)


def applied_or_refused(app: Zhibao, world: World, raw: bytes, issuer: Any) -> None:
    """The property: applied, or refused naming a field and a known rule, writing
    nothing."""
    before = app.recorder.max_notification_id()
    try:
        app.execute(command_from_json(raw, app.settings.max_event_bytes), issuer)
    except DomainError as refusal:
        assert refusal.field and refusal.rule, refusal
        assert refusal.code is None or refusal.code in RULES, refusal
        assert app.recorder.max_notification_id() == before, f"a refusal wrote: {refusal}"
    except ConflictError:
        assert app.recorder.max_notification_id() == before, "a conflict wrote"


def test_no_generated_command_escapes_as_an_error(hazards: Hazards, request) -> None:
    world, app = hazards.world, hazards.world.app
    store = "postgres" if "postgres" in request.node.name else "sqlite"
    known = _known_values(world, [hazards.report() for _ in range(3)])
    persons = [world.issuer(name) for name in world.persons]
    case = uuid4()
    world.do("OpenEnforcementCase", "county_ema", case_id=case,
             enterprise_id=world.enterprises["chem"], case_no="汉应急罚〔2021〕8号",
             opened_on="2021-02-01")
    value = values(known)
    command = st.one_of(st.tuples(command_texts(value), st.sampled_from(persons)),
                        broken_templates(value, templates(world, case), world))

    @settings(max_examples=COMMANDS[store] // BATCH, deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(command, min_size=BATCH, max_size=BATCH))
    def property_holds(sequence: list[tuple[bytes, Any]]) -> None:
        for raw, person in sequence:
            hazards.clock.advance(seconds=1)
            applied_or_refused(app, world, raw, person)

    property_holds()


# -- the command line ---------------------------------------------------------------------------

ARGUMENTS = [
    ["command"], ["import"], ["import-tasks"], ["info"], ["report"], ["audit", "verify"],
    ["audit", "as-of"], ["audit", "history"], ["audit", "prove"], ["export", "parquet"],
    ["admin", "init"],
]
OPTIONS = ["--unit", "--period", "--as", "--known-at", "--out", "--org", "--batch-size",
           "--draft", "--json", "--unit-name", "--org-name", "--admin-name", "--level",
           "--issued-on", "--hazard", "-", "--help"]


@pytest.fixture
def cli_env(hazards: Hazards, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", hazards.world.app.settings.database_url)
    monkeypatch.setenv("ZHIBAO_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("ZHIBAO_AUDIT_SIGNING_KEY", str(tmp_path / "no-key"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_no_generated_command_line_shows_a_traceback(hazards: Hazards, cli_env: Path,
                                                      capsys: pytest.CaptureFixture[str]):
    world, app = hazards.world, hazards.world.app
    known = [*_known_values(world, []), "2021-02", "2021-03-01T10:00", "610902101000",
             "nodir/x.json", "x.jsonl", "\udcff", "9999-12", "0000-01"]
    argument = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(known),
                         st.sampled_from([v for v in HOSTILE if isinstance(v, str)]),
                         st.sampled_from([str(v) for v in HOSTILE if isinstance(v, str)]),
                         st.text(max_size=12))

    @settings(max_examples=CLI_RUNS, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(start=st.sampled_from(ARGUMENTS), rest=st.lists(argument, max_size=6),
           person=st.sampled_from([str(p) for p in world.persons.values()]))
    def property_holds(start: list[str], rest: list[str], person: str) -> None:
        before = app.recorder.max_notification_id()
        status = main([*start, *rest, *(["--as", person] if start[0] in (
            "command", "import", "import-tasks", "report") else [])])
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        assert status != INTERNAL_ERROR, err
        if status == 2:
            assert app.recorder.max_notification_id() == before, err

    property_holds()
