"""The web workspace (中文): server-rendered pages and plain forms, no script at all —
sign-in, my unit's dashboard, the hazard list and a hazard's page with its timeline, the
hazard lifecycle and self-inspection forms (the service's field-and-rule errors shown
beside the field), submissions, and the auditor's pages.

A page shows only what the reader's jurisdiction holds, and a form only the commands the
permission matrix allows the person's roles; the service judges every submission again.
Every form carries a CSRF token bound to the session."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature
from starlette.concurrency import run_in_threadpool

from domain.authority import ROLE_NAMES
from domain.base import DomainError
from domain.periods import Period
from infra.audit.as_of import parse_known_at, submission_as_of
from infra.audit.checkpoints import stored_checkpoints
from infra.audit.history import hazard_history
from infra.http.api import XLSX, submission_file, version_differences
from infra.http.auth import PRE_SESSION_COOKIE, SESSION_COOKIE
from infra.http.credentials import Principal, Refused
from infra.http.door import Door, door_of
from infra.http.problems import Problem

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

DASHBOARD = ("B1", "B1c", "B4", "B6", "B7", "C1", "C4")
"""Headline figures: found, rectified, rate, open, overdue, major, listed."""
STATES = {"reported": "已上报", "confirmed": "已确认", "planned": "已制定方案",
          "rectifying": "整改中", "completed": "已完成整改", "verified": "已验收",
          "closed": "已销号", "voided": "已作废"}
RISK = {"red": "重大风险（红）", "orange": "较大风险（橙）", "yellow": "一般风险（黄）",
        "blue": "低风险（蓝）"}
STATUS = {"on_time": "按时报送", "late": "迟报", "missing": "漏报", "pending": "未到期"}


@dataclass(frozen=True)
class Field:
    name: str  # dotted for nested input: plan.deadline
    label: str
    kind: str = "text"  # text, date, datetime, number, bool, select, textarea
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False


GRADES = (("general", "一般隐患"), ("major", "重大隐患"))
CHANNELS = (("photo_report", "随手拍"), ("supervisory_inspection", "督导检查"),
            ("self_inspection", "企业自查"), ("enforcement_inspection", "执法检查"),
            ("covert_visit", "明查暗访"))
CATEGORIES = (("unsafe_condition", "物的不安全状态"), ("unsafe_behaviour", "人的不安全行为"),
              ("management_defect", "管理缺陷"))
TREATMENTS = (("deadline", "限期整改"), ("immediate", "立即整改"))
METHODS = (("on_site", "现场验收"), ("document_review", "资料审核"), ("expert", "专家验收"),
           ("third_party", "第三方验收"))
YES_NO = (("true", "同意/通过"), ("false", "不同意/不通过"))

FORMS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "ReportHazard": ("上报隐患", (
        Field("enterprise_id", "企业（ID，可在企业查询中找到）"),
        Field("unit_code", "所在区划代码（无企业时填写）"),
        Field("channel", "发现渠道", "select", CHANNELS, True),
        Field("discovered_at", "发现时间", "datetime", required=True),
        Field("description", "隐患描述", "textarea", required=True),
        Field("category", "隐患类别", "select", CATEGORIES, True),
        Field("proposed_grade", "建议等级", "select", GRADES),
        Field("location_detail", "具体位置"))),
    "ConfirmHazard": ("确认隐患", (
        Field("grade", "隐患等级", "select", GRADES, True),
        Field("treatment", "整改方式", "select", TREATMENTS, True),
        Field("deadline", "整改期限", "date"),
        Field("criteria_ref", "判定依据"),
        Field("notice_no", "整改通知书编号"))),
    "SubmitRectificationPlan": ("整改方案（五到位）", (
        Field("plan.measures", "整改措施", "textarea", required=True),
        Field("plan.responsible_org", "责任单位"),
        Field("plan.responsible_person", "责任人"),
        Field("plan.funds", "整改资金（如 1.5万元）"),
        Field("plan.funds_source", "资金来源"),
        Field("plan.deadline", "整改时限", "date"),
        Field("plan.contingency_plan", "应急预案"),
        Field("plan.interim_controls", "整改期间防范措施"))),
    "ReportRectificationProgress": ("报告整改进度", (
        Field("percent", "完成百分比", "number", required=True),
        Field("note", "说明", "textarea"))),
    "RequestDeadlineExtension": ("申请延期", (
        Field("new_deadline", "新期限", "date", required=True),
        Field("reason", "理由", "textarea", required=True),
        Field("requested_at", "申请时间", "datetime", required=True))),
    "DecideDeadlineExtension": ("延期审批", (
        Field("approve", "审批结果", "select", YES_NO, True),
        Field("opinion", "意见", "textarea"),
        Field("new_deadline", "批准期限", "date"))),
    "DeclareRectified": ("整改完成", (
        Field("completed_at", "完成时间", "datetime", required=True),
        Field("evidence", "佐证材料", "textarea"))),
    "VerifyHazard": ("验收", (
        Field("passed", "验收结果", "select", YES_NO, True),
        Field("method", "验收方式", "select", METHODS),
        Field("opinion", "验收意见", "textarea"),
        Field("verified_at", "验收时间", "datetime", required=True))),
    "CloseHazard": ("销号", (Field("closed_at", "销号时间", "datetime", required=True),)),
    "SubmitSelfInspection": ("企业自查报告", (
        Field("enterprise_id", "企业（ID）", required=True),
        Field("period", "月份（如 2021-03）", required=True),
        Field("submitted_at", "提交时间", "datetime", required=True),
        Field("hazards_found", "发现隐患数", "number"),
        Field("signed_by_principal", "主要负责人签字", "select",
              (("true", "已签字"), ("false", "未签字")), True))),
}
HAZARD_ACTIONS = tuple(name for name in FORMS if name not in ("ReportHazard",
                                                              "SubmitSelfInspection"))
NUMBERS = {"percent", "hazards_found"}
BOOLEANS = {"approve", "passed", "signed_by_principal"}


# -- sessions --------------------------------------------------------------------------------


class SignIn(Exception):
    """Not signed in (or the session ended): go to the sign-in page."""


@dataclass(frozen=True)
class Visitor:
    principal: Principal
    nonce: str
    name: str
    org: str
    unit_code: str
    roles: tuple[str, ...]


def visitor(request: Request) -> Visitor:
    door = door_of(request)
    found = door.gate.session(request)
    if found is None:
        raise SignIn()
    principal, nonce = found
    directory = door.app.directory
    person = directory.person(principal.person_id)
    org = directory.orgs.get(principal.org_id)
    enterprise = directory.enterprises.get(principal.org_id)
    return Visitor(principal, nonce, person.name,
                   org.name if org else enterprise.name if enterprise else "",
                   door.reader.home_unit(principal),
                   tuple(ROLE_NAMES[r] for r in person.roles))


def page(request: Request, name: str, who: Visitor | None, status: int = 200,
         **context: Any) -> HTMLResponse:
    door = door_of(request)
    csrf = door.gate.csrf_token(who.nonce) if who else context.pop("csrf", "")
    can = {name: allowed(door, who, name) for name in NAVIGATION} if who else {}
    return templates.TemplateResponse(request, name, {"who": who, "csrf": csrf, "can": can,
                                                      **context}, status_code=status)


NAVIGATION = ("ReportHazard", "SubmitSelfInspection")
"""Commands the workspace's menu offers, to those whose roles allow them."""


def require_allowed(door: Door, who: Visitor, command: str) -> None:
    """A form is shown only to those whose roles may issue its command (the service
    judges the submission again)."""
    if not allowed(door, who, command):
        raise Problem(403, "forbidden", "command", f"your roles may not do {command}",
                      "AUTH-ROLE")


def allowed(door: Door, who: Visitor, command: str) -> bool:
    """Whether one of the person's roles may issue `command` in their org (the matrix)."""
    try:
        door.app.directory.acting(who.principal.person_id).permit(command)
    except DomainError:
        return False
    return True


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def check_csrf(door: Door, who: Visitor, form: dict[str, str]) -> None:
    door.gate.check_csrf(who.nonce, form.get("csrf_token"))


def _guarded(handler: Any) -> Any:
    """Send a visitor without a session to the sign-in page; show a refusal as a page."""
    @functools.wraps(handler)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(request, *args, **kwargs)
        except SignIn:
            return RedirectResponse("/signin", 303)
        except Problem as problem:
            return page(request, "message.html", _maybe(request), problem.status,
                        title="无法完成", message=problem.body()["detail"])
    return wrapped


def _maybe(request: Request) -> Visitor | None:
    try:
        return visitor(request)
    except (SignIn, DomainError):
        return None


# -- sign-in ---------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse("/dashboard" if _maybe(request) else "/signin", 303)


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    return _signin(request, None)


def _signin(request: Request, error: str | None, status: int = 200) -> Response:
    door = door_of(request)
    nonce = secrets.token_urlsafe(16)
    response = page(request, "signin.html", None, status, error=error,
                    csrf=door.gate.csrf_token(nonce))
    response.set_cookie(PRE_SESSION_COOKIE, door.gate.sessions.dumps(nonce), httponly=True,
                        samesite="strict", max_age=3600, secure=_secure(request))
    return response


def _secure(request: Request) -> bool:
    """Cookies only over HTTPS when served over it, or behind a proxy that is
    (`ZHIBAO_HTTP_BASE_URL` starting with https)."""
    return request.url.scheme == "https" or \
        door_of(request).app.settings.http_base_url.startswith("https:")


def _pre_session_nonce(request: Request) -> str | None:
    door = door_of(request)
    cookie = request.cookies.get(PRE_SESSION_COOKIE)
    try:
        return door.gate.sessions.loads(cookie, max_age=3600) if cookie else None
    except BadSignature:  # a forged or old form cookie: no nonce
        return None


@router.post("/signin")
async def signin(request: Request) -> Response:
    door = door_of(request)
    form = await form_of(request)
    try:
        door.gate.check_csrf(_pre_session_nonce(request), form.get("csrf_token"))
    except Problem:
        return _signin(request, "表单已过期，请重新登录", 403)
    source = request.client.host if request.client else "?"
    if not door.gate.logins.allow(source):
        return _signin(request, "尝试过于频繁，请稍后再试", 429)
    login = form.get("login", "").strip()
    await door.gate.back_off(login)
    try:
        principal = await run_in_threadpool(door.credentials.sign_in, login,
                                            form.get("password", ""), source)
    except Refused as e:
        message = "账户已锁定，请稍后再试" if e.reason == "locked out" else "账号或密码错误"
        return _signin(request, message, 401)
    response = RedirectResponse("/dashboard", 303)
    response.set_cookie(SESSION_COOKIE, door.gate.open_session(principal), httponly=True,
                        samesite="strict", secure=_secure(request),
                        max_age=door.app.settings.http_session_seconds)
    response.delete_cookie(PRE_SESSION_COOKIE)
    return response


@router.post("/signout")
@_guarded
async def signout(request: Request) -> Response:
    door = door_of(request)
    who = visitor(request)
    check_csrf(door, who, await form_of(request))
    await run_in_threadpool(door.credentials.sign_out, who.principal.credential_id)
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/invitation")
async def invitation_page(request: Request, key: str = "") -> Response:
    door = door_of(request)
    try:
        invitation = await run_in_threadpool(door.credentials.invitation, key)
    except Refused:
        return page(request, "message.html", None, 404, title="邀请链接无效",
                    message="链接无效、已使用或已过期，请联系管理员重新邀请。")
    nonce = secrets.token_urlsafe(16)
    response = page(request, "invitation.html", None, key=key, login=invitation["login"],
                    error=None, csrf=door.gate.csrf_token(nonce))
    response.set_cookie(PRE_SESSION_COOKIE, door.gate.sessions.dumps(nonce), httponly=True,
                        samesite="strict", max_age=3600, secure=_secure(request))
    return response


@router.post("/invitation")
async def accept_invitation(request: Request) -> Response:
    door = door_of(request)
    form = await form_of(request)
    try:
        door.gate.check_csrf(_pre_session_nonce(request), form.get("csrf_token"))
    except Problem:
        return page(request, "message.html", None, 403, title="表单已过期",
                    message="请重新打开邀请链接。")
    key = form.get("key", "")
    if form.get("password") != form.get("password2"):
        error = "两次输入的密码不一致"
    else:
        try:
            await run_in_threadpool(door.credentials.accept, key, form.get("password", ""))
            return page(request, "message.html", None, title="密码已设置",
                        message="请使用您的账号和新密码登录。", link="/signin")
        except Refused:
            return page(request, "message.html", None, 404, title="邀请链接无效",
                        message="链接无效、已使用或已过期。")
        except DomainError as e:
            error = f"{e.field}: {e.rule}"
    return page(request, "invitation.html", None, 422, key=key, login=form.get("login"),
                error=error, csrf=form.get("csrf_token"))


# -- the dashboard -------------------------------------------------------------------------


def _chosen_period(door: Door, period: str | None) -> str:
    if not period:
        return door.reader.default_period()
    try:
        return str(Period.parse(period))
    except DomainError as e:
        raise Problem(422, "rejected", "period", e.rule) from None


def _months(period: str) -> list[str]:
    """The twelve months up to the period's last."""
    last = Period.parse(period)
    year, month = last.year, last.first_month + last.months - 1
    months = []
    for _ in range(12):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def trend_svg(points: list[tuple[str, int]]) -> dict[str, Any]:
    """Bars of a monthly series, laid out for an inline SVG (no script)."""
    top = max((count for _, count in points), default=0) or 1
    width, height, gap, above = 40, 160, 8, 20  # room above the tallest bar for its label
    bars = [{"x": i * (width + gap) + 30, "h": round(count / top * height),
             "y": above + height - round(count / top * height), "count": count,
             "label": month[5:]} for i, (month, count) in enumerate(points)]
    return {"bars": bars, "width": len(points) * (width + gap) + 40, "bar": width,
            "base": above + height}


@router.get("/dashboard")
@_guarded
async def dashboard(request: Request, unit: str | None = None,
                    period: str | None = None) -> Response:
    door = door_of(request)
    who = visitor(request)
    if door.reader.own_enterprise(who.principal) is not None:
        return RedirectResponse("/hazards", 303)  # an enterprise's own page is its hazards
    code = unit or who.unit_code
    chosen = await run_in_threadpool(_chosen_period, door, period)
    try:
        assembled = await run_in_threadpool(door.reader.figures, who.principal, code, chosen)
    except DomainError as e:
        raise Problem(422, "rejected", e.field, e.rule) from None
    document = assembled.document
    headline = [f for f in document["statistics"] if f["code"] in DASHBOARD]
    trend = await run_in_threadpool(door.reader.trend, who.principal, code, _months(chosen))
    risk = await run_in_threadpool(door.reader.risk_levels, who.principal, code)
    return page(request, "dashboard.html", who, document=document, headline=headline,
                period=chosen, periods=await run_in_threadpool(door.reader.periods),
                chart=trend_svg(trend), status_names=STATUS, risk=risk, risk_names=RISK)


# -- hazards ---------------------------------------------------------------------------------


@router.get("/hazards")
@_guarded
async def hazard_list(request: Request, unit: str | None = None, period: str | None = None,
                      state: str | None = None, grade: str | None = None,
                      overdue: str | None = None, listed: str | None = None,
                      cursor: int = 0) -> Response:
    door = door_of(request)
    who = visitor(request)
    code = unit or who.unit_code
    chosen = await run_in_threadpool(_chosen_period, door, period)
    filters = {"state": state or None, "grade": grade or None,
               "overdue": True if overdue else None, "listed": True if listed else None}
    rows, following = await run_in_threadpool(door.reader.hazards, who.principal, code,
                                              chosen, filters, max(cursor, 0), 50)
    query = {k: v for k, v in {"unit": code, "period": chosen, "state": state,
                               "grade": grade, "overdue": overdue, "listed": listed}.items()
             if v}
    more = f"/hazards?{urlencode({**query, 'cursor': following})}" if following else None
    return page(request, "hazards.html", who, rows=rows, unit=code, period=chosen,
                filters=filters, more=more, states=STATES,
                may_report=allowed(door, who, "ReportHazard"))


def _form_page(request: Request, who: Visitor, command: str, action: str,
               values: dict[str, str], errors: dict[str, str], status: int = 200,
               **context: Any) -> HTMLResponse:
    title, fields = FORMS[command]
    return page(request, "form.html", who, status, title=title, fields=fields,
                command=command, action=action, values=values, errors=errors, **context)


def _command_json(command: str, values: dict[str, str], extra: dict[str, Any]) -> bytes:
    """The form's fields as the command's JSON: blanks left out, dotted names nested."""
    data: dict[str, Any] = {"command": command, **extra}
    for field in FORMS[command][1]:
        value = values.get(field.name, "").strip()
        if not value:
            continue
        converted: Any = value
        if field.name in BOOLEANS:
            converted = value == "true"
        elif field.name in NUMBERS:
            converted = int(value) if value.lstrip("-").isdigit() else value
        target = data
        *parents, last = field.name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = converted
    return orjson.dumps(data)


async def _submit(request: Request, who: Visitor, command: str, action: str,
                  extra: dict[str, Any], done: str, **context: Any) -> Response:
    """Run a form's command through the service; on a rejection show the form again with
    the error beside the field it names."""
    door = door_of(request)
    values = await form_of(request)
    check_csrf(door, who, values)
    try:
        parsed = door.parse(_command_json(command, values, extra), who.principal, None)
        outcome = await run_in_threadpool(door.execute, parsed, who.principal)
    except Problem as problem:
        if problem.status == 401:
            raise SignIn() from None
        field = problem.field or "command"
        names = {f.name for f in FORMS[command][1]}
        key = field if field in names else "_form"
        message = problem.rule or problem.title
        if problem.code:
            message += f" ({problem.code})"
        return _form_page(request, who, command, action, values, {key: message},
                          problem.status, **context)
    target = done.format(id=outcome.aggregate_id)
    return RedirectResponse(target, 303)


@router.get("/hazards/new")
@_guarded
async def report_page(request: Request) -> Response:
    who = visitor(request)
    require_allowed(door_of(request), who, "ReportHazard")
    return _form_page(request, who, "ReportHazard", "/hazards/new", {}, {})


@router.post("/hazards/new")
@_guarded
async def report(request: Request) -> Response:
    who = visitor(request)
    return await _submit(request, who, "ReportHazard", "/hazards/new", {},
                         "/hazards/{id}")


@router.get("/self-inspection")
@_guarded
async def self_inspection_page(request: Request) -> Response:
    who = visitor(request)
    require_allowed(door_of(request), who, "SubmitSelfInspection")
    values = {"enterprise_id": str(who.principal.org_id)} \
        if who.principal.org_id in door_of(request).app.directory.enterprises else {}
    return _form_page(request, who, "SubmitSelfInspection", "/self-inspection", values, {})


@router.post("/self-inspection")
@_guarded
async def self_inspection(request: Request) -> Response:
    who = visitor(request)
    return await _submit(request, who, "SubmitSelfInspection", "/self-inspection", {},
                         "/dashboard")


def _timeline(door: Door, who: Visitor, hazard_id: UUID) -> list[dict[str, Any]]:
    door.reader.require_hazard(who.principal, hazard_id)
    try:
        return [step.as_json() for step in hazard_history(door.app, hazard_id)]
    except DomainError as e:
        raise Problem(404, "not found", e.field, e.rule) from None


@router.get("/hazards/{hazard_id}")
@_guarded
async def hazard_page(request: Request, hazard_id: UUID, act: str | None = None) -> Response:
    door = door_of(request)
    who = visitor(request)
    timeline = await run_in_threadpool(_timeline, door, who, hazard_id)
    actions = [(name, FORMS[name][0]) for name in HAZARD_ACTIONS if allowed(door, who, name)]
    if act in dict(actions):
        return _form_page(request, who, act, f"/hazards/{hazard_id}/{act}", {}, {},
                          timeline=timeline, hazard_id=hazard_id)
    return page(request, "hazard.html", who, hazard_id=hazard_id, timeline=timeline,
                actions=actions)


@router.post("/hazards/{hazard_id}/{command}")
@_guarded
async def hazard_act(request: Request, hazard_id: UUID, command: str) -> Response:
    door = door_of(request)
    who = visitor(request)
    if command not in HAZARD_ACTIONS:
        raise Problem(404, "not found", "command", f"no form for {command}")
    timeline = await run_in_threadpool(_timeline, door, who, hazard_id)
    return await _submit(request, who, command, f"/hazards/{hazard_id}/{command}",
                         {"hazard_id": str(hazard_id)}, f"/hazards/{hazard_id}",
                         timeline=timeline, hazard_id=hazard_id)


# -- submissions and audit -----------------------------------------------------------------


@router.get("/submissions")
@_guarded
async def submissions(request: Request, unit: str | None = None,
                      period: str | None = None) -> Response:
    door = door_of(request)
    who = visitor(request)
    code = unit or who.unit_code
    chosen = await run_in_threadpool(_chosen_period, door, period)
    versions = await run_in_threadpool(door.reader.submissions, who.principal, code, chosen)
    return page(request, "submissions.html", who, unit=code, period=chosen, versions=versions,
                may_submit=allowed(door, who, "SubmitReport"))


@router.post("/submissions")
@_guarded
async def generate(request: Request) -> Response:
    door = door_of(request)
    who = visitor(request)
    form = await form_of(request)
    check_csrf(door, who, form)
    code = form.get("unit") or who.unit_code
    chosen = _chosen_period(door, form.get("period"))
    door.reader.require_unit(who.principal, code)

    try:
        await run_in_threadpool(door.report, who.principal, code, chosen,
                                form.get("draft") == "true")
    except DomainError as e:
        raise Problem(422, "rejected", e.field, e.rule, e.code) from None
    return RedirectResponse(f"/submissions?{urlencode({'unit': code, 'period': chosen})}", 303)


@router.get("/submissions/{code}/{period}/diff")
@_guarded
async def diff(request: Request, code: str, period: str, old: int = 1,
               new: int = 2) -> Response:
    door = door_of(request)
    who = visitor(request)
    door.reader.require_unit(who.principal, code)
    changes = version_differences(door, code, _chosen_period(door, period), old, new)
    return page(request, "diff.html", who, unit=code, period=period, changes=changes)


@router.get("/submissions/{code}/{period}/v{version}.{ext}")
@_guarded
async def download(request: Request, code: str, period: str, version: int,
                   ext: str) -> Response:
    door = door_of(request)
    who = visitor(request)
    door.reader.require_unit(who.principal, code)
    if ext not in ("json", "xlsx"):
        raise Problem(404, "not found", "ext", "json or xlsx")
    content = submission_file(door, code, _chosen_period(door, period), version, f".{ext}")
    return Response(content, media_type="application/json" if ext == "json" else XLSX,
                    headers={"Content-Disposition":
                             f'attachment; filename="{code}-{period}-v{version}.{ext}"'})


@router.get("/audit")
@_guarded
async def audit(request: Request, unit: str | None = None, period: str | None = None,
                known_at: str | None = None) -> Response:
    door = door_of(request)
    who = visitor(request)
    code = unit or who.unit_code
    door.reader.require_unit(who.principal, code)
    signed = await run_in_threadpool(stored_checkpoints, door.app)
    known = None
    error = None
    if known_at and period:
        try:
            moment = parse_known_at(known_at)
            assembled = await run_in_threadpool(submission_as_of, door.app, moment, code,
                                                str(Period.parse(period)))
            known = {"known_at": moment.isoformat(), "sha256": assembled.sha256,
                     "statistics": [f for f in assembled.document["statistics"]
                                    if f["code"] in DASHBOARD]}
        except DomainError as e:
            error = f"{e.field}: {e.rule}"
    return page(request, "audit.html", who, unit=code, period=period or "",
                known_at=known_at or "", checkpoints=signed[-10:], known=known, error=error)
