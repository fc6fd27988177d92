"""A submission as the printed statistical form officials sign (一报表两清单): the layout
both the workbook (`infra.reporting.xlsx`) and the PDF (`infra.reporting.pdf`) render, so
the two cannot drift apart.

A form is a sequence of tables, one per sheet or PDF section, each with the header block of
a Chinese statistical form (表号, 制定机关, 批准文号, 有效期至 — from the settings, blank by
default —, 填报单位 with its code, 报告期, 计量单位), its column headers, its rows and, under
the report form, the signature block. Everything comes from the submission's canonical
JSON; names stand wherever a person reads (an org's name, never its id).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from domain.hazards import Category, Channel, Grade
from domain.measures import MeasureKind
from domain.money import wan_yuan
from domain.periods import Period, PeriodKind

LABELS: dict[str, dict[str, str]] = {
    "category": {Category.UNSAFE_CONDITION: "物的不安全状态",
                 Category.UNSAFE_BEHAVIOUR: "人的不安全行为",
                 Category.MANAGEMENT_DEFECT: "管理缺陷"},
    "grade": {Grade.GENERAL: "一般", Grade.MAJOR: "重大"},
    "channel": {Channel.SELF_INSPECTION: "企业自查", Channel.SUPERVISORY_INSPECTION: "督导检查",
                Channel.ENFORCEMENT_INSPECTION: "执法检查", Channel.COVERT_VISIT: "明查暗访",
                Channel.PUBLIC_REPORT_VERIFIED: "群众举报查实", Channel.PHOTO_REPORT: "随手拍",
                Channel.MONITORING_ALERT: "监测预警", Channel.ACCIDENT_INVESTIGATION: "事故调查",
                Channel.HANDOVER: "移交"},
    "listing_level": {"national": "国家级", "province": "省级", "city": "市级", "county": "县级",
                      "town": "乡镇级"},
    "state": {"reported": "已上报待确认", "confirmed": "已确认待整改", "rectifying": "整改中",
              "rectified": "已整改待验收", "verified": "验收通过", "closed": "已销号",
              "eliminated": "关闭取缔消除", "voided": "已作废"},
    "tag": {"new": "本期新增", "carried_over": "上期结转", "closed_this_period": "本期销号"},
    "kind": {MeasureKind.REGULATION: "法规规章", MeasureKind.NORMATIVE_DOCUMENT: "规范性文件",
             MeasureKind.STANDARD: "标准", MeasureKind.WORK_MECHANISM: "工作机制",
             MeasureKind.PLAN: "方案预案", MeasureKind.ENGINEERING: "工程技术措施"},
    "measure_state": {"planned": "计划中", "in_progress": "推进中", "done": "已完成"},
    "status": {"on_time": "按时报送", "late": "迟报", "missing": "漏报", "pending": "未到期未报"},
    "level": {"village": "村/社区", "town": "乡镇/街道", "county": "县/区", "city": "市",
              "province": "省"},
}
SECTIONS = {"A": "一、企业覆盖与自查自纠", "B": "二、隐患排查治理", "C": "三、重大隐患与挂牌督办",
            "D": "四、执法与问责", "E": "五、制度措施", "F": "六、过程指标"}
FLOW_HEADINGS = {PeriodKind.MONTH: "本月", PeriodKind.QUARTER: "本季", PeriodKind.YEAR: "本年"}
WIDE = re.compile("[\u2e81-\U0010ffff]+")
"""A run of characters that take two cells: CJK and everything after it (counted in C, not
per character in Python: the workbook measures every wrapped text; found by the run, a
Chinese text is one or a few matches, not one a character: 4× faster)."""
SIGNATURES = ("单位负责人", "统计负责人", "填表人", "联系电话", "报出日期")
NOT_KEPT = "—"  # a report figure not kept, or a rate with nothing to divide


class Format:
    """How a column's values are shown (the number formats a statistical form uses)."""

    TEXT = "text"
    COUNT = "count"  # an integer
    PERCENT = "percent"  # a rate, two decimals
    WAN_YUAN = "wan_yuan"  # money in 万元, two decimals
    DATE = "date"
    FIGURE = "figure"  # a report figure: its format follows its measure, row by row


@dataclass(frozen=True)
class Column:
    header: str
    width: int  # in character cells: a Latin character 1, a Chinese one 2
    format: str = Format.TEXT
    wrap: bool = False  # long text: wraps inside the column instead of widening it
    fixed: bool = False  # the same texts in every form (the report form's codes, names, units)


@dataclass(frozen=True)
class Section:
    """A heading row spanning the table (一、…)."""

    title: str


Cell = Any  # str | int | Decimal | date | None
Row = Sequence[Cell] | Section


@dataclass(frozen=True)
class Table:
    """One sheet of the workbook, one section of the PDF."""

    sheet: str
    title: str
    columns: tuple[Column, ...]
    rows: list[Row]
    groups: tuple[tuple[str, int], ...] = ()  # a header row above the columns: (label, span)
    measure: str = "见各栏"  # 计量单位
    note: str | None = None
    signature: bool = False
    pages: int | None = None  # print on at most this many pages (the report form: 2)
    formats: list[str] = field(default_factory=list)  # per row, for Format.FIGURE columns

    @property
    def listing(self) -> bool:
        """Whether its rows are a list's (两清单, the tasks): free text, each row its own,
        numbered in its first column, where the same hazard's row recurs in its village's,
        town's and county's lists."""
        return any(column.wrap and column.format == Format.TEXT for column in self.columns)


@dataclass(frozen=True)
class Heading:
    """The header block every table of the form carries."""

    form_no: str  # 表号
    authority: str  # 制定机关
    approval_no: str  # 批准文号
    valid_until: str  # 有效期至
    unit: str  # 填报单位
    unit_code: str
    period: str  # 报告期, e.g. 2021年12月
    draft: bool


@dataclass(frozen=True)
class Form:
    title: str  # of the whole document (file properties)
    heading: Heading
    tables: tuple[Table, ...]
    last_day: date  # the period's last day: the files' fixed creation date


def width_of(value: Cell) -> int:
    """Character cells a value takes when shown (Chinese characters count double)."""
    if value is None:
        return 0
    if isinstance(value, date):
        return 10
    if isinstance(value, Decimal):
        return len(f"{value:,.2f}")
    if isinstance(value, int):
        return len(f"{value:,}")
    return max((cells(line) for line in str(value).split("\n")), default=0)


def cells(line: str) -> int:
    """Character cells a line takes: a Chinese (wide) character takes two."""
    return len(line) + sum(map(len, WIDE.findall(line)))


def label(group: str, value: Any) -> Any:
    return LABELS[group].get(value, value)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


def _lines(*parts: Any) -> str | None:
    """Fields the form stacks in one column (DOMAIN §8.1 groups them), one per line."""
    shown = [str(part) for part in parts if part not in (None, "")]
    return "\n".join(shown) or None


def short_id(value: str) -> str:
    """An id as a person reads it: its first eight hex digits (the JSON keeps it whole)."""
    return value.replace("-", "")[:8].upper()


# -- the report form (报表) --------------------------------------------------------------


def _figure(row: dict[str, Any], column: str) -> Cell:
    value = row.get(column)
    if value is None:
        return None if column in row else NOT_KEPT
    if row["measure"] == "%":
        return Decimal(value) / 100
    if row["measure"] == "分":
        return wan_yuan(value)
    return value


def _measure(row: dict[str, Any]) -> str:
    return "万元" if row["measure"] == "分" else row["measure"]


def _format(row: dict[str, Any]) -> str:
    return FIGURE_FORMATS.get(row["measure"], Format.COUNT)


FIGURE_FORMATS = {"%": Format.PERCENT, "分": Format.WAN_YUAN}
"""A report figure's format by its measure: counts unless a rate or money."""


def statistics_table(document: dict[str, Any], period: Period) -> Table:
    rows: list[Row] = []
    formats: list[str] = []
    section = None
    for figure in document["statistics"]:
        letter = figure["code"][0]
        if letter != section:
            section = letter
            rows.append(Section(SECTIONS[letter]))
            formats.append(Format.TEXT)
        rows.append([figure["code"], figure["name"], _measure(figure), _figure(figure, "month"),
                     _figure(figure, "cumulative"), _figure(figure, "at_end")])
        formats.append(_format(figure))
    codes = tuple(figure["code"] for figure in document["statistics"])
    names = tuple(figure["name"] for figure in document["statistics"])
    flow = FLOW_HEADINGS[period.kind]
    return Table(
        "报表", "安全生产隐患排查治理情况统计表",
        (Column("指标代码", max(8, _widest(codes)) + 2, fixed=True),
         Column("指标名称", (_widest(names) if names else 20) + 2, fixed=True),
         Column("计量单位", 8, fixed=True), Column(flow, 12, Format.FIGURE),
         Column("累计", 12, Format.FIGURE), Column("期末", 12, Format.FIGURE)),
        rows, formats=formats, signature=True, pages=2,
        note=f"累计自{document['programme_start']}起；期末为{document['last_day']}日终。")


@lru_cache(maxsize=64)
def _widest(texts: tuple[str, ...]) -> int:
    """The width of the widest text, 0 if none: of the report form's codes and names, the
    same in every form (measured once, not 130 texts a form)."""
    return max(map(width_of, texts), default=0)


NATIONAL_GROUPS = (("行业领域", 1), ("单位（家）", 1), ("一般隐患", 3), ("重大隐患", 8))


def national_table(document: dict[str, Any], period: Period) -> Table:
    """工矿商贸企业安全生产事故隐患排查治理情况 (DOMAIN §7.3): by industry, from 1 January."""
    national = document["national_table"]
    columns = (
        Column("行业领域", max([16, *(width_of(r["name"]) + 2 for r in national["rows"])])),
        Column("单位（家）", 10, Format.COUNT),
        Column("排查（项）", 10, Format.COUNT), Column("已整改（项）", 12, Format.COUNT),
        Column("整改率", 9, Format.PERCENT),
        Column("排查（项）", 10, Format.COUNT), Column("已整改销号（项）", 12, Format.COUNT, True),
        Column("整改率", 9, Format.PERCENT),
        Column("列入治理计划（项）", 12, Format.COUNT, True),
        Column("其中“五到位”（项）", 12, Format.COUNT, True),
        Column("挂牌督办（项）", 10, Format.COUNT, True),
        Column("其中省级挂牌（项）", 10, Format.COUNT, True),
        Column("治理资金（万元）", 12, Format.WAN_YUAN, True))

    def line(name: str, values: dict[str, Any]) -> list[Cell]:
        return [name, *(wan_yuan(values[key]) if key == "funds_fen"
                        else (None if values[key] is None else Decimal(values[key]) / 100)
                        if key.endswith("_rate") else values[key]
                        for key in NATIONAL_KEYS)]

    rows: list[Row] = [line(r["name"], r) for r in national["rows"]]
    rows.append(line("合计", national["total"]))
    kind = {PeriodKind.MONTH: "月报表", PeriodKind.QUARTER: "季报表", PeriodKind.YEAR: "年报表"}
    return Table("全国月报表", f"工矿商贸企业安全生产事故隐患排查治理情况{kind[period.kind]}",
                 columns, rows, groups=NATIONAL_GROUPS, measure="家、项、万元",
                 note=f"累计自{national['from']}至{national['to']}（本年累计）；合计行的单位数"
                      "按企业去重，不是各行之和。")


NATIONAL_KEYS = ("enterprises", "general_found", "general_closed", "general_rate",
                 "major_found", "major_closed", "major_rate", "major_planned",
                 "major_five_in_place", "major_listed", "major_listed_province", "funds_fen")
"""The twelve columns of the national table after the industry, as the JSON names them."""


def sectors_table(document: dict[str, Any], period: Period) -> Table:
    flow = FLOW_HEADINGS[period.kind]
    rows: list[Row] = [[s["name"], s["found_month"], s["found_cumulative"], s["major_month"],
                        s["major_cumulative"], s["open_at_end"]] for s in document["sectors"]]
    return Table("行业领域", "分行业领域隐患排查治理情况表",
                 (Column("行业领域", max([16, *(width_of(r[0]) + 2 for r in rows)])),  # type: ignore[index]
                  Column(f"{flow}发现隐患", 12, Format.COUNT),
                  Column("累计发现隐患", 12, Format.COUNT),
                  Column(f"{flow}重大隐患", 12, Format.COUNT),
                  Column("累计重大隐患", 12, Format.COUNT),
                  Column("期末未整改", 12, Format.COUNT)),
                 rows, measure="个")


def children_table(document: dict[str, Any]) -> Table:
    rows: list[Row] = [[number, c["name"], c["unit_code"], label("status", c["status"]),
                        c["version"], c["sha256"][:16] if c["sha256"] else None]
                       for number, c in enumerate(document["children"], start=1)]
    return Table("下级单位", "下级单位报送情况表",
                 (Column("序号", 6, Format.COUNT),
                  Column("单位名称", max([16, *(width_of(r[1]) + 2 for r in rows)])),  # type: ignore[index]
                  Column("单位代码", 14), Column("报送状态", 12), Column("版本", 6, Format.COUNT),
                  Column("报送内容摘要（SHA-256 前16位）", 20)),
                 rows, measure="—")


def tasks_table(document: dict[str, Any]) -> Table:
    rows: list[Row] = [[t["task_no"], t["section"], t["requirement"], t["responsible_unit"],
                        t["deadline_text"],
                        t["progress"] or ("已完成" if t["completed_on"] else None),
                        _date(t["completed_on"]), _yes_no(t["overdue"])]
                       for t in document["tasks"]]
    return Table("任务进展", "工作任务完成进展表",
                 (Column("任务序号", 8, Format.COUNT), Column("专题", 24, wrap=True),
                  Column("工作要求", 60, wrap=True), Column("责任单位", 24, wrap=True),
                  Column("完成时限", 12), Column("完成进展", 30, wrap=True),
                  Column("完成日期", 11, Format.DATE), Column("是否逾期", 8)),
                 rows, measure="—")


# -- the two lists (两清单, DOMAIN §8): the fields §8.1 groups share a column --------------

Field = Callable[[dict[str, Any]], Cell]
HAZARD_COLUMNS: tuple[tuple[Column, Field], ...] = (
    (Column("序号", 5, Format.COUNT), lambda r: r["no"]),
    (Column("隐患编号", 10), lambda r: short_id(r["hazard_id"])),
    (Column("所在区划", 18, wrap=True), lambda r: r["location"]),
    (Column("行业领域", 12, wrap=True), lambda r: r["sector_name"]),
    (Column("单位名称\n统一社会信用代码", 20, wrap=True),
     lambda r: _lines(r["enterprise"], r["uscc"])),
    (Column("问题隐患描述", 18, wrap=True), lambda r: r["description"]),
    (Column("隐患类别", 10, wrap=True), lambda r: label("category", r["category"])),
    (Column("隐患等级", 6, wrap=True),
     lambda r: _lines(label("grade", r["grade"]), r["local_grade"])),
    (Column("判定依据", 12, wrap=True), lambda r: r["criteria_ref"]),
    (Column("发现渠道\n发现单位\n发现日期", 16, wrap=True),
     lambda r: _lines(label("channel", r["channel"]), r["discovered_by"], r["discovered_on"])),
    (Column("整改措施", 16, wrap=True), lambda r: r["measures"]),
    (Column("整改责任单位\n责任人", 14, wrap=True),
     lambda r: _lines(r["responsible_org"], r["responsible_person"])),
    (Column("整改资金\n（万元）", 9, Format.WAN_YUAN), lambda r: wan_yuan(r["funds_fen"])),
    (Column("整改时限", 11, Format.DATE), lambda r: _date(r["deadline"])),
    (Column("应急预案\n管控措施", 12, wrap=True), lambda r: r["contingency_plan"]),
    (Column("挂牌督办\n级别/督办单位", 12, wrap=True),
     lambda r: _lines(_yes_no(r["listed"]), label("listing_level", r["listing_level"]),
                      r["supervising_org"])),
    (Column("整改进展\n状态", 12, wrap=True),
     lambda r: label("state", r["state"]) + (
         f" {r['progress']}%" if r["progress"] and r["state"] == "rectifying" else "")),
    (Column("完成/验收单位\n验收/销号日期", 17, wrap=True),
     lambda r: _lines(r["completed_on"] and f"完成 {r['completed_on']}", r["verifier"],
                      r["verified_on"] and f"验收 {r['verified_on']}",
                      r["closed_on"] and f"销号 {r['closed_on']}")),
    (Column("是否逾期", 5), lambda r: _yes_no(r["overdue"])),
    (Column("备注", 10, wrap=True), lambda r: label("tag", r["tag"])),
)

MEASURE_COLUMNS: tuple[tuple[Column, Field], ...] = (
    (Column("序号", 5, Format.COUNT), lambda r: r["no"]),
    (Column("制度措施名称", 28, wrap=True), lambda r: r["title"]),
    (Column("类别", 12, wrap=True), lambda r: label("kind", r["kind"])),
    (Column("行业领域", 14, wrap=True), lambda r: r["sector_name"]),
    (Column("牵头单位\n配合单位", 22, wrap=True), lambda r: _lines(r["lead_org"], r["partners"])),
    (Column("主要内容\n解决的问题", 36, wrap=True),
     lambda r: _lines(r["content"], r["related_hazards"] and
                      f"（关联隐患 {r['related_hazards']} 项）")),
    (Column("计划完成时限", 12, Format.DATE), lambda r: _date(r["planned_date"])),
    (Column("出台/完成时间", 12, Format.DATE), lambda r: _date(r["done_on"])),
    (Column("文号", 16, wrap=True), lambda r: r["doc_no"]),
    (Column("进展状态", 8), lambda r: label("measure_state", r["state"])),
    (Column("备注", 16, wrap=True), lambda r: r["remarks"]),
)


def list_table(sheet: str, title: str, columns: tuple[tuple[Column, Field], ...],
               rows: list[dict[str, Any]], note: str | None = None) -> Table:
    return Table(sheet, title, tuple(column for column, _ in columns),
                 [[value(row) for _, value in columns] for row in rows], note=note,
                 measure="万元（整改资金）" if sheet == "问题隐患清单" else "—")


# -- the whole form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FormSettings:
    """The form's registration (configurable, blank by default: DOMAIN §7 says the national
    form was not found, so no number is invented)."""

    form_no: str = ""
    authority: str = ""
    approval_no: str = ""
    valid_until: str = ""


def build_form(document: dict[str, Any], settings: FormSettings) -> Form:
    period = Period.parse(document["period"])
    unit = document["unit"]
    level = label("level", unit["level"])
    title = f"{unit['name']}（{level}）{period.label} 一报表两清单" + (
        "（草稿）" if document["draft"] else "")
    scope = ("（仅含重大隐患和挂牌督办隐患）" if document["hazard_list_scope"] == "major_and_listed"
             else None)
    tables = [statistics_table(document, period), national_table(document, period),
              sectors_table(document, period)]
    if document["children"]:
        tables.append(children_table(document))
    if document["tasks"]:
        tables.append(tasks_table(document))
    tables += [list_table("问题隐患清单", "问题隐患清单", HAZARD_COLUMNS, document["hazard_list"],
                          scope),
               list_table("制度措施清单", "制度措施清单", MEASURE_COLUMNS,
                          document["measure_list"])]
    heading = Heading(settings.form_no, settings.authority, settings.approval_no,
                      settings.valid_until, unit["name"], unit["code"], period.label,
                      document["draft"])
    return Form(title, heading, tuple(tables), period.last_day)
