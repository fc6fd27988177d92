"""A form's tables, and the lines of text above them, drawn straight onto the PDF canvas,
for `infra.reporting.pdf`.

ReportLab's platypus `Table` lays out and draws every cell through general machinery (spans,
styles, nested flowables): most of a form's rendering time went there. A form's grid needs
little of it — fixed columns, rows of plain text lines, merged header cells — so it is
measured once and drawn per page as a few rules (lines run on through the rows they
separate), one text object and the header's fill. Like platypus' table, it breaks between
rows and repeats its header on every page. The lines above a table (its title, the header
block, the draft notice) never need the line breaking of platypus' paragraphs either.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from reportlab.lib.colors import HexColor, black
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.pdfbase.pdfmetrics import getFont
from reportlab.platypus import Flowable

LEFT, RIGHT, CENTRE = "left", "right", "centre"
RULE = 0.5  # points: the width of the grid's lines

Rule = tuple[float, float, float, float]  # x1, y1, x2, y2
Chunks = tuple[tuple[int, str], ...]  # a line's runs of one font subset each, escaped


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


class Grid(Flowable):  # type: ignore[misc]  # (ReportLab has no type hints)
    """A table of bands under a header band repeated on every page it spans."""

    def __init__(self, header: Band, body: list[Band], width: float, lettering: Lettering,
                 encoded: dict[str, Chunks]) -> None:
        super().__init__()
        self.hAlign = "CENTER"  # as platypus' table: the frame's padding is the margin
        self.header = header
        self.body = body
        self.width = width
        self.height = header.height + sum(band.height for band in body)
        self.lettering = lettering
        self.encoded = encoded  # each line in the font's subsets: one dictionary for all
        # the document's grids (the same labels and numbers recur in its tables)

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def split(self, available_width: float, available_height: float) -> list[Grid]:
        """The rows that fit under the header here, and the rest (under the header again)."""
        room = available_height - self.header.height
        fitting = 0
        for band in self.body:
            room -= band.height
            if room < 0:
                break
            fitting += 1
        if fitting == 0:
            return []
        if fitting == len(self.body):
            return [self]
        return [Grid(self.header, part, self.width, self.lettering, self.encoded)
                for part in (self.body[:fitting], self.body[fitting:])]

    def draw(self) -> None:
        placed = []  # each band with the height of its top
        top = self.height
        for band in (self.header, *self.body):
            placed.append((band, top))
            top -= band.height
        canvas = self.canv
        canvas.saveState()
        for band, top in placed:
            if band.fill is not None:
                canvas.setFillColor(HexColor(band.fill))
                canvas.rect(0, top - band.height, self.width, band.height, stroke=0, fill=1)
        canvas.setStrokeColor(black)
        canvas.setLineWidth(RULE)
        canvas.lines(self._rules(placed))
        canvas.setFillColor(black)
        canvas.addLiteral(self._text(canvas, placed))
        canvas.restoreState()

    def _rules(self, placed: list[tuple[Band, float]]) -> list[Rule]:
        """Every line of the grid; a vertical one runs on through the bands it divides."""
        width = self.width
        rules: list[Rule] = [(0, self.height, width, self.height), (0, 0, 0, self.height),
                             (width, 0, width, self.height)]
        running: dict[float, float] = {}  # an inner vertical rule's x → where it began
        for band, top in placed:
            for x in [x for x in running if x not in band.edges]:
                rules.append((x, running.pop(x), x, top))
            for x in band.edges:
                running.setdefault(x, top)
            rules += [(x1, top - y1, x2, top - y2) for x1, y1, x2, y2 in band.partial_rules]
            rules.append((0, top - band.height, width, top - band.height))
        rules += [(x, start, x, 0) for x, start in running.items()]
        return rules

    def _text(self, canvas: Any, placed: list[tuple[Band, float]]) -> str:
        """Every cell's lines, centred vertically in it, as one block of PDF text operators
        (ReportLab's text object formats each string anew: most of the drawing time). The
        grid's innermost loop: a line costs a dictionary look-up and one formatted string."""
        lettering = self.lettering
        size, leading, side = lettering.size, lettering.leading, lettering.side
        above, below = lettering.above, lettering.below
        font = getFont(lettering.font)
        document = canvas._doc  # (a TrueType font numbers its subsets per document)
        encoded = self.encoded
        string_width = font.stringWidth
        selections: dict[int, str] = {}  # a font subset → the operator that selects it
        code = ["BT"]
        current = -1  # the font subset in use
        for band, top in placed:
            for box in band.boxes:
                left, right, lines, align, box_top, box_height = box
                height = band.height if box_height is None else box_height
                bottom = top - box_top - height
                y = bottom + (below + height - above + len(lines) * leading) / 2 - size
                for line in lines:
                    if line:
                        chunks = encoded.get(line)
                        if chunks is None:
                            chunks = encoded[line] = tuple(
                                (subset, escapePDF(chunk))
                                for subset, chunk in font.splitString(line, document))
                        if align == LEFT:
                            x = left + side
                        elif align == RIGHT:
                            x = right - side - string_width(line, size)
                        else:
                            x = (left + right - string_width(line, size)) / 2
                        code.append(f"1 0 0 1 {fp_str(x, y)} Tm")
                        for subset, chunk in chunks:
                            if subset != current:
                                selection = selections.get(subset)
                                if selection is None:
                                    name = font.getSubsetInternalName(subset, document)
                                    selection = selections[subset] = f"{name} {fp_str(size)} Tf"
                                code.append(selection)
                                current = subset
                            code.append(f"({chunk}) Tj")
                    y -= leading
        code.append("ET")
        return "\n".join(code)


@dataclass(frozen=True)
class Caption:
    """One line of text above a table: its pieces at the left, the centre or the right."""

    height: float
    size: float
    pieces: tuple[tuple[str, str], ...]  # text, LEFT / CENTRE / RIGHT
    colour: str = "#000000"


class Captions(Flowable):  # type: ignore[misc]  # (ReportLab has no type hints)
    """Lines of text, each on one line, as wide as the table under them."""

    def __init__(self, lines: list[Caption], width: float, font: str) -> None:
        super().__init__()
        self.hAlign = "CENTER"  # as the grid
        self.lines = lines
        self.width = width
        self.height = sum(line.height for line in lines)
        self.font = font

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        canvas = self.canv
        canvas.saveState()
        top = self.height
        for line in self.lines:
            canvas.setFont(self.font, line.size)
            canvas.setFillColor(HexColor(line.colour))
            for text, align in line.pieces:
                if align == LEFT:
                    canvas.drawString(0, top - line.size, text)
                elif align == RIGHT:
                    canvas.drawRightString(self.width, top - line.size, text)
                else:
                    canvas.drawCentredString(self.width / 2, top - line.size, text)
            top -= line.height
        canvas.restoreState()
