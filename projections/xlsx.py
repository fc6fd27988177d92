"""The workbook of a submission: sheets 报表, 问题隐患清单 and 制度措施清单 with the Chinese
headers of DOMAIN §7–§8, frozen header rows and readable widths. Numbers are written as
numbers (rates as percentages, money in 万元) and dates as dates, so the sheets sort,
sum and filter in any spreadsheet. Everything comes from the submission's JSON document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.hazards import Category, Channel, Grade
from domain.measures import MeasureKind

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

PERCENT = "0.00%"
WAN_YUAN = "0.0000"
DATE = "yyyy-mm-dd"


def _label(group: str) -> Callable[[Any], Any]:
    return lambda value: LABELS[group].get(value, value)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


def _wan_yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(fen) / 1_000_000


Column = tuple[str, Callable[[dict[str, Any]], Any], str | None]  # header, value, number format

HAZARD_COLUMNS: list[Column] = [
    ("序号", lambda r: r["no"], None),
    ("隐患编号", lambda r: r["hazard_id"], None),
    ("所在区划", lambda r: r["location"], None),
    ("行业领域", lambda r: r["sector_name"], None),
    ("单位名称", lambda r: r["enterprise"], None),
    ("统一社会信用代码", lambda r: r["uscc"], None),
    ("问题隐患描述", lambda r: r["description"], None),
    ("隐患类别", lambda r: _label("category")(r["category"]), None),
    ("隐患等级", lambda r: "".join(filter(None, [_label("grade")(r["grade"]),
                                              r["local_grade"] and f"({r['local_grade']})"])),
     None),
    ("判定依据", lambda r: r["criteria_ref"], None),
    ("发现渠道", lambda r: _label("channel")(r["channel"]), None),
    ("发现单位", lambda r: r["discovered_by"], None),
    ("发现日期", lambda r: _date(r["discovered_on"]), DATE),
    ("整改措施", lambda r: r["measures"], None),
    ("整改责任单位", lambda r: r["responsible_org"], None),
    ("责任人", lambda r: r["responsible_person"], None),
    ("整改资金(万元)", lambda r: _wan_yuan(r["funds_fen"]), WAN_YUAN),
    ("整改时限", lambda r: _date(r["deadline"]), DATE),
    ("应急预案/管控措施", lambda r: r["contingency_plan"], None),
    ("是否挂牌督办", lambda r: _yes_no(r["listed"]), None),
    ("挂牌级别", lambda r: _label("listing_level")(r["listing_level"]), None),
    ("督办单位", lambda r: r["supervising_org"], None),
    ("整改进展/状态", lambda r: _label("state")(r["state"]) + (
        f" {r['progress']}%" if r["progress"] and r["state"] == "rectifying" else ""), None),
    ("完成日期", lambda r: _date(r["completed_on"]), DATE),
    ("验收单位", lambda r: r["verifier"], None),
    ("验收日期", lambda r: _date(r["verified_on"]), DATE),
    ("销号日期", lambda r: _date(r["closed_on"]), DATE),
    ("是否逾期", lambda r: _yes_no(r["overdue"]), None),
    ("备注", lambda r: _label("tag")(r["tag"]), None),
]

MEASURE_COLUMNS: list[Column] = [
    ("序号", lambda r: r["no"], None),
    ("制度措施名称", lambda r: r["title"], None),
    ("类别", lambda r: _label("kind")(r["kind"]), None),
    ("行业领域", lambda r: r["sector_name"], None),
    ("牵头单位", lambda r: r["lead_org"], None),
    ("配合单位", lambda r: r["partners"], None),
    ("主要内容/解决的问题", lambda r: r["content"], None),
    ("计划完成时限", lambda r: _date(r["planned_date"]), DATE),
    ("出台/完成时间", lambda r: _date(r["done_on"]), DATE),
    ("文号", lambda r: r["doc_no"], None),
    ("进展/状态", lambda r: _label("measure_state")(r["state"]), None),
    ("备注", lambda r: r["remarks"], None),
]

STAT_HEADERS = ("指标代码", "指标名称", "计量单位", "本月", "累计", "期末")


def _figure(row: dict[str, Any], column: str) -> tuple[Any, str | None]:
    value = row.get(column)
    if value is None:
        return None, None
    if row["measure"] == "%":
        return Decimal(value) / 100, PERCENT
    if row["measure"] == "分":
        return _wan_yuan(value), WAN_YUAN
    return value, None


def write_workbook(path: Path, document: dict[str, Any], title: str, description: str) -> None:
    """Stream the three sheets (openpyxl's write-only mode: no cell objects kept)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    _write_sheet(book.create_sheet("报表"), _statistics_rows(document), [10, 28, 8, 12, 12, 12])
    for name, columns, rows in (("问题隐患清单", HAZARD_COLUMNS, document["hazard_list"]),
                                ("制度措施清单", MEASURE_COLUMNS, document["measure_list"])):
        table = [[(value(row), number_format) for _, value, number_format in columns]
                 for row in rows]
        widths = [_width(header, [line[i][0] for line in table])
                  for i, (header, _, _) in enumerate(columns)]
        _write_sheet(book.create_sheet(name),
                     [[(header, None) for header, _, _ in columns], *table], widths)
    book.properties.title = title
    book.properties.description = description
    book.properties.creator = "zhibao"
    book.save(path)


Cell = tuple[Any, str | None]  # value, number format


def _write_sheet(sheet: Any, rows: list[list[Cell]], widths: list[int]) -> None:
    """Header row frozen; widths before the rows, as write-only sheets require."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    for row in rows:
        cells = []
        for value, number_format in row:
            if number_format is None or value is None:
                cells.append(value)
            else:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = number_format
                cells.append(cell)
        sheet.append(cells)


def _statistics_rows(document: dict[str, Any]) -> list[list[Cell]]:
    """The form, then the sector breakdown, the children's submissions and the tasks."""
    rows: list[list[Cell]] = [[(header, None) for header in STAT_HEADERS]]
    for row in document["statistics"]:
        measure = "万元" if row["measure"] == "分" else row["measure"]
        rows.append([(row["code"], None), (row["name"], None), (measure, None),
                     *(_figure(row, column) for column in ("month", "cumulative", "at_end"))])
    _section(rows, ("行业领域", "本月发现隐患", "累计发现隐患", "本月重大隐患", "累计重大隐患",
                    "期末未整改"),
             [[s["name"], s["found_month"], s["found_cumulative"], s["major_month"],
               s["major_cumulative"], s["open_at_end"]] for s in document["sectors"]])
    _section(rows, ("下级单位", "代码", "报送状态", "版本"),
             [[c["name"], c["unit_code"], _label("status")(c["status"]), c["version"]]
              for c in document["children"]])
    _section(rows, ("任务序号", "责任单位", "工作要求", "完成时限", "完成进展", "是否逾期"),
             [[t["task_no"], t["responsible_unit"], t["requirement"], t["deadline_text"],
               t["progress"] or ("已完成" if t["completed_on"] else None),
               _yes_no(t["overdue"])] for t in document["tasks"]])
    if document["draft"]:
        rows.extend([[], [("草稿", None), ("本期尚未结束，数据为草稿，不作正式报送", None)]])
    return rows


def _section(rows: list[list[Cell]], headers: Sequence[str], table: list[list[Any]]) -> None:
    """A further table below the statistics, when it has rows."""
    if table:
        rows.append([])
        rows.append([(header, None) for header in headers])
        rows.extend([[(value, None) for value in line] for line in table])


def _width(header: str, values: list[Any]) -> int:
    """Characters of the widest cell (CJK counted double), within 8 and 50."""
    def size(value: Any) -> int:
        if isinstance(value, date):
            return 10
        text = "" if value is None else str(value)
        return sum(2 if ord(char) > 0x2E80 else 1 for char in text)

    return max(8, min(50, max([size(header), *map(size, values[:500])]) + 2))
