"""The workbook of a submission: one sheet per table of the form (`infra.reporting.forms`),
each ready to print — merged title, header block, bold bordered column headers repeated on
every page, landscape A4 fitted to the page width (the report form to at most two pages),
frozen panes, page numbers — and ready to compute with: counts, rates, money and dates are
numbers and dates with their formats, not text.

XlsxWriter writes it (see pyproject.toml): it is fast and, with the creation date fixed to
the period's last day, writes the same bytes for the same document.
"""

from __future__ import annotations

import io
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from infra.reporting.forms import (
    SIGNATURES,
    Cell,
    Form,
    Format,
    Heading,
    Section,
    Table,
    width_of,
)

FONT = "宋体"
NUMBER_FORMATS = {Format.COUNT: "#,##0", Format.PERCENT: "0.00%", Format.WAN_YUAN: "#,##0.00",
                  Format.DATE: "yyyy-mm-dd", Format.TEXT: "@"}
DRAFT = "草稿：本期尚未结束，数据为草稿，不作正式报送"
ROW_HEIGHT = 15  # points: one line of 10.5-point text with its border
LINE_HEIGHT = 13.5  # points: each further line of wrapped text


class _Formats:
    """XlsxWriter needs one Format object per combination; made once per workbook."""

    def __init__(self, book: Any) -> None:
        base = {"font_name": FONT, "font_size": 10.5, "valign": "vcenter"}
        self.title = book.add_format({**base, "bold": True, "font_size": 16, "align": "center"})
        self.info = book.add_format({**base, "font_size": 10, "text_wrap": True})
        self.info_right = book.add_format({**base, "font_size": 10, "align": "right"})
        self.draft = book.add_format({**base, "bold": True, "font_color": "#C00000"})
        self.header = book.add_format({**base, "bold": True, "border": 1, "align": "center",
                                       "text_wrap": True, "bg_color": "#EDEDED"})
        self.section = book.add_format({**base, "bold": True, "border": 1})
        self.note = book.add_format({**base, "font_size": 9, "text_wrap": True})
        self.cells = {(kind, wrap): book.add_format({
            **base, "border": 1, "num_format": NUMBER_FORMATS[kind], "text_wrap": wrap,
            "align": "right" if kind in (Format.COUNT, Format.PERCENT, Format.WAN_YUAN)
            else "center" if kind == Format.DATE else "left"})
            for kind in NUMBER_FORMATS for wrap in (False, True)}


def render_workbook(form: Form, description: str) -> bytes:
    """The .xlsx bytes of the form."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    book.set_properties({"title": form.title, "author": "zhibao", "comments": description,
                         "created": datetime.combine(form.last_day, time())})
    formats = _Formats(book)
    for table in form.tables:
        _sheet(book.add_worksheet(table.sheet), table, form.heading, formats)
    book.close()
    return buffer.getvalue()


def _sheet(sheet: Any, table: Table, heading: Heading, f: _Formats) -> None:
    last = len(table.columns) - 1
    for index, column in enumerate(table.columns):
        sheet.set_column(index, index, column.width)
    sheet.set_row(0, 28)
    sheet.merge_range(0, 0, 0, last, table.title, f.title)
    row = _heading(sheet, table, heading, f, last)
    if heading.draft:
        sheet.merge_range(row, 0, row, last, DRAFT, f.draft)
        row += 1
    first_header = row
    if table.groups:
        column = 0
        for text, span in table.groups:
            if span == 1:
                sheet.write(row, column, text, f.header)
            else:
                sheet.merge_range(row, column, row, column + span - 1, text, f.header)
            column += span
        row += 1
    lines = max(header.count("\n") + 1 for header in (c.header for c in table.columns))
    sheet.set_row(row, ROW_HEIGHT * lines + 3)
    for index, column in enumerate(table.columns):
        sheet.write(row, index, column.header, f.header)
    if table.groups:  # a group of one column spans both header rows
        column = 0
        for text, span in table.groups:
            if span == 1:
                sheet.merge_range(first_header, column, row, column, text, f.header)
            column += span
    sheet.repeat_rows(first_header, row)
    row += 1
    sheet.freeze_panes(row, 0)
    first_body = row
    for index, line in enumerate(table.rows):
        if isinstance(line, Section):
            sheet.merge_range(row, 0, row, last, line.title, f.section)
        else:
            lines = 1
            for column_index, (column, value) in enumerate(zip(table.columns, line,
                                                               strict=True)):
                kind = table.format_of(index, column_index)
                _write(sheet, row, column_index, value, f.cells[kind, column.wrap])
                if column.wrap and isinstance(value, str):
                    lines = max(lines, lines_of(value, column.width))
            sheet.set_row(row, ROW_HEIGHT + LINE_HEIGHT * (lines - 1))  # spreadsheets do
            # not fit rows to wrapped text by themselves
        row += 1
    if not table.rows:
        sheet.merge_range(row, 0, row, last, "（本期无）", f.cells[Format.TEXT, False])
        row += 1
    if table.note:
        sheet.merge_range(row, 0, row, last, table.note, f.note)
        row += 1
    if table.signature:
        row += 1
        sheet.merge_range(row, 0, row, last, signature_line(), f.info)
        row += 1
    _page_setup(sheet, table, heading, last, row - 1, first_body)


def signature_line() -> str:
    return "    ".join(f"{who}：{'____年__月__日' if who == '报出日期' else '__________'}"
                       for who in SIGNATURES)


def _heading(sheet: Any, table: Table, heading: Heading, f: _Formats, last: int) -> int:
    """填报单位, 报告期, 计量单位 on the left; 表号, 制定机关, 批准文号, 有效期至 on the right."""
    left = [f"填报单位（盖章）：{heading.unit}（{heading.unit_code}）",
            f"报告期：{heading.period}        计量单位：{table.measure}"]
    right = [f"表    号：{heading.form_no}        制定机关：{heading.authority}",
             f"批准文号：{heading.approval_no}        有效期至：{heading.valid_until}"]
    split = max(1, (last + 1) // 2)
    for offset, (text_left, text_right) in enumerate(zip(left, right, strict=True), start=1):
        sheet.set_row(offset, ROW_HEIGHT + 2)
        _merge(sheet, offset, 0, split - 1, text_left, f.info)
        _merge(sheet, offset, split, last, text_right, f.info_right)
    return len(left) + 1


def _merge(sheet: Any, row: int, first: int, last: int, value: str, fmt: Any) -> None:
    if first == last:
        sheet.write_string(row, first, value, fmt)
    else:
        sheet.merge_range(row, first, row, last, value, fmt)


def _write(sheet: Any, row: int, column: int, value: Cell, fmt: Any) -> None:
    if value is None:
        sheet.write_blank(row, column, None, fmt)
    elif isinstance(value, bool):
        sheet.write_string(row, column, "是" if value else "否", fmt)
    elif isinstance(value, int | Decimal):
        sheet.write_number(row, column, float(value), fmt)
    elif isinstance(value, date):
        sheet.write_datetime(row, column, datetime.combine(value, time()), fmt)
    else:
        sheet.write_string(row, column, str(value), fmt)


def lines_of(value: str, width: int) -> int:
    """Lines a text takes in a column `width` character cells wide (wrapping anywhere)."""
    room = max(1, width - 1)
    return sum(max(1, -(-width_of(line) // room)) for line in value.split("\n"))


def _page_setup(sheet: Any, table: Table, heading: Heading, last_column: int, last_row: int,
                first_body: int) -> None:
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.set_margins(left=0.4, right=0.4, top=0.55, bottom=0.55)
    sheet.center_horizontally()
    sheet.fit_to_pages(1, table.pages or 0)  # one page wide; the report form ≤ 2 pages tall
    sheet.print_area(0, 0, last_row, last_column)
    sheet.set_header(f"&L&8{heading.unit} {heading.period}&R&8{table.title}")
    sheet.set_footer("&C&8第 &P 页，共 &N 页")
