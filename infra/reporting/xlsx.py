"""The workbook of a submission: one sheet per table of the form (`infra.reporting.forms`),
each ready to print — merged title, header block, bold bordered column headers repeated on
every page, landscape A4 fitted to the page width (the report form to at most two pages),
frozen panes, page numbers — and ready to compute with: counts, rates, money and dates are
numbers and dates with their formats, not text.

The sheets are written here as SpreadsheetML text; XlsxWriter (see pyproject.toml) makes the
styles — fonts, borders, fills, number formats — once per process. Through XlsxWriter's
cell API a village's workbook took about 10 ms and a county's 130 ms of CPU, half of a
village's spent on what every workbook repeats (formats, styles, theme, package parts) and
the rest a dozen Python calls per cell; written here, a cell is one string: 3.7 and 46 ms
(`python -m bench forms`); then a body row one loop, the parts every workbook shares deflated
once per process and the zip written here: 1.9 and 25 ms, the same bytes on the demo's 269
documents. The parts are those XlsxWriter wrote, element for element, and
the cells, merges, heights, widths and page setup the same: openpyxl reads the same
workbook from both on every form of the demo's cascade, and LibreOffice prints them to the
same pixels. The package's parts are stored with a fixed date and the creation date is the
period's last day, so the same document gives the same bytes.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache, lru_cache
from itertools import filterfalse
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

from isal import isal_zlib

from infra.reporting.forms import (
    SIGNATURES,
    Cell,
    Form,
    Format,
    Heading,
    Section,
    Table,
    cells,
)

FONT = "宋体"
NUMBER_FORMATS = {Format.COUNT: "#,##0", Format.PERCENT: "0.00%", Format.WAN_YUAN: "#,##0.00",
                  Format.DATE: "yyyy-mm-dd", Format.TEXT: "@"}
DRAFT = "草稿：本期尚未结束，数据为草稿，不作正式报送"
ROW_HEIGHT = 15  # points: one line of 10.5-point text with its border
LINE_HEIGHT = 13.5  # points: each further line of wrapped text
COLUMNS = [chr(ord("A") + n) for n in range(26)]  # a form's tables have at most 20 columns
EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of Excel's 1900 date system, as seen after 1 March 1900
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
CONTROL = re.compile(rf"(_x[0-9a-fA-F]{{4}}_)|({CONTROL_CHARACTER.pattern})")
"""What SpreadsheetML text cannot hold as it is: control characters, written _xHHHH_, and
text that already looks like such an escape, whose underscore is escaped in turn."""
SEPARATOR = "\ue000"  # (private use: neither escaped nor part of an _xHHHH_ escape)
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
PART_LEVEL = 1
"""The deflate level of the package's parts: a village's workbook 3.7 → 3.25 ms, 17.9 →
19.6 kB at zlib's level 1 (the parts are small and repetitive XML; level 1 takes half the
time of the default 6). They are deflated by ISA-L (`isal_zlib`), whose level 1 takes a
third of zlib's time for as many bytes (a village's 56 kB of parts: 0.47 → 0.17 ms)."""


class _Styles:
    """The workbook's styles.xml and theme, made by XlsxWriter, and the index of each cell
    format in them: the same in every workbook, so made once per process."""

    def __init__(self) -> None:
        import xlsxwriter

        buffer = io.BytesIO()
        book = xlsxwriter.Workbook(buffer, {"in_memory": True})
        base = {"font_name": FONT, "font_size": 10.5, "valign": "vcenter"}
        formats = {
            "title": {**base, "bold": True, "font_size": 16, "align": "center"},
            "info": {**base, "font_size": 10, "text_wrap": True},
            "info_right": {**base, "font_size": 10, "align": "right"},
            "draft": {**base, "bold": True, "font_color": "#C00000"},
            "header": {**base, "bold": True, "border": 1, "align": "center", "text_wrap": True,
                       "bg_color": "#EDEDED"},
            "section": {**base, "bold": True, "border": 1},
            "note": {**base, "font_size": 9, "text_wrap": True},
            **{(kind, wrap): {**base, "border": 1, "num_format": NUMBER_FORMATS[kind],
                              "text_wrap": wrap,
                              "align": "right" if kind in (Format.COUNT, Format.PERCENT,
                                                           Format.WAN_YUAN)
                              else "center" if kind == Format.DATE else "left"}
               for kind in NUMBER_FORMATS for wrap in (False, True)}}
        made = {name: book.add_format(properties) for name, properties in formats.items()}
        # XlsxWriter numbers a format when a cell first uses it: numbered here, all of them
        # go into styles.xml, in this order
        self.index: dict[Any, int] = {name: fmt._get_xf_index() for name, fmt in made.items()}
        book.add_worksheet()
        book.close()
        with zipfile.ZipFile(buffer) as package:
            self.styles = _member("xl/styles.xml", package.read("xl/styles.xml"))
            self.theme = _member("xl/theme/theme1.xml", package.read("xl/theme/theme1.xml"))


@cache
def _styles() -> _Styles:
    return _Styles()


class _Strings(dict[str, int]):
    """The workbook's shared strings, each numbered in the order first written."""

    def __missing__(self, text: str) -> int:
        number = self[text] = len(self)
        return number


class _Sheet:
    """One worksheet's cells as XlsxWriter's cell API keeps them (a later write to a cell
    replaces it, a merged range's other cells are blanks in its format), its row heights
    and merged ranges, and the workbook's shared strings. A table's body rows, written once
    each, are kept whole: a row's cells are one string made in one loop, not a call each."""

    def __init__(self, strings: _Strings, index: dict[Any, int]) -> None:
        self.rows: dict[int, dict[int, str]] = {}
        self.lines: dict[int, str] = {}  # body rows: the <row> element, cells and all
        self.heights: dict[int, str] = {}  # the <row> attributes of a row not 15 points high
        self.merged: list[str] = []
        self.strings = strings
        self.index = index
        self.written = 0  # string cells written, replaced or not (the <sst> count)

    def text(self, row: int, column: int, value: str, style: Any) -> None:
        self.written += 1
        self.rows.setdefault(row, {})[column] = (
            f'<c r="{COLUMNS[column]}{row + 1}" s="{self.index[style]}" t="s">'
            f"<v>{self.strings[value]}</v></c>")

    def merge(self, row: int, first: int, last_row: int, last: int, value: str,
              style: Any) -> None:
        index = self.index[style]
        for r in range(row, last_row + 1):
            cells = self.rows.setdefault(r, {})
            for column in range(first, last + 1):
                cells[column] = f'<c r="{COLUMNS[column]}{r + 1}" s="{index}"/>'
        self.text(row, first, value, style)
        self.merged.append(f"{COLUMNS[first]}{row + 1}:{COLUMNS[last]}{last_row + 1}")

    def height(self, row: int, points: float) -> None:
        attributes = _height(points)
        if attributes:
            self.heights[row] = attributes

    def line(self, row: int, values: Sequence[Cell], kept: _Kept) -> None:
        """A body row, from its template if a row of the same values was written before in
        its table's styles (`kept`): most rows of the report form recur in village after
        village, and a template wants only its row number and its strings' indices. A row
        seen once is written as it is, as most of a town's hazards are each their own."""
        key = (*values, *map(type, values))
        template = kept.get(key)
        if template is None:
            text, texts, keep = _row(values, kept.styles, kept.rooms, str(row + 1),
                                     self.strings.__getitem__)
            if keep:
                kept.keep(key, SEEN)
            self.written += texts
            self.lines[row] = text
            return
        if template is SEEN:
            template = kept[key] = _template(values, kept.styles, kept.rooms)
        texts = template.texts
        self.written += len(texts)
        self.lines[row] = str(row + 1).join(template.pieces) % tuple(
            map(self.strings.__getitem__, texts))

    def xml(self, table: Table, heading: Heading, selected: bool, frozen: int) -> bytes:
        """The worksheet's part, encoded apart from its header and footer: all else is
        ASCII, the rows joined and encoded byte for byte, where one Chinese character made
        the whole sheet's text two bytes a character to join and to encode."""
        last = len(table.columns) - 1
        rows = []
        for row in sorted(self.rows.keys() | self.lines.keys() | self.heights.keys()):
            line = self.lines.get(row)
            if line is None:
                cells = self.rows.get(row, {})
                line = (f'<row r="{row + 1}"{self.heights.get(row, "")}>'
                        + "".join([cells[column] for column in sorted(cells)]) + "</row>")
            rows.append(line)
        merged = (f'<mergeCells count="{len(self.merged)}">'
                  + "".join(f'<mergeCell ref="{ref}"/>' for ref in self.merged)
                  + "</mergeCells>") if self.merged else ""
        header = _escape(f"&L&8{heading.unit} {heading.period}&R&8{table.title}")
        tab = ' tabSelected="1"' if selected else ""
        columns = _columns(tuple(column.width for column in table.columns))
        body = (
            f'{XML}<worksheet xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
            '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
            f'<dimension ref="A1:{COLUMNS[last]}{max(self.rows.keys() | self.lines.keys()) + 1}"/>'
            f'<sheetViews><sheetView{tab} workbookViewId="0"><pane ySplit="{frozen}" '
            f'topLeftCell="A{frozen + 1}" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{columns}</cols>'
            f'<sheetData>{"".join(rows)}</sheetData>'
            f"{merged}"
            '<printOptions horizontalCentered="1"/><pageMargins left="0.4" right="0.4" '
            'top="0.55" bottom="0.55" header="0.3" footer="0.3"/>'
            f'<pageSetup paperSize="9" fitToHeight="{table.pages or 0}" '
            'orientation="landscape"/>')
        end = (f"<headerFooter><oddHeader>{header}</oddHeader><oddFooter>{FOOTER}</oddFooter>"
               "</headerFooter></worksheet>")
        return body.encode() + end.encode()


PLAIN = frozenset({str, int, Decimal, date, type(None)})
"""The types a cell's value has in the forms, written without asking what they are."""


def _plain(value: Cell, room: int) -> tuple[Cell, int]:
    """Any other value as one of `PLAIN`, and its column's room if its text is its own (a
    yes or no is shown as 是 or 否, its lines not counted)."""
    if isinstance(value, bool):
        return ("是" if value else "否"), 0
    if isinstance(value, int | Decimal):
        return int(value) if isinstance(value, int) else Decimal(value), room
    if isinstance(value, date):
        return (value - EXCEL_EPOCH).days, room
    return str(value), room if isinstance(value, str) else 0


ROWS_KEPT = 1024
"""Body rows kept (seen once, or as templates) per table and styles, cleared when full:
of every 8th job of a cascade's, 63 % of the report form's rows are found (1,024 or
unbounded alike), none of the hazards' lists, each hazard its own."""


class _Template(NamedTuple):
    """A body row's <row> element in the pieces between its row numbers, with %s for the
    indices of its strings (`texts`) in the workbook's shared strings: joined by the number,
    then %-formatted, a 6-cell row of the report form takes some 0.4 µs, where str.format,
    which parses each field, took 1–1.5 µs and writing the row 3.5 µs. No other % is in a
    row: its cells hold references, style numbers and numbers."""

    pieces: tuple[str, ...]
    texts: tuple[str, ...]


SEEN = _Template((), ())
"""A row seen once, written without a template."""


class _Kept(dict[tuple[Any, ...], _Template]):
    """The templates of the body rows of one table in one set of cell styles, by the row's
    values and their types (1 and True, or 0 and 0.0, are equal but written apart)."""

    def __init__(self, styles: tuple[int, ...], rooms: tuple[int, ...]) -> None:
        super().__init__()
        self.styles = styles
        self.rooms = rooms

    def keep(self, key: tuple[Any, ...], template: _Template) -> None:
        if len(self) >= ROWS_KEPT:
            self.clear()
        self[key] = template


@cache
def _kept(styles: tuple[int, ...], rooms: tuple[int, ...]) -> _Kept:
    return _Kept(styles, rooms)


def _template(values: Sequence[Cell], styles: Sequence[int],
              rooms: Sequence[int]) -> _Template:
    """A body row's template (split where its number goes, marked by `SEPARATOR`)."""
    texts: list[str] = []

    def index(text: str) -> str:
        texts.append(text)
        return "%s"

    row = _row(values, styles, rooms, SEPARATOR, index)[0]
    return _Template(tuple(row.split(SEPARATOR)), tuple(texts))


def _row(values: Sequence[Cell], styles: Sequence[int], rooms: Sequence[int], number: str,
         index: Callable[[str], object]) -> tuple[str, int, bool]:
    """A body row's <row> element, its number of strings and whether it may be kept as a
    template: each value in its column's style, a string by its `index`, the row as high as
    its most wrapped text, as spreadsheets do not fit rows to it by themselves (`rooms`: the
    room of a column whose text wraps, else 0). A text is measured only if it could take
    more lines than one measured before (at most two cells a character): most of a hazard's
    fields are shorter than its description. A row is not kept if a value is other than
    `PLAIN` or a decimal zero, which an equal value written otherwise (-0) could find."""
    cells: list[str] = []
    cell = cells.append
    lines = 1
    texts = 0
    keep = True
    for letter, style, room, value in zip(COLUMNS[:len(values)], styles, rooms, values,
                                          strict=True):
        kind = type(value)
        if kind is not str and kind not in PLAIN:
            value, room = _plain(value, room)
            kind = type(value)
            keep = False
        if kind is str:
            texts += 1
            cell(f'<c r="{letter}{number}" s="{style}" t="s"><v>{index(value)}</v></c>')
            if room and 2 * len(value) // room + value.count("\n") >= lines:
                lines = max(lines, lines_of(value, room))
        elif value is None:
            cell(f'<c r="{letter}{number}" s="{style}"/>')
        else:
            if kind is date:
                value = (value - EXCEL_EPOCH).days
            elif kind is Decimal and not value:
                keep = False
            cell(f'<c r="{letter}{number}" s="{style}"><v>{float(value):.16G}</v></c>')
    height = _height(ROW_HEIGHT + LINE_HEIGHT * (lines - 1))
    return f'<row r="{number}"{height}>{"".join(cells)}</row>', texts, keep


@lru_cache(maxsize=256)
def _height(points: float) -> str:
    """The <row> attributes of a row `points` high (whole pixels): none at the default."""
    if points == ROW_HEIGHT:
        return ""
    return f' ht="{int(points * 4.0 / 3.0 + 0.5) * 0.75:.16g}" customHeight="1"'


@lru_cache(maxsize=256)
def _columns(widths: tuple[int, ...]) -> str:
    return "".join(f'<col min="{n}" max="{n}" width="{_character_width(width):.16g}" '
                   'customWidth="1"/>' for n, width in enumerate(widths, start=1))


def _character_width(width: float) -> float:
    """A column width in characters as Excel stores it: whole pixels of a 7-pixel digit
    with 5 pixels of padding, in 1/256 of a character."""
    pixels = int(width * 7 + 0.5) + 5
    return pixels * 256 // 7 / 256


def _escape(text: str) -> str:
    """The text escaped for XML, its control characters and _xHHHH_ look-alikes first if it
    has any: a search for "_x" and one for a character of a set take a fifth of the time of
    CONTROL's, which tries both branches at each character (41 against 165 µs on 8 kB of a
    hazard list's text)."""
    if "_x" in text or CONTROL_CHARACTER.search(text):
        text = CONTROL.sub(_control, text)
    return escape(text)


def _control(match: re.Match[str]) -> str:
    literal, control = match.groups()
    return f"_x005F{literal}" if literal else f"_x{ord(control):04X}_"


FOOTER = _escape("&C&8第 &P 页，共 &N 页")  # every sheet's: page P of N


def render_workbook(form: Form, description: str) -> bytes:
    """The .xlsx bytes of the form."""
    styles = _styles()
    strings = _Strings()
    sheets: list[bytes] = []
    areas = []
    written = 0
    for number, table in enumerate(form.tables):
        sheet = _Sheet(strings, styles.index)
        frozen, first_header, last_row = _sheet(sheet, table, form.heading)
        sheets.append(sheet.xml(table, form.heading, number == 0, frozen))
        written += sheet.written
        last = COLUMNS[len(table.columns) - 1]
        areas.append((number, table.sheet, f"$A$1:${last}${last_row + 1}",
                      f"${first_header + 1}:${frozen}"))
    return _package(form, description, sheets, areas, strings, written, styles)


def _package(form: Form, description: str, sheets: list[bytes],
             areas: list[tuple[int, str, str, str]], strings: _Strings, written: int,
             styles: _Styles) -> bytes:
    names = [table.sheet for table in form.tables]
    count = len(names)
    defined = [*(("Print_Area", number, sheet, area) for number, sheet, area, _ in areas),
               *(("Print_Titles", number, sheet, rows) for number, sheet, _, rows in areas)]
    book = (
        f'{XML}<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><fileVersion appName="xl" '
        'lastEdited="4" lowestEdited="4" rupBuild="4505"/><workbookPr '
        'defaultThemeVersion="124226"/><bookViews><workbookView xWindow="240" yWindow="15" '
        'windowWidth="16095" windowHeight="9660"/></bookViews><sheets>'
        + "".join(f'<sheet name="{_escape(name)}" sheetId="{n}" r:id="rId{n}"/>'
                  for n, name in enumerate(names, start=1))
        + "</sheets><definedNames>"
        + "".join(f'<definedName name="_xlnm.{name}" localSheetId="{number}">'
                  f"{_escape(sheet)}!{where}</definedName>"
                  for name, number, sheet, where in defined)
        + '</definedNames><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>')
    created = f"{datetime.combine(form.last_day, time()):%Y-%m-%dT%H:%M:%SZ}"
    core = (
        f'{XML}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/'
        'dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{_escape(form.title)}</dc:title><dc:creator>zhibao</dc:creator>"
        f"<dc:description>{_escape(description)}</dc:description><cp:lastModifiedBy>zhibao"
        f'</cp:lastModifiedBy><dcterms:created xsi:type="dcterms:W3CDTF">{created}'
        f'</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">{created}'
        "</dcterms:modified></cp:coreProperties>")
    return _zip([
        _content_types(count), _root_relations(),
        _app(tuple(names), tuple(f"{sheet}!{name}" for name, _, sheet, _ in defined)),
        _member("docProps/core.xml", core), _workbook_relations(count),
        _member("xl/sharedStrings.xml", _shared_strings(strings, written)), styles.styles,
        styles.theme, _member("xl/workbook.xml", book),
        *(_member(f"xl/worksheets/sheet{n}.xml", xml) for n, xml in enumerate(sheets, start=1))])


def _shared_strings(strings: _Strings, written: int) -> bytes:
    return (f'{XML}<sst xmlns="{MAIN}" count="{written}" uniqueCount="{len(strings)}">'.encode()
            + b"".join(_items(strings)) + b"</sst>")


ITEMS_KEPT = 8192
"""Shared strings' <si> elements kept: a village's workbook has some 270 strings, most of
them in every village's (the forms' words, its labels and headers, common figures' texts):
kept encoded, they are joined as bytes, not encoded again."""
_ITEMS: dict[str, bytes] = {}


def _items(strings: _Strings) -> list[bytes]:
    """Each string's <si> element, escaped only if not written before in the process."""
    known = _ITEMS
    missing = list(filterfalse(known.__contains__, strings))  # (not keys() - keys(), which
    if len(known) + len(missing) > ITEMS_KEPT:  # goes through all the strings kept)
        known.clear()
        missing = list(strings)
    if missing:
        known.update(zip(missing, map(_item, missing, _escape_each(missing)), strict=True))
    return list(map(known.__getitem__, strings))


def _item(text: str, escaped: str) -> bytes:
    if text[:1].isspace() or text[-1:].isspace():  # (not a regex: ^\s|\s$ tries every
        return f'<si><t xml:space="preserve">{escaped}</t></si>'.encode()  # character)
    return f"<si><t>{escaped}</t></si>".encode()


def _escape_each(texts: list[str]) -> list[str]:
    """Each text escaped, all in one pass: joined by a character no escape touches or
    reaches across (a text holding it is escaped on its own)."""
    joined = SEPARATOR.join(texts)
    if joined.count(SEPARATOR) != len(texts) - 1:  # (or no texts)
        return [_escape(text) for text in texts]
    return _escape(joined).split(SEPARATOR)


@cache
def _content_types(count: int) -> _Member:
    """[Content_Types].xml of a workbook of `count` sheets."""
    worksheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    office = "application/vnd.openxmlformats-officedocument"
    return _member("[Content_Types].xml", (
        f'{XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/docProps/app.xml" ContentType="{office}.extended-properties+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/><Override PartName="/xl/styles.xml" '
        f'ContentType="{office}.spreadsheetml.styles+xml"/><Override PartName="/xl/theme/'
        f'theme1.xml" ContentType="{office}.theme+xml"/><Override PartName="/xl/workbook.xml" '
        f'ContentType="{office}.spreadsheetml.sheet.main+xml"/>'
        + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{worksheet}"/>'
                  for n in range(1, count + 1))
        + f'<Override PartName="/xl/sharedStrings.xml" ContentType="{office}.spreadsheetml.'
          'sharedStrings+xml"/></Types>'))


@lru_cache(maxsize=16)
def _app(names: tuple[str, ...], defined: tuple[str, ...]) -> _Member:
    """docProps/app.xml of a workbook of these sheets and defined names (`Sheet!Name`)."""
    titles = [*names, *defined]
    return _member("docProps/app.xml", (
        f'{XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        'docPropsVTypes"><Application>Microsoft Excel</Application><DocSecurity>0'
        '</DocSecurity><ScaleCrop>false</ScaleCrop><HeadingPairs><vt:vector size="4" '
        'baseType="variant"><vt:variant><vt:lpstr>Worksheets</vt:lpstr></vt:variant>'
        f'<vt:variant><vt:i4>{len(names)}</vt:i4></vt:variant><vt:variant><vt:lpstr>Named '
        f'Ranges</vt:lpstr></vt:variant><vt:variant><vt:i4>{len(defined)}</vt:i4></vt:variant>'
        f'</vt:vector></HeadingPairs><TitlesOfParts><vt:vector size="{len(titles)}" '
        'baseType="lpstr">' + "".join(f"<vt:lpstr>{_escape(t)}</vt:lpstr>" for t in titles)
        + "</vt:vector></TitlesOfParts><Company></Company><LinksUpToDate>false</LinksUpToDate>"
          "<SharedDoc>false</SharedDoc><HyperlinksChanged>false</HyperlinksChanged>"
          "<AppVersion>12.0000</AppVersion></Properties>"))


@cache
def _root_relations() -> _Member:
    kind = f"{RELATIONSHIPS}/"
    return _member("_rels/.rels", (
        f'{XML}<Relationships xmlns="{PACKAGE}"><Relationship Id="rId1" '
        f'Type="{kind}officeDocument" Target="xl/workbook.xml"/><Relationship Id="rId2" '
        f'Type="{PACKAGE}/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{kind}extended-properties" '
        'Target="docProps/app.xml"/></Relationships>'))


@cache
def _workbook_relations(count: int) -> _Member:
    """xl/_rels/workbook.xml.rels of a workbook of `count` sheets."""
    kind = f"{RELATIONSHIPS}/"
    parts = [(n, "worksheet", f"worksheets/sheet{n}.xml") for n in range(1, count + 1)]
    parts += [(count + 1, "theme", "theme/theme1.xml"), (count + 2, "styles", "styles.xml"),
              (count + 3, "sharedStrings", "sharedStrings.xml")]
    return _member("xl/_rels/workbook.xml.rels", (
        f'{XML}<Relationships xmlns="{PACKAGE}">'
        + "".join(f'<Relationship Id="rId{n}" Type="{kind}{part}" Target="{target}"/>'
                  for n, part, target in parts)
        + "</Relationships>"))


class _Member(NamedTuple):
    """A part of the package as the zip holds it: its name, CRC-32, size and deflated bytes."""

    name: bytes
    crc: int
    size: int
    deflated: bytes


def _member(name: str, content: str | bytes) -> _Member:
    raw = content.encode() if isinstance(content, str) else content
    return _Member(name.encode("ascii"), zlib.crc32(raw), len(raw),
                   isal_zlib.compress(raw, PART_LEVEL, -15))  # (raw deflate, as zipfile's)


LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
END_OF_DIRECTORY = struct.Struct("<4s4H2LH")


def _zip(members: list[_Member]) -> bytes:
    """The package, record for record as zipfile writes it (zip 2.0, deflated, dated 1
    January 1980, from Unix, rw-------): zipfile has no way to add a part deflated before,
    and the styles, theme, relations and content types — 16 kB, the same in every
    workbook — are deflated once per process."""
    chunks = []
    directory = []
    offset = 0
    for name, crc, size, deflated in members:
        header = LOCAL_HEADER.pack(b"PK\x03\x04", 20, 0, 0, 8, 0, 33, crc, len(deflated), size,
                                   len(name), 0)
        directory += (CENTRAL_HEADER.pack(b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0, 33, crc,
                                          len(deflated), size, len(name), 0, 0, 0, 0,
                                          0o600 << 16, offset), name)
        chunks += (header, name, deflated)
        offset += len(header) + len(name) + len(deflated)
    central = b"".join(directory)
    return b"".join([*chunks, central, END_OF_DIRECTORY.pack(
        b"PK\x05\x06", 0, 0, len(members), len(members), len(central), offset, 0)])


def _sheet(sheet: _Sheet, table: Table, heading: Heading) -> tuple[int, int, int]:
    """The table's cells; the row below the header, the first header row and the last row."""
    last = len(table.columns) - 1
    sheet.height(0, 28)
    sheet.merge(0, 0, 0, last, table.title, "title")
    row = _heading(sheet, table, heading, last)
    if heading.draft:
        sheet.merge(row, 0, row, last, DRAFT, "draft")
        row += 1
    first_header = row
    if table.groups:
        column = 0
        for text, span in table.groups:
            if span == 1:
                sheet.text(row, column, text, "header")
            else:
                sheet.merge(row, column, row, column + span - 1, text, "header")
            column += span
        row += 1
    lines = max(header.count("\n") + 1 for header in (c.header for c in table.columns))
    sheet.height(row, ROW_HEIGHT * lines + 3)
    for index, column in enumerate(table.columns):
        sheet.text(row, index, column.header, "header")
    if table.groups:  # a group of one column spans both header rows
        column = 0
        for text, span in table.groups:
            if span == 1:
                sheet.merge(first_header, column, row, column, text, "header")
            column += span
    row += 1
    frozen = row
    rooms = [max(1, column.width - 1) if column.wrap and column.width else 0
             for column in table.columns]  # (a cell of each line's width is padding)
    styles = _body_styles(table, rooms, sheet.index)
    for line, kept in zip(table.rows, styles, strict=True):
        if isinstance(line, Section):
            sheet.merge(row, 0, row, last, line.title, "section")
        else:
            sheet.line(row, line, kept)
        row += 1
    if not table.rows:
        sheet.merge(row, 0, row, last, "（本期无）", (Format.TEXT, False))
        row += 1
    if table.note:
        sheet.merge(row, 0, row, last, table.note, "note")
        row += 1
    if table.signature:
        row += 1
        sheet.merge(row, 0, row, last, signature_line(), "info")
        row += 1
    return frozen, first_header, row - 1


def _body_styles(table: Table, rooms: list[int], index: dict[Any, int]) -> list[_Kept]:
    """Each body row's cell styles by column, with the templates of rows written in them:
    its format, wrapped or not (a report figure's format follows its row's measure)."""

    def styles(figure: str) -> _Kept:
        return _kept(tuple(
            index[(figure if column.format == Format.FIGURE else column.format, room > 0)]
            for column, room in zip(table.columns, rooms, strict=True)), tuple(rooms))

    if not table.formats:
        return [styles(Format.TEXT)] * len(table.rows)
    by_format = {kind: styles(kind) for kind in set(table.formats)}
    return [by_format[kind] for kind in table.formats]


def signature_line() -> str:
    return "    ".join(f"{who}：{'____年__月__日' if who == '报出日期' else '__________'}"
                       for who in SIGNATURES)


def _heading(sheet: _Sheet, table: Table, heading: Heading, last: int) -> int:
    """填报单位, 报告期, 计量单位 on the left; 表号, 制定机关, 批准文号, 有效期至 on the right."""
    left = [f"填报单位（盖章）：{heading.unit}（{heading.unit_code}）",
            f"报告期：{heading.period}        计量单位：{table.measure}"]
    right = [f"表    号：{heading.form_no}        制定机关：{heading.authority}",
             f"批准文号：{heading.approval_no}        有效期至：{heading.valid_until}"]
    split = max(1, (last + 1) // 2)
    for offset, (text_left, text_right) in enumerate(zip(left, right, strict=True), start=1):
        sheet.height(offset, ROW_HEIGHT + 2)
        _merge(sheet, offset, 0, split - 1, text_left, "info")
        _merge(sheet, offset, split, last, text_right, "info_right")
    return len(left) + 1


def _merge(sheet: _Sheet, row: int, first: int, last: int, value: str, style: Any) -> None:
    if first == last:
        sheet.text(row, first, value, style)
    else:
        sheet.merge(row, first, row, last, value, style)


@lru_cache(maxsize=4096)
def lines_of(value: str, room: int) -> int:
    """Lines a text takes where a line holds `room` character cells (wrapping anywhere):
    kept, as a hazard's description, measures and units recur in its village's, town's and
    county's lists."""
    if len(value) * 2 <= room:  # (each character takes at most two cells)
        return value.count("\n") + 1
    if "\n" not in value:  # one line, not empty: at least one
        return -(-cells(value) // room)
    return sum(max(1, -(-cells(line) // room)) for line in value.split("\n"))
