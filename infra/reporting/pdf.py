"""The PDF of a submission: the same form as the workbook (`infra.reporting.forms`), on
landscape A4 — what gets printed, stamped and filed.

ReportLab draws it (see pyproject.toml) straight on its canvas, without its platypus layout
(`infra.reporting.grid`: each table from the top of a page, its header rows repeated on
every page it spans, Chinese text broken anywhere), it embeds the characters it prints of a
TrueType font (`infra.reporting.fontsubsets`), and in its invariant mode the same document
always gives the same bytes, so the PDF's SHA-256 is recorded with the submission. Chinese
needs a CJK TrueType font (`ZHIBAO_PDF_FONT`; by default Debian's fonts-wqy-microhei): a
font's PostScript outlines, as in OpenType CJK fonts such as Noto Sans CJK, are not
embedded here, so a TrueType one it is.

Every table is fitted to the page width (its columns and type shrink together, never below
a legible size); the report form is also fitted to two pages.
"""

from __future__ import annotations

import io
from decimal import Decimal
from functools import cache, lru_cache
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isal import isal_zlib

from infra.reporting.forms import NOT_KEPT, Cell, Form, Format, Heading, Row, Section, Table
from infra.reporting.xlsx import DRAFT, signature_line
from infra.settings import MissingResource

if TYPE_CHECKING:  # (imported with ReportLab, when a PDF is made)
    from infra.reporting.grid import Band, Box, Captions, Grid, Lettering, Pages

FONT = "zhibao-cjk"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # fonts-droid-fallback
)
MARGIN = 22.0  # points: the running header and the page number stand in it
TOP = MARGIN + 14  # points above the first line of a page (under the running header)
BOTTOM = MARGIN + 12  # points below its last (above the page number)
INDENT = 6.0  # points: the note and the signature line stand in from the table's edges
BODY_SIZE = 9.0
SMALL_SIZE, SMALL_LEADING = 8.0, 10.5  # the note and the signature line
CAPTION_GAP, NOTE_GAP, SIGNATURE_GAP = 3.0, 2.0, 8.0  # points above the table, note, signature
SMALLEST = 5.5  # points: below this a printed form cannot be read
CHAR = 0.55  # a character cell's width, in ems (a Chinese character takes two)
PAD = 4.0  # points of horizontal padding in a cell
ROW_PADDING = 1.8  # points of vertical padding in a row
GREY = "#EDEDED"
SECTION_GREY = "#F7F7F7"
CELL_CHARS = 400
"""Longest text a PDF cell prints: a longer one (a description may have 4,000 characters,
domain.values.MAX_TEXT) would make a row taller than a page. The JSON and the workbook
carry it whole; the PDF says where."""
ELIDED = "…（全文见 JSON 与工作簿）"
WRAPPED = 1 << 16
"""Texts whose lines a process keeps (the same names and labels recur in every form of a
county and in its villages'; the bound keeps a long cascade's workers from growing)."""
PAGE_LEVEL = 1
"""The deflate level of the pages' drawing, stored as binary, deflated by ISA-L
(`isal_zlib`). ReportLab compresses it with zlib at level 6 and then encodes it in ASCII85
(a quarter more bytes, for 7-bit channels no PDF goes through now): a village's pages 0.89 →
0.41 ms, 15.1 → 14.5 kB, at zlib's level 1; ISA-L's level 1 then took a third of zlib's time
(0.37 → 0.12 ms, 11.4 → 11.0 kB)."""
NUMBERS = (Format.COUNT, Format.PERCENT, Format.WAN_YUAN, Format.FIGURE)
KEPT_ROWS = 1 << 10  # rows kept per table layout, the first made (~3 kB each: 3 MB; the rows
# every village prints come first, those of one unit's own figures never recur)
KEPT_LAYOUTS = 16  # table layouts whose rows are kept (a shape of form has five to seven)


class FontMissing(MissingResource):
    """No CJK TrueType font to embed."""


def font_path(configured: Path | None) -> Path:
    if configured is not None:
        if not configured.is_file():
            raise FontMissing(f"ZHIBAO_PDF_FONT: {configured} does not exist")
        return configured
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing("no Chinese TrueType font found for the PDF: install Debian's "
                      "fonts-wqy-microhei (apt-get install fonts-wqy-microhei) or set "
                      "ZHIBAO_PDF_FONT to a TrueType (.ttf/.ttc) font")


@cache
def _register(path: Path) -> str:
    from reportlab.pdfbase import pdfmetrics

    from infra.reporting.fontsubsets import remembering_font

    pdfmetrics.registerFont(remembering_font(FONT, str(path)))
    return FONT


def load_font(font: Path) -> None:
    """Load ReportLab's canvas and the font, as a process's first PDF would."""
    import reportlab.pdfgen.canvas  # noqa: F401

    import infra.reporting.grid  # noqa: F401

    _register(font)


def render_pdf(form: Form, font: Path, description: str, bodies: Bodies | None = None) -> bytes:
    """The PDF bytes of the form (identical for identical input): each table from the top
    of a page, its rows carried on to the pages after it under its header. The rows of its
    lists are taken from `bodies` where they are laid out already, and added to it where
    not (`Body`)."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfbase.pdfmetrics import getFont
    from reportlab.pdfgen.canvas import Canvas

    from infra.reporting.fontsubsets import embed
    from infra.reporting.grid import CENTRE, LEFT, RESOURCE, RIGHT, Pages

    name = _register(font)
    buffer = io.BytesIO()
    width, height = landscape(A4)
    canvas = Canvas(buffer, pagesize=(width, height), invariant=1, pageCompression=1,
                    initialFontName=name)
    canvas.setTitle(form.title)
    canvas.setAuthor("zhibao")
    canvas.setSubject(description)
    canvas.setCreator("zhibao")

    def decorate(pages: Pages) -> None:
        """The running header (the unit and period, the form's title) and the page number."""
        writing = pages.writing(name)
        heading = form.heading
        writing.line(f"{heading.unit}（{heading.unit_code}） {heading.period}", MARGIN,
                     width - MARGIN, height - MARGIN + 2, 7, LEFT)
        writing.line(form.title, MARGIN, width - MARGIN, height - MARGIN + 2, 7, RIGHT)
        writing.line(f"第 {pages.number} 页", MARGIN, width - MARGIN, MARGIN - 4, 7, CENTRE)
        writing.draw()

    pages = Pages(canvas, height - TOP, BOTTOM, decorate)
    for index, table in enumerate(form.tables):
        if index:
            pages.turn()
        _section(table, form, name, pages, width - 2 * MARGIN, {} if bodies is None else bodies)
    canvas.showPage()
    embed(canvas._doc, getFont(name).face, RESOURCE, _common(_common_text(form)),
          pages.printed)
    _compress_pages(canvas._doc)
    canvas.save()
    return buffer.getvalue()


def _compress_pages(document: Any) -> None:
    """Each page's drawing compressed at PAGE_LEVEL, so ReportLab writes it as it is (its
    stream's dictionary written from a text made once, `infra.reporting.fontsubsets.Deflated`),
    and the pages' dictionaries written from the first one's (`infra.reporting.pagedicts`)."""
    from infra.reporting.fontsubsets import Deflated, stream_text
    from infra.reporting.pagedicts import write_like_the_first

    around = stream_text(in_array=True)
    for page in document.Pages.pages:
        page.Contents = Deflated(around, isal_zlib.compress(page.stream.encode(), PAGE_LEVEL))
    write_like_the_first(document)


def _common_text(form: Form) -> str:
    """What every form of the same tables prints, whoever its unit: titles, headers, section
    headings, the signature line, the texts of fixed columns (the report form's labels),
    the mark of a figure not kept, and the digits."""
    parts = [signature_line(), "0123456789,.%-"]
    for table in form.tables:
        fixed = [index for index, column in enumerate(table.columns) if column.fixed]
        parts += [table.title, *(text for text, _ in table.groups),
                  *(column.header for column in table.columns),
                  *(row.title if isinstance(row, Section) else "".join(
                      str(row[index]) for index in fixed) for row in table.rows)]
    return "".join([*parts, NOT_KEPT])


@lru_cache(maxsize=KEPT_LAYOUTS)
def _common(text: str) -> tuple[int, ...]:
    """The code points of the text's characters as the PDF shows them, in order (the shared
    part of a subset)."""
    from infra.reporting.fontsubsets import showable

    return tuple(sorted({ord(character) for character in showable(text) if character > " "}))


def _section(table: Table, form: Form, font: str, pages: Pages, width: float,
             bodies: Bodies) -> None:
    """The table under its captions, and its note and signature line, if any."""
    natural = sum(_points(column.width, BODY_SIZE) for column in table.columns)
    size = max(SMALLEST, min(BODY_SIZE, BODY_SIZE * width / natural))
    header_rows = 2 if table.groups else 1
    header_lines = max(c.header.count("\n") + 1 for c in table.columns)
    leading = size + 2.5
    captions = _captions(table, form.heading, font, width)
    after = [(gap, _small(text, font, width - 2 * INDENT)) for gap, text in (
        (NOTE_GAP, table.note), (SIGNATURE_GAP, signature_line() if table.signature else None))
        if text]
    if table.pages:  # fit the rows to the pages: shrink the type until they fit
        fixed = captions.height + CAPTION_GAP + sum(gap + block.height for gap, block in after)
        rows = len(table.rows) + table.pages * (header_rows * header_lines + 1)  # + a split
        leading = min(leading, (table.pages * (pages.top - pages.bottom) - fixed) / rows
                      - ROW_PADDING)
        size = max(SMALLEST, leading - 2.5)
    captions.flow(pages, MARGIN)
    pages.take(CAPTION_GAP)
    _grid(table, font, size, leading, width, bodies).flow(pages, MARGIN)
    for gap, block in after:
        pages.take(gap)
        block.flow(pages, MARGIN + INDENT)


def _captions(table: Table, heading: Heading, font: str, width: float) -> Captions:
    """The table's title, the header block (填报单位, 报告期 and 计量单位 at the left; 表号,
    制定机关, 批准文号 and 有效期至 at the right) and, on a draft, the notice."""
    from infra.reporting.grid import CENTRE, LEFT, RIGHT, Caption, Captions

    lines = [Caption(19, 15, ((table.title, CENTRE),)), Caption(3, 0, ()),
             Caption(11.5, 8, ((f"填报单位（盖章）：{heading.unit}（{heading.unit_code}）", LEFT),
                               (f"表　　号：{heading.form_no}　　制定机关：{heading.authority}",
                                RIGHT))),
             Caption(11.5, 8, ((f"报告期：{heading.period}　　计量单位：{table.measure}", LEFT),
                               (f"批准文号：{heading.approval_no}　　有效期至："
                                f"{heading.valid_until}", RIGHT)))]
    if heading.draft:
        lines.append(Caption(10.5, 8, ((DRAFT, LEFT),), "#C00000"))
    return Captions(lines, width, font)


def _small(text: str, font: str, width: float) -> Captions:
    """A note in small type, wrapped to the width."""
    from infra.reporting.grid import LEFT, Caption, Captions

    return Captions([Caption(SMALL_LEADING, SMALL_SIZE, ((line, LEFT),))
                     for line in wrap(text, font, SMALL_SIZE, width)], width, font)


def _points(cells: int, size: float) -> float:
    return cells * size * CHAR + PAD


def _grid(table: Table, font: str, size: float, leading: float, width: float,
          bodies: Bodies) -> Grid:
    from infra.reporting.grid import Band, Box, Grid, Lettering

    natural = [_points(column.width, size) for column in table.columns]
    stretch = width / sum(natural)  # fill the page width exactly
    edges = list(accumulate((w * stretch for w in natural), initial=0.0))
    lettering = Lettering(font, size, leading, PAD / 2, ROW_PADDING / 3, 2 * ROW_PADDING / 3)
    columns = tuple((left, right, column.format, _room(right - left) if column.wrap else None)
                    for column, left, right in zip(table.columns, edges, edges[1:],
                                                   strict=False))
    kinds = tuple(kind for _, _, kind, _ in columns)
    formats = table.formats or [Format.TEXT] * len(table.rows)  # (only for FIGURE columns)
    if table.listing:
        listed = bodies.setdefault((columns, lettering), {})
        blank = tuple(Box(left, right, ()) for left, right, _, _ in columns[1:])
        body = [_listed(line, kinds, columns, lettering, listed, blank) for line in table.rows]
    else:
        kept = _kept_rows(columns, lettering)
        body = [_band(line, _kinds(kinds, figures), columns, lettering, kept)
                for line, figures in zip(table.rows, formats, strict=True)]
    if not table.rows:
        body.append(Band(lettering.height(1), (Box(0.0, width, ("（本期无）",)),)))
    return Grid(_header(table, edges, lettering), body, width, lettering)


def _header(table: Table, edges: list[float], lettering: Lettering) -> Band:
    return _header_band(tuple(column.header for column in table.columns), table.groups,
                        tuple(edges), lettering)


@lru_cache(maxsize=KEPT_LAYOUTS)
def _header_band(headers: tuple[str, ...], groups: tuple[tuple[str, int], ...],
                 edges: tuple[float, ...], lettering: Lettering) -> Band:
    """The column headers (centred, wrapped to their columns) under their groups, if any;
    a group of one column spans both header rows. Made once a process for the same
    columns, so that its text is written from its run (`infra.reporting.grid.Run`)."""
    from infra.reporting.grid import CENTRE, Band, Box

    columns = [Box(left, right, _lines(header, lettering, right - left), CENTRE)
               for header, left, right in zip(headers, edges, edges[1:], strict=False)]
    columns_height = lettering.height(max(len(box.lines) for box in columns))
    if not groups:
        return Band(columns_height, tuple(columns), GREY)
    groups_height = lettering.height(1)
    boxes = []
    column = 0
    for text, span in groups:
        lines = tuple(text.split("\n"))
        if span == 1:
            boxes.append(Box(edges[column], edges[column + 1], lines, CENTRE))
        else:
            boxes.append(Box(edges[column], edges[column + span], lines, CENTRE,
                             height=groups_height))
            boxes += [box._replace(top=groups_height, height=columns_height)
                      for box in columns[column:column + span]]
        column += span
    return Band(groups_height + columns_height, tuple(boxes), GREY)


Columns = tuple[tuple[float, float, str, float | None], ...]
"""Each column's edges, format and the width its text wraps to, if it wraps."""


Body = tuple[float, tuple[float, float, float, str, str] | None]
"""A row of a list (a table of free text: 两清单) laid out but for its first cell, its 序号:
its height and the run of its other cells' lines (`infra.reporting.grid.Run`), if any. A
hazard's row is the same in its village's, its town's and its county's lists but for that
number, so it is laid out once (`infra.reporting.render.Shelf` hands it on to whichever
process renders the next), and kept as plain tuples: pickled and read back five times
faster than named ones (23 against 121 µs a row)."""

Bodies = dict[tuple[Columns, "Lettering"], dict[tuple[str, ...], Body]]
"""Rows' bodies by their columns and type, then by their texts but the first."""


@lru_cache(maxsize=KEPT_LAYOUTS)
def _kinds(kinds: tuple[str, ...], figures: str) -> tuple[str, ...]:
    """How a row shows its cells: its columns' formats, a report figure's as its row's."""
    return tuple(figures if kind == Format.FIGURE else kind for kind in kinds)


def _band(line: Row, kinds: tuple[str, ...], columns: Columns, lettering: Lettering,
          kept: dict[tuple[str, ...], Band]) -> Band:
    """One body row: a section's heading across the table, or a row of cells (`_cells`)
    shown in their `kinds`, made once per process for the same texts in the same columns
    (`kept`: most villages' report forms print the same figures in many rows; a list's
    rows, each its own, go by `_listed`)."""
    from infra.reporting.grid import Band, Box

    if isinstance(line, Section):
        return Band(lettering.height(1), (Box(0.0, columns[-1][1], (line.title,)),),
                    SECTION_GREY)
    texts = _texts(line, kinds)
    band = kept.get(texts)
    if band is None:
        boxes, height = _cells(texts, columns, lettering)
        band = Band(height, boxes)
        if len(kept) < KEPT_ROWS:
            kept[texts] = band
    return band


def _listed(line: Row, kinds: tuple[str, ...], columns: Columns, lettering: Lettering,
            bodies: dict[tuple[str, ...], Body], blank: tuple[Box, ...]) -> Band:
    """A row of a list: its body (`Body`) as laid out before, or laid out now and kept in
    `bodies`, after its own first cell. Its other cells stand blank in the band (`blank`):
    their lines are in its run."""
    from infra.reporting.grid import Band, Run, band_lines, preceded, run_of

    if isinstance(line, Section):
        return _band(line, kinds, columns, lettering, {})
    texts = _texts(line, kinds)
    body = bodies.get(texts[1:])
    if body is None:
        boxes, height = _cells(texts[1:], columns[1:], lettering)
        run = run_of(band_lines(boxes, height, lettering), lettering.size)
        body = bodies[texts[1:]] = (height, None if run is None else tuple(run))
    height, fields = body
    (first,), _ = _cells(texts[:1], columns[:1], lettering)
    if len(first.lines) > 1:  # (taller than its body, which stands centred in the row)
        boxes, height = _cells(texts, columns, lettering)
        return Band(height, boxes)
    band = Band(height, (first, *blank))
    rest = None if fields is None else Run(*fields)
    number = band_lines((first,), height, lettering)
    run = preceded(number[0], rest, lettering.size) if number else rest
    if run is not None:  # (else a row with no text: nothing to place)
        band.runs[lettering] = run
    return band


def _texts(line: Row, kinds: tuple[str, ...]) -> tuple[str, ...]:
    return tuple([value if isinstance(value, str) else shown(value, kind)
                  for kind, value in zip(kinds, line, strict=True)])


def _cells(texts: tuple[str, ...], columns: Columns, lettering: Lettering
           ) -> tuple[tuple[Box, ...], float]:
    """A row's cells and its height: numbers to the right, 不适用 (—) centred, long text cut
    at CELL_CHARS and wrapped if its column wraps (a county's hazard list makes 13,000
    cells, so each costs few operations)."""
    from infra.reporting.grid import CENTRE, LEFT, RIGHT, Box

    font, size = lettering.font, lettering.size
    boxes = []
    most = 1
    for (left, right, kind, wraps), text in zip(columns, texts, strict=True):
        if len(text) > CELL_CHARS:
            text = text[:CELL_CHARS] + ELIDED
        align = CENTRE if text == NOT_KEPT else RIGHT if kind in NUMBERS else LEFT
        lines = tuple(text.split("\n")) if wraps is None else wrap(text, font, size, wraps)
        most = max(most, len(lines))
        boxes.append(Box(left, right, lines, align))
    return tuple(boxes), lettering.height(most)


@lru_cache(maxsize=KEPT_LAYOUTS)
def _kept_rows(columns: Columns, lettering: Lettering) -> dict[tuple[str, ...], Band]:
    """The rows made so far in these columns and this type."""
    return {}


def _lines(text: str, lettering: Lettering, width: float) -> tuple[str, ...]:
    return wrap(text, lettering.font, lettering.size, _room(width))


def _room(width: float) -> float:
    """How wide a cell's text may run: the cell's width less its padding."""
    return width - PAD


def shown(value: Cell, kind: str) -> str:
    """A value as the form prints it (the workbook's number formats, as text)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if kind == Format.PERCENT:
        return f"{Decimal(value) * 100:.2f}%"
    if kind == Format.WAN_YUAN:
        return f"{Decimal(value):,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@cache
def _char_width(char: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(char, font, size)


@lru_cache(maxsize=WRAPPED)
def wrap(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """The text broken into lines that fit `width` points (anywhere, as Chinese breaks),
    keeping its own line breaks; the grid draws each line. A paragraph clearly narrower
    than the width (measured whole, in C) is one line, with no character measured alone."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines = []
    for paragraph in text.split("\n"):
        if stringWidth(paragraph, font, size) < width - 0.001:  # (the sum below could
            lines.append(paragraph)  # round another way by a hair)
            continue
        line, used = [], 0.0
        for char in paragraph:
            advance = _char_width(char, font, size)
            if line and used + advance > width:
                lines.append("".join(line))
                line, used = [], 0.0
            line.append(char)
            used += advance
        lines.append("".join(line))
    return tuple(lines)
