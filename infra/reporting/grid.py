"""A form's tables, and the lines of text around them, drawn straight onto the PDF canvas
down its pages, for `infra.reporting.pdf`.

ReportLab's platypus lays out flowables on frames and its `Table` draws every cell, through
general machinery (spans, styles, nested flowables, templates): most of a form's rendering
time went there. A form needs little of it — a table from the top of a page, fixed columns,
rows of plain text lines, merged header cells, a few lines of text above and below — so a
cursor (`Pages`) goes down the page and on to the next, and a grid is measured once and
drawn per page as a few rules (lines run on through the rows they separate), one text
object and the header's fill. Like platypus' table, it breaks between rows and repeats its
header on every page. The lines of text (the title, the header block, a draft's notice, the
note, the signature line) are each drawn whole, a block of them kept on one page. All text,
the cells' too, is written as PDF text operators by `Writing`, each line encoded in the
font's subsets once a document, or once a process for a line every form of its shape
prints (`Encoding`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from reportlab.lib.colors import HexColor, black
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.pdfbase.pdfmetrics import getFont

LEFT, RIGHT, CENTRE = "left", "right", "centre"
RULE = 0.5  # points: the width of the grid's lines
FUZZ = 1e-6  # points
SHARED_LINES = 1 << 13  # lines kept per numbering (~0.3 kB each: 2.5 MB; a county's
# numbers would grow it on)
BASELINES = 8  # numberings whose lines are kept (one per shape of form)

Rule = tuple[float, float, float, float]  # x1, y1, x2, y2
Chunks = tuple[tuple[int, str], ...]  # a line's runs of one font subset each, as operators


@dataclass(frozen=True)
class Lettering:
    """The grid's type — one font and size with its leading — and the cells' padding."""

    font: str
    size: float
    leading: float
    side: float  # left and right padding
    above: float  # top padding
    below: float  # bottom padding

    def height(self, lines: int) -> float:
        """A row's height for the given lines of text."""
        return lines * self.leading + self.above + self.below


class Box(NamedTuple):
    """A cell, or cells merged: its text lines and where it stands in its band (a named
    tuple: a form makes thousands, and a frozen dataclass is several times slower to make)."""

    left: float
    right: float
    lines: tuple[str, ...]
    align: str = LEFT
    top: float = 0.0  # below the band's top
    height: float | None = None  # None: the band's whole height


@dataclass(frozen=True)
class Band:
    """What a page keeps together: the header rows, or one body row."""

    height: float
    boxes: tuple[Box, ...]
    fill: str | None = None

    @cached_property
    def edges(self) -> tuple[float, ...]:
        """The inner vertical rules through the band's whole height."""
        return tuple(box.left for box in self.boxes if box.left > 0 and box.height is None)

    @cached_property
    def partial_rules(self) -> tuple[Rule, ...]:
        """The rules of boxes that fill part of its height (merged header cells), as
        offsets below the band's top."""
        rules: list[Rule] = []
        for box in self.boxes:
            if box.height is None:
                continue
            bottom = box.top + box.height
            if box.left > 0:
                rules.append((box.left, box.top, box.left, bottom))
            if bottom < self.height:
                rules.append((box.left, bottom, box.right, bottom))
        return tuple(rules)


class Grid:
    """A table of bands under a header band repeated on every page it spans."""

    def __init__(self, header: Band, body: list[Band], width: float,
                 lettering: Lettering) -> None:
        self.header = header
        self.body = body
        self.width = width
        self.lettering = lettering

    def flow(self, pages: Pages, left: float) -> None:
        """Draw the rows down the pages, as many on each as fit under the header; a page
        breaks between rows, never in one."""
        rows = self.body
        while rows:
            fitting = self._fitting(rows, pages.room)
            if fitting == 0:
                if pages.fresh:
                    raise ValueError("a row of the table is taller than a page")
                pages.turn()
                continue
            height = self.header.height + sum(band.height for band in rows[:fitting])
            self._draw(pages, left, pages.take(height), rows[:fitting], height)
            rows = rows[fitting:]
            if rows:
                pages.turn()

    def _fitting(self, rows: list[Band], room: float) -> int:
        """How many of the rows fit under the header in `room` points."""
        room -= self.header.height
        for count, band in enumerate(rows):
            room -= band.height
            if room < 0:
                return count
        return len(rows)

    def _draw(self, pages: Pages, left: float, top: float, rows: list[Band],
              height: float) -> None:
        """The header and the rows, the header's top left corner at (left, top)."""
        canvas = pages.canvas
        placed = []  # each band with the height of its top
        y = height
        for band in (self.header, *rows):
            placed.append((band, y))
            y -= band.height
        canvas.saveState()
        canvas.translate(left, top - height)
        for band, y in placed:
            if band.fill is not None:
                canvas.setFillColor(HexColor(band.fill))
                canvas.rect(0, y - band.height, self.width, band.height, stroke=0, fill=1)
        canvas.setStrokeColor(black)
        canvas.setLineWidth(RULE)
        canvas.lines(self._rules(placed, height))
        canvas.setFillColor(black)
        self._text(pages.writing(self.lettering.font), placed)
        canvas.restoreState()

    def _rules(self, placed: list[tuple[Band, float]], height: float) -> list[Rule]:
        """Every line of the grid; a vertical one runs on through the bands it divides."""
        width = self.width
        rules: list[Rule] = [(0, height, width, height), (0, 0, 0, height),
                             (width, 0, width, height)]
        running: dict[float, float] = {}  # an inner vertical rule's x → where it began
        previous: tuple[float, ...] = ()  # the edges `running` holds (a row's are its
        # table's columns: most rows change nothing)
        for band, top in placed:
            if band.edges != previous:
                previous = band.edges
                for x in [x for x in running if x not in previous]:
                    rules.append((x, running.pop(x), x, top))
                for x in previous:
                    running.setdefault(x, top)
            rules += [(x1, top - y1, x2, top - y2) for x1, y1, x2, y2 in band.partial_rules]
            rules.append((0, top - band.height, width, top - band.height))
        rules += [(x, start, x, 0) for x, start in running.items()]
        return rules

    def _text(self, writing: Writing, placed: list[tuple[Band, float]]) -> None:
        """Every cell's lines, centred vertically in it (the grid's innermost loop)."""
        lettering = self.lettering
        size, leading, side = lettering.size, lettering.leading, lettering.side
        above, below = lettering.above, lettering.below
        for band, top in placed:
            for box in band.boxes:
                left, right, lines, align, box_top, box_height = box
                height = band.height if box_height is None else box_height
                bottom = top - box_top - height
                y = bottom + (below + height - above + len(lines) * leading) / 2 - size
                for line in lines:
                    if line:
                        writing.line(line, left + side, right - side, y, size, align)
                    y -= leading
        writing.draw()


@dataclass(frozen=True)
class Caption:
    """One line of text above a table (or below it): its pieces at the left, the centre or
    the right."""

    height: float
    size: float
    pieces: tuple[tuple[str, str], ...]  # text, LEFT / CENTRE / RIGHT
    colour: str = "#000000"


class Captions:
    """Lines of text, each on one line, as wide as the table under them (or the note under
    it), kept together on a page."""

    def __init__(self, lines: list[Caption], width: float, font: str) -> None:
        self.lines = lines
        self.width = width
        self.height = sum(line.height for line in lines)
        self.font = font

    def flow(self, pages: Pages, left: float) -> None:
        """Draw the lines below what the page has, or at the top of the next."""
        top = pages.take(self.height)
        writing = pages.writing(self.font)
        for line in self.lines:
            writing.colour(line.colour)
            for text, align in line.pieces:
                writing.line(text, left, left + self.width, top - line.size, line.size, align)
            top -= line.height
        writing.draw()


class Pages:
    """Where the next thing drawn goes: a cursor down the page between its top and bottom
    margins, on to a new page (decorated as it begins) when what comes does not fit."""

    def __init__(self, canvas: Any, top: float, bottom: float,
                 decorate: Callable[[Pages], None]) -> None:
        self.canvas = canvas
        self.top = top
        self.bottom = bottom
        self.decorate = decorate
        self.encodings: dict[str, Encoding] = {}  # each font's
        self.number = 1
        self.y = top
        decorate(self)

    @property
    def room(self) -> float:
        """The points left on the page (and a hair more: a float sum's last bit never
        pushes a row on to the next page)."""
        return self.y - self.bottom + FUZZ

    @property
    def fresh(self) -> bool:
        return self.y == self.top

    def take(self, height: float) -> float:
        """The top of the next `height` points, on a new page if they do not fit here."""
        if height > self.room:
            self.turn()
        top = self.y
        self.y -= height
        return top

    def turn(self) -> None:
        self.canvas.showPage()
        self.number += 1
        self.y = self.top
        self.decorate(self)

    def writing(self, font: str) -> Writing:
        """Somewhere to write lines of text in the font on this page."""
        encoding = self.encodings.get(font)
        if encoding is None:
            encoding = self.encodings[font] = Encoding(getFont(font), self.canvas._doc)
        return Writing(self.canvas, encoding)


class Encoding:
    """Lines of text in a font's subsets, as text operators, each encoded once a document.

    A TrueType font numbers the characters of its subsets per document, in the order they
    are first written; the form pins the text every form of its shape prints first
    (`infra.reporting.fontsubsets.pin`), so when a document's first line is written, the
    numbering so far (its baseline) is that of every such form. A line made only of
    characters numbered by then is encoded the same way in all of them, so it is kept for
    the process (a village prints ~950 lines, ~380 distinct, most of them labels, headers
    and numbers every village prints). A line whose characters are all numbered in the
    first subset is encoded here in C, without ReportLab's loop over its characters."""

    def __init__(self, font: Any, document: Any) -> None:
        self.font = font
        self.document = document
        state = font._assignState(document)  # (ReportLab's hook for a font's state)
        self.assignments: dict[int, int] = state.assignments  # a character → its number
        self.baseline: int = state.nextCode
        self.shared = _shared_lines(font, tuple(map(tuple, state.subsets)))
        self.own: dict[str, Chunks] = {}  # (the same lines recur in a document's tables)

    def __call__(self, text: str) -> Chunks:
        chunks = self.own.get(text)
        if chunks is None:
            chunks = self.shared.get(text)
            if chunks is None:
                chunks = self._encoded(text)
            self.own[text] = chunks
        return chunks

    def _encoded(self, text: str) -> Chunks:
        """The line's chunks, kept for the process if every character had its number at
        the baseline (numbers only ever grow)."""
        numbers = list(map(self.assignments.get, map(ord, text)))
        if not numbers or None in numbers:  # empty, or a character new to the document:
            return self._split(text)  # ReportLab numbers it
        highest = max(numbers)
        chunks = (((0, f"({escapePDF(bytes(numbers))}) Tj"),) if highest < 256  # one chunk
                  else self._split(text))
        if highest < self.baseline and len(self.shared) < SHARED_LINES:
            self.shared[text] = chunks
        return chunks

    def _split(self, text: str) -> Chunks:
        return tuple((subset, f"({escapePDF(chunk)}) Tj")
                     for subset, chunk in self.font.splitString(text, self.document))


@lru_cache(maxsize=BASELINES)
def _shared_lines(font: Any, numbering: tuple[tuple[int, ...], ...]) -> dict[str, Chunks]:
    """The lines kept for documents whose subsets of the font (the object: which characters
    it has decides which are numbered) begin with the same numbering."""
    return {}


class Writing:
    """Lines of text as PDF text operators, written in one text object: ReportLab's text
    object formats each string anew (most of the drawing time went there); here a line
    costs a dictionary look-up and one formatted string."""

    def __init__(self, canvas: Any, encoding: Encoding) -> None:
        self.canvas = canvas
        self.font = encoding.font
        self.document = encoding.document
        self.encoding = encoding
        self.selections: dict[tuple[int, float], str] = {}  # a font subset and size → the
        # operator that selects them
        self.subset, self.size = -1, 0.0  # the font subset and size in use
        self.code = ["BT"]
        self.numbers: dict[float, str] = {}

    def line(self, text: str, left: float, right: float, y: float, size: float,
             align: str) -> None:
        """One line of text at its baseline `y`, aligned between `left` and `right`."""
        chunks = self.encoding(text)
        if align == LEFT:
            x = left
        elif align == RIGHT:
            x = right - self.font.stringWidth(text, size)
        else:
            x = (left + right - self.font.stringWidth(text, size)) / 2
        numbers = self.numbers
        code = self.code
        code.append(f"1 0 0 1 {numbers.get(x) or self._number(x)} "
                    f"{numbers.get(y) or self._number(y)} Tm")
        for subset, shown in chunks:
            if subset != self.subset or size != self.size:
                code.append(self._select(subset, size))
            code.append(shown)

    def _number(self, number: float) -> str:
        """A coordinate as PDF text (fp_str), each once a block of lines written together:
        the cells of a column begin at the same x, those of a row at the same y."""
        shown = self.numbers[number] = fp_str(number)
        return shown

    def _select(self, subset: int, size: float) -> str:
        """The operator that makes the font subset and size the current ones."""
        self.subset, self.size = subset, size
        selection = self.selections.get((subset, size))
        if selection is None:
            name = self.font.getSubsetInternalName(subset, self.document)
            selection = self.selections[subset, size] = f"{name} {fp_str(size)} Tf"
        return selection

    def colour(self, colour: str) -> None:
        """The colour of the lines after."""
        self.code.append(f"{fp_str(*HexColor(colour).rgb())} rg")

    def draw(self) -> None:
        """Put the lines on the page (their colour goes with them)."""
        self.canvas.saveState()
        self.canvas.addLiteral("\n".join([*self.code, "ET"]))
        self.canvas.restoreState()
