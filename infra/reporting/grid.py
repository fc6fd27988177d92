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
the cells' too, is written as PDF text operators by `Writing`, each line's bytes the same in
every document (`infra.reporting.fontsubsets.shown`), made once a process; a row's lines as
one run placed by relative moves, kept with the row (`Run`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, NamedTuple

from reportlab.lib.colors import HexColor, black
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase.pdfmetrics import getFont

from infra.reporting.fontsubsets import shown

LEFT, RIGHT, CENTRE = "left", "right", "centre"
RULE = 0.5  # points: the width of the grid's lines
FUZZ = 1e-6  # points
RESOURCE = "F1"  # the font's name in the pages' resources
MOVES = 1 << 12  # moves kept (a run's are between its columns' and its lines' coordinates,
# the same in a table's rows: 240 villages' forms make 37,450 moves, 186 distinct)

COORDINATES = 1 << 14  # coordinates kept as text (~0.1 kB each: 1.6 MB)
Rule = tuple[float, float, float, float]  # x1, y1, x2, y2
Line = tuple[float, float, str]  # a line's start and baseline from its band's top left, its text


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


class Run(NamedTuple):
    """A band's lines as text operators that place each line after the first by a move from
    the one before (`Td`), so they are the same wherever the band stands, in any document: a
    band met again costs one placed line (`Writing.place`)."""

    x: float  # the first line's start, from the band's left
    y: float  # its baseline, from the band's top
    size: float  # its type's
    code: str  # the operators from its first characters on
    characters: str  # what it prints (the document's font must hold them), its lines joined:
    # most runs are placed once (a list's rows), and a set made of them cost more than the
    # document's set updated from the text (1 % of rendering's instructions)


@dataclass(eq=False)
class Band:
    """What a page keeps together: the header rows, or one body row; and its lines' run,
    made when it is first drawn and kept with the band (the rows a process keeps are
    bounded: `infra.reporting.pdf.KEPT_ROWS`; a run's text averages 170 characters). Its
    rules are found as it is made: a form makes thousands of bands, and Python 3.11's
    `cached_property` takes a lock at each first reading (2 % of a village's PDF)."""

    height: float
    boxes: tuple[Box, ...]
    fill: str | None = None
    edges: tuple[float, ...] = field(init=False)
    """The inner vertical rules through the band's whole height."""
    partial_rules: tuple[Rule, ...] = field(init=False)
    """The rules of boxes that fill part of its height (merged header cells), as offsets
    below the band's top."""
    runs: dict[Lettering, Run] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.edges = tuple(box.left for box in self.boxes
                           if box.left > 0 and box.height is None)
        self.partial_rules = _partial_rules(self.boxes, self.height)


def _partial_rules(boxes: tuple[Box, ...], height: float) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for box in boxes:
        if box.height is None:
            continue
        bottom = box.top + box.height
        if box.left > 0:
            rules.append((box.left, box.top, box.left, bottom))
        if bottom < height:
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
                canvas.setFillColor(_colour(band.fill))
                canvas.rect(0, y - band.height, self.width, band.height, stroke=0, fill=1)
        canvas.setStrokeColor(black)
        canvas.setLineWidth(RULE)
        canvas.addLiteral(_stroked(self._rules(placed, height)))
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
        """Every band's lines as a run (`Run`), kept with the band (a village draws ~950
        lines in ~92 bands; of 15,840 village rows 2,216 are distinct)."""
        lettering = self.lettering
        for band, top in placed:
            run = band.runs.get(lettering)
            if run is None:
                run = run_of(band_lines(band.boxes, band.height, lettering), lettering.size)
                if run is None:
                    continue
                band.runs[lettering] = run
            writing.place(run, top)
        writing.draw()


def band_lines(boxes: tuple[Box, ...], height: float, lettering: Lettering) -> list[Line]:
    """The lines of a band's boxes, each centred vertically in its cell."""
    font = getFont(lettering.font)
    size, leading, side = lettering.size, lettering.leading, lettering.side
    above, below = lettering.above, lettering.below
    placed = []
    for left, right, lines, align, box_top, box_height in boxes:
        cell = height if box_height is None else box_height
        y = (below + cell - above + len(lines) * leading) / 2 - size - box_top - cell
        for line in lines:
            if line:  # (most cells' text stands at the left: no width to measure)
                placed.append((left + side if align == LEFT else
                               start(font, line, left + side, right - side, size, align),
                               y, line))
            y -= leading
    return placed


def run_of(lines: list[Line], size: float) -> Run | None:
    """The lines as a run (None: no line)."""
    if not lines:
        return None
    code = []
    x, y = lines[0][0], lines[0][1]
    for index, (left, baseline, text) in enumerate(lines):
        if index:  # (a cell's next line: no move across)
            code.append(f"{'0' if left == x else _moved(x, left)} {_moved(y, baseline)} Td")
            x, y = left, baseline
        code.append(shown(text))
    return Run(lines[0][0], lines[0][1], size, "\n".join(code),
               "".join([text for _, _, text in lines]))


def preceded(line: Line, run: Run | None, size: float) -> Run:
    """What `run_of` makes of a line and then the run's lines, made from the run: a list's
    row is laid out once without its 序号, then numbered in each list it is in."""
    x, y, text = line
    if run is None:
        return Run(x, y, size, shown(text), text)
    move = f"{'0' if run.x == x else _moved(x, run.x)} {_moved(y, run.y)} Td"
    return Run(x, y, size, f"{shown(text)}\n{move}\n{run.code}", text + run.characters)


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
        self.printed: set[str] = set()  # the characters written so far
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
        return Writing(self.canvas, getFont(font), self.printed)


def _stroked(rules: list[Rule]) -> str:
    """The rules as one path, stroked: what ReportLab's `canvas.lines` writes, with each
    coordinate formatted once (a row's rule shares its y with the rules it meets)."""
    shown = {value: _coordinate(value) for value in {value for rule in rules for value in rule}}
    return "\n".join(["n", *(f"{shown[x1]} {shown[y1]} m {shown[x2]} {shown[y2]} l"
                             for x1, y1, x2, y2 in rules), "S"])


@cache
def _colour(colour: str) -> Any:
    """A colour of the form's (grey fills, black or a draft's red text), parsed once."""
    return HexColor(colour)


@cache
def _filling(colour: str) -> str:
    """The operator that fills text in the colour."""
    return f"{fp_str(*_colour(colour).rgb())} rg"


@lru_cache(maxsize=COORDINATES)
def _coordinate(value: float) -> str:
    """A coordinate as PDF text (fp_str), kept: the columns' edges and the rows' tops of a
    form recur in every form of its shape."""
    return fp_str(value)  # type: ignore[no-any-return]


@lru_cache(maxsize=MOVES)
def _moved(start: float, end: float) -> str:
    """How far from one coordinate to another, as the difference of the two as written
    (fp_str rounds to seven digits): lines placed by moves stand where each placed alone
    would, a column's cells at one x (pdftotext's reading order tells 1e-5 points apart)."""
    moved = Decimal(fp_str(end)) - Decimal(fp_str(start))
    return f"{moved.normalize():f}"


def start(font: Any, text: str, left: float, right: float, size: float, align: str) -> float:
    """Where a line aligned between `left` and `right` begins."""
    if align == LEFT:
        return left
    if align == RIGHT:
        return right - font.stringWidth(text, size)  # type: ignore[no-any-return]
    return (left + right - font.stringWidth(text, size)) / 2  # type: ignore[no-any-return]


class Writing:
    """Lines of text as PDF text operators, written in one text object: ReportLab's text
    object formats each string anew (most of the drawing time went there); here a line
    costs a dictionary look-up and one formatted string."""

    def __init__(self, canvas: Any, font: Any, printed: set[str]) -> None:
        self.canvas = canvas
        self.font = font
        self.printed = printed  # the document's characters so far
        self.size = 0.0  # the size in use
        self.code = ["BT"]
        self.numbers: dict[float, str] = {}

    def line(self, text: str, left: float, right: float, y: float, size: float,
             align: str) -> None:
        """One line of text at its baseline `y`, aligned between `left` and `right`."""
        x = start(self.font, text, left, right, size, align)
        numbers = self.numbers
        self.code.append(f"1 0 0 1 {numbers.get(x) or self._number(x)} "
                         f"{numbers.get(y) or self._number(y)} Tm")
        self._size(size)
        self.code.append(shown(text))
        self.printed.update(text)

    def place(self, run: Run, top: float) -> None:
        """The run, its band's top at `top`."""
        numbers = self.numbers
        y = top + run.y
        self.code.append(f"1 0 0 1 {numbers.get(run.x) or self._number(run.x)} "
                         f"{numbers.get(y) or self._number(y)} Tm")
        self._size(run.size)
        self.code.append(run.code)
        self.printed.update(run.characters)

    def _number(self, number: float) -> str:
        """A coordinate as PDF text (fp_str), each once a block of lines written together:
        the cells of a column begin at the same x, those of a row at the same y."""
        shown = self.numbers[number] = _coordinate(number)
        return shown

    def _size(self, size: float) -> None:
        """Make `size` the type's size, if it is not already."""
        if size != self.size:
            self.code.append(_selection(size))
            self.size = size

    def colour(self, colour: str) -> None:
        """The colour of the lines after."""
        self.code.append(_filling(colour))

    def draw(self) -> None:
        """Put the lines on the page (their colour goes with them)."""
        self.canvas.saveState()
        self.canvas.addLiteral("\n".join([*self.code, "ET"]))
        self.canvas.restoreState()


@cache
def _selection(size: float) -> str:
    """The operator that selects the font at the size."""
    return f"/{RESOURCE} {fp_str(size)} Tf"
