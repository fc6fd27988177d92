"""The JSON API, `/api/v1`: commands (one, or a JSONL batch), the directory, the views, a
hazard's timeline, submissions and audit — each as the person the bearer credential
proves, within their jurisdiction. Errors are problem details naming the field and rule."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.base import DomainError
from domain.periods import Period
from infra.audit.as_of import parse_known_at, recorded_versions, submission_as_of
from infra.audit.checkpoints import stored_checkpoints
from infra.audit.history import hazard_history
from infra.http.credentials import Principal
from infra.http.door import Door, door_of
from infra.http.problems import PROBLEM, Problem, from_domain
from infra.reporting.reporter import submission_folder, version_stem
from projections.report import differences

PROBLEM_SCHEMA = {"type": "object", "required": ["title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "field": {"type": ["string", "null"]},
    "rule": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}
    for status, text in ((401, "no valid credential"), (403, "outside the role, scope or "
                         "jurisdiction; nothing written"), (404, "not found"),
                         (409, "conflict; nothing written"), (413, "body too large"),
                         (422, "rejected: the field and the rule; nothing written"))}
COMMAND_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["command"],
    "properties": {"command": {"type": "string", "description": "the command's name "
                                                                "(docs/permissions.md)"}},
    "additionalProperties": True}}}}}
BATCH_BODY = {"requestBody": {"required": True, "content": {"application/x-ndjson": {
    "schema": {"type": "string", "description": "one command (JSON) per line"}}}}}

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)  # type: ignore[arg-type]


def principal(request: Request) -> Principal:
    return door_of(request).gate.bearer(request)


async def _door(request: Request) -> Door:
    """`door_of` as a dependency: async, as it waits for nothing — FastAPI runs a plain
    function in a worker thread, a hop that cost every request a tenth of its time."""
    return door_of(request)


Caller = Annotated[Principal, Depends(principal)]
DoorDep = Annotated[Door, Depends(_door)]
UnitCode = Annotated[str, Query(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")]


def _period(door: Door, period: str | None) -> str:
    if period is None:
        return door.reader.default_period()
    try:
        return str(Period.parse(period))
    except DomainError as e:
        raise from_domain(e) from None


class Outcome(BaseModel):
    command: str
    aggregate_id: UUID | None
    events: int
    duplicate: bool
    warnings: list[str]


class Me(BaseModel):
    person_id: UUID
    name: str
    org_id: UUID
    org: str | None
    unit_code: str
    roles: list[str]
    credential: str
    scope: list[str] | None


@router.get("/me", response_model=Me, summary="who the credential proves")
def me(caller: Caller, door: DoorDep) -> Me:
    directory = door.app.directory
    person = directory.person(caller.person_id)
    org = directory.orgs.get(caller.org_id)
    enterprise = directory.enterprises.get(caller.org_id)
    return Me(person_id=caller.person_id, name=person.name, org_id=caller.org_id,
              org=org.name if org else enterprise.name if enterprise else None,
              unit_code=door.reader.home_unit(caller), roles=[str(r) for r in person.roles],
              credential=str(caller.kind),
              scope=sorted(caller.scope) if caller.scope is not None else None)


@router.post("/commands", response_model=Outcome, status_code=201, openapi_extra=COMMAND_BODY,
             summary="apply one command, as the credential's person",
             responses={200: {"model": Outcome, "description": "a replay: applied before"}})
async def command(request: Request, door: DoorDep,
                  idempotency_key: Annotated[str | None, Header(
                      min_length=1, max_length=200)] = None) -> Response:
    """Documents the route; `CommandRoute` answers it before FastAPI's routing would."""
    return await _apply(door, request, idempotency_key)


async def _apply(door: Door, request: Request, idempotency_key: str | None) -> Response:
    """Credential, parsing and the command in one worker thread: one hop per request."""
    raw = await request.body()

    def apply() -> Any:
        caller = door.gate.bearer(request)
        return door.execute(door.parse(raw, caller, idempotency_key), caller)

    outcome = await asyncio.get_running_loop().run_in_executor(door.threads, apply)
    body = {"command": outcome.command, "aggregate_id": outcome.aggregate_id,
            "events": outcome.events, "duplicate": outcome.duplicate,
            "warnings": list(outcome.warnings)}
    return Response(orjson.dumps(body), 200 if outcome.duplicate else 201,
                    media_type="application/json")


IDEMPOTENCY_KEY = TypeAdapter(Annotated[str, StringConstraints(min_length=1, max_length=200)])
"""The Idempotency-Key header as the route above declares it."""


class CommandRoute:
    """`POST /api/v1/commands` answered without FastAPI's routing and dependency handling,
    still inside the app's middleware (body limit, security headers, server errors): a
    command is ~0.4 ms, and the per-request Python around it was twice that (py-spy under
    `python -m bench http`). Same answers as the documented route: outcome, or problem
    details for a bad header, credential, body or command."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or scope["path"] != "/api/v1/commands"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            key = request.headers.get("idempotency-key")
            if key is not None:
                try:
                    IDEMPOTENCY_KEY.validate_python(key)
                except ValidationError as e:
                    raise Problem(422, "rejected, nothing written", "idempotency-key",
                                  e.errors()[0]["msg"]) from None
            response = await _apply(door_of(request), request, key)
        except Problem as e:
            response = e.response()
        except DomainError as e:
            response = from_domain(e).response()
        await response(scope, receive, send)


@router.post("/commands/batch", openapi_extra=BATCH_BODY, response_class=Response,
             summary="apply a JSONL batch: one result line per command line",
             responses={200: {"description": "one JSON result per line",
                              "content": {"application/x-ndjson": {
                                  "schema": {"type": "string"}}}}})
async def batch(request: Request, caller: Caller, door: DoorDep) -> Response:
    lines = (await request.body()).splitlines()
    if len(lines) > door.app.settings.http_max_batch_lines:
        raise Problem(413, "too many lines", "body", f"at most "
                      f"{door.app.settings.http_max_batch_lines} commands per batch")
    total, names = await run_in_threadpool(door.execute_lines, lines, caller)
    rejected = {r.line: r for r in total.rejections}
    results = []
    for line, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if line in rejected:
            r = rejected[line]
            results.append({"line": line, "status": "rejected", "command": r.command,
                            "field": r.field, "rule": r.rule})
        else:
            results.append({"line": line, "status": "applied", "command": names[line]})
    return Response(b"".join(orjson.dumps(r) + b"\n" for r in results),
                    media_type="application/x-ndjson")


# -- the directory -------------------------------------------------------------------------


@router.get("/units/{code}", summary="a unit and its tree below, `depth` levels down")
def unit(code: str, caller: Caller, door: DoorDep,
         depth: Annotated[int, Query(ge=0, le=4)] = 1) -> dict[str, Any]:
    return door.reader.unit_tree(caller, code, depth)


@router.get("/units/{code}/orgs", summary="the bodies registered at a unit")
def orgs(code: str, caller: Caller, door: DoorDep) -> list[dict[str, Any]]:
    return door.reader.orgs(caller, code)


@router.get("/persons", summary="the persons of my org")
def persons(caller: Caller, door: DoorDep) -> list[dict[str, Any]]:
    return door.reader.persons(caller)


@router.get("/enterprises", summary="enterprises in my jurisdiction by name or credit code")
def enterprises(caller: Caller, door: DoorDep,
                q: Annotated[str, Query(min_length=1, max_length=100)],
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
    return door.reader.enterprises(caller, q, limit)


# -- views ---------------------------------------------------------------------------------


@router.get("/periods", summary="the reporting periods opened")
def periods(caller: Caller, door: DoorDep) -> list[str]:
    return door.reader.periods()


@router.get("/units/{code}/figures", summary="a unit's figures (本月, 累计, 期末), its "
                                             "children's submission status and its risk "
                                             "points by 四色 level, as now")
def figures(code: str, caller: Caller, door: DoorDep,
            period: str | None = None) -> dict[str, Any]:
    chosen = _period(door, period)
    document = _assembled(door, caller, code, chosen).document
    return {"unit": document["unit"], "period": chosen, "statistics": document["statistics"],
            "children": document["children"],
            "risk_points": door.reader.risk_levels(caller, code)}


def _assembled(door: Door, caller: Principal, code: str, period: str) -> Any:
    try:
        return door.reader.figures(caller, code, period)
    except DomainError as e:
        raise from_domain(e) from None


@router.get("/units/{code}/children", summary="the children's submission status "
                                              "(on_time, late 迟报, missing 漏报, pending)")
def children(code: str, caller: Caller, door: DoorDep,
             period: str | None = None) -> list[dict[str, Any]]:
    return _assembled(door, caller, code, _period(door, period)).document["children"]


@router.get("/units/{code}/measures", summary="the unit's institutional-measure list")
def measures(code: str, caller: Caller, door: DoorDep,
             period: str | None = None) -> list[dict[str, Any]]:
    return _assembled(door, caller, code, _period(door, period)).document["measure_list"]


@router.get("/units/{code}/tasks", summary="task progress of the unit")
def tasks(code: str, caller: Caller, door: DoorDep,
          period: str | None = None) -> list[dict[str, Any]]:
    return _assembled(door, caller, code, _period(door, period)).document["tasks"]


@router.get("/units/{code}/hazards", summary="the unit's hazard list, filtered, a page at a "
                                            "time (pass `next` back as `cursor`)")
def hazards(code: str, caller: Caller, door: DoorDep, period: str | None = None,
            state: str | None = None, grade: Literal["general", "major"] | None = None,
            overdue: bool | None = None, listed: bool | None = None,
            sector: str | None = None, cursor: Annotated[int, Query(ge=0)] = 0,
            limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    chosen = _period(door, period)
    try:
        rows, following = door.reader.hazards(
            caller, code, chosen, {"state": state, "grade": grade, "overdue": overdue,
                                   "listed": listed, "sector": sector}, cursor, limit)
    except DomainError as e:
        raise from_domain(e) from None
    return {"period": chosen, "hazards": rows, "next": following}


@router.get("/hazards/{hazard_id}", summary="a hazard's timeline: who, which org, role, "
                                           "business time and recorded time")
def hazard(hazard_id: UUID, caller: Caller, door: DoorDep) -> dict[str, Any]:
    door.reader.require_hazard(caller, hazard_id)
    try:
        steps = hazard_history(door.app, hazard_id)
    except DomainError as e:
        raise from_domain(e) from None
    return {"hazard_id": str(hazard_id), "timeline": [step.as_json() for step in steps]}


# -- submissions ---------------------------------------------------------------------------


@router.get("/units/{code}/submissions/{period}", summary="the versions of a submission")
def versions(code: str, period: str, caller: Caller, door: DoorDep) -> list[dict[str, Any]]:
    return door.reader.submissions(caller, code, _period(door, period))


@router.post("/units/{code}/submissions/{period}", status_code=201,
             summary="assemble and record the unit's submission, as `zhibao report` does")
def generate(code: str, period: str, caller: Caller, door: DoorDep,
             draft: bool = False) -> dict[str, Any]:
    door.require_scope(caller, "SubmitReport")
    chosen = _period(door, period)
    door.reader.require_unit(caller, code)
    try:
        done = door.report(caller, code, chosen, draft)
    except DomainError as e:
        raise from_domain(e) from None
    return {"unit_code": done.unit_code, "period": chosen, "version": done.version,
            "sha256": done.sha256, "draft": done.draft, "late": done.late,
            "unchanged": done.unchanged, "missing_children": list(done.missing_children)}


def submission_file(door: Door, code: str, period: str, version: int, suffix: str) -> bytes:
    """A written version's file (`vN.json`, `vN.xlsx`; a draft's too), or 404."""
    folder = submission_folder(door.app.settings.output_dir, period, code)
    for stem in (version_stem(version, False), version_stem(version, True)):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path.read_bytes()
    raise Problem(404, "not found", "version", f"no version {version} of {code} {period} "
                                               "was written here")


@router.get("/units/{code}/submissions/{period}/{version}.json", response_class=Response,
            summary="a version's document, byte for byte what its SHA-256 covers",
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}})
def download_json(code: str, period: str, version: int, caller: Caller,
                  door: DoorDep) -> Response:
    door.reader.require_unit(caller, code)
    return Response(submission_file(door, code, _period(door, period), version, ".json"),
                    media_type="application/json")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/units/{code}/submissions/{period}/{version}.xlsx", response_class=Response,
            summary="a version's workbook",
            responses={200: {"content": {XLSX: {"schema": {"type": "string",
                                                           "format": "binary"}}}}})
def download_xlsx(code: str, period: str, version: int, caller: Caller,
                  door: DoorDep) -> Response:
    door.reader.require_unit(caller, code)
    return Response(submission_file(door, code, _period(door, period), version, ".xlsx"),
                    media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{code}-'
                                                    f'{period}-v{version}.xlsx"'})


@router.get("/units/{code}/submissions/{period}/diff", summary="what changed between two "
                                                              "versions")
def diff(code: str, period: str, caller: Caller, door: DoorDep,
         old: Annotated[int, Query(alias="from", ge=1)],
         new: Annotated[int, Query(alias="to", ge=1)]) -> dict[str, Any]:
    door.reader.require_unit(caller, code)
    return version_differences(door, code, _period(door, period), old, new)


def version_differences(door: Door, code: str, period: str, old: int, new: int
                        ) -> dict[str, Any]:
    """What changed between two written versions: figures by code and column, list rows
    added, removed or changed (`projections.report.differences`)."""
    before = orjson.loads(submission_file(door, code, period, old, ".json"))
    after = orjson.loads(submission_file(door, code, period, new, ".json"))
    figures_changed, rows = differences(before, after)
    return {"from": old, "to": new,
            "figures": [{"code": f.code, "column": f.column, "old": f.old, "new": f.new}
                        for f in figures_changed],
            "rows": [{"list": r.list, "added": r.added, "removed": r.removed,
                      "changed": r.changed} for r in rows]}


# -- audit ---------------------------------------------------------------------------------


@router.get("/audit/submissions/{code}/{period}", summary="the unit's submission as it was "
                                                         "known at a moment, with its SHA-256")
def as_known(code: str, period: str, caller: Caller, door: DoorDep,
             known_at: Annotated[str, Query(min_length=4, max_length=40)]) -> dict[str, Any]:
    door.reader.require_unit(caller, code)
    try:
        moment = parse_known_at(known_at)
        assembled = submission_as_of(door.app, moment, code, _period(door, period))
    except DomainError as e:
        raise from_domain(e) from None
    recorded = [v for v in recorded_versions(door.app, code, period) if v.cut_off <= moment]
    return {"known_at": moment.isoformat(), "sha256": assembled.sha256,
            "document": assembled.document,
            "recorded_version": recorded[-1].version if recorded else None,
            "recorded_sha256": recorded[-1].sha256 if recorded else None}


@router.get("/audit/checkpoints", summary="the log's signed checkpoints and its newest "
                                         "anchor outside the store")
def checkpoints(caller: Caller, door: DoorDep) -> dict[str, Any]:
    from infra.audit.anchors import newest_anchors

    signed = stored_checkpoints(door.app)
    origin = signed[-1].origin if signed else None
    anchors = newest_anchors(door.app.settings, origin) if origin else []
    return {"checkpoints": [{"number": s.number, "origin": s.origin, "size": s.size,
                             "root": s.root_b64, "through_position": s.through_position,
                             "note": s.note} for s in signed],
            "anchors": [{"source": a.source, "size": a.size} for a in anchors]}


@router.get("/audit/verify", summary="walk the log and check it against its checkpoints "
                                    "(slow on a large store)")
def verify_status(caller: Caller, door: DoorDep) -> dict[str, Any]:
    from infra.audit.integrity import verify

    found = verify(door.app)
    return {"ok": found.ok, "events": found.events, "tree_size": found.tree_size,
            "checkpoints": found.checkpoints, "signatures_checked": found.signatures_checked,
            "first_break": str(found.first_break) if found.first_break else None}

