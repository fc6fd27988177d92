"""A table's rows written as runs kept across documents (`infra.reporting.grid.Run`): read
back by pypdf, every line shows its own text where the layout puts it, in every document —
whatever the document drawn before, wherever the row stands on the page, whichever font
subset the row before it ended in — and a row met again is written from its run."""

from __future__ import annotations

import io
import random
import re
from typing import Any

import pytest
from pypdf import PdfReader
from reportlab.lib.rl_accel import escapePDF
from reportlab.pdfbase.pdfmetrics import getFont
from reportlab.pdfgen.canvas import Canvas

from infra.reporting import grid
from infra.reporting.fontsubsets import pin
from infra.reporting.grid import CENTRE, RIGHT, Band, Box, Encoding, Grid, Lettering, Pages
from infra.reporting.pdf import _register, font_path
from infra.settings import Settings

PINNED = "".join(chr(0x4E00 + n) for n in range(300))  # (a second subset begins at the 161st)
IN_FIRST, IN_SECOND = PINNED[3:7], PINNED[250:254]
WIDTH, HEIGHT = 800.0, 560.0
CMAP_ENTRY = re.compile(r"^<([0-9A-F]{2})> <([0-9A-F]{4})>$", re.MULTILINE)


@pytest.fixture(scope="module")
def font() -> str:
    return _register(font_path(Settings().pdf_font))


def bands() -> tuple[Band, list[Band]]:
    """A header, and rows of which two recur: one ending in the font's second subset, the
    other beginning in its first; one has a cell of two lines."""
    header = Band(14.0, (Box(0.0, 300.0, (IN_FIRST,), CENTRE), Box(300.0, 600.0, ("12",))))
    ending_second = Band(14.0, (Box(0.0, 300.0, (IN_FIRST,)),
                                Box(300.0, 600.0, (f"1,234 {IN_SECOND}",), RIGHT)))
    two_lines = Band(26.0, (Box(0.0, 300.0, (IN_FIRST, IN_SECOND)),
                            Box(300.0, 600.0, ("", "7.50%"), RIGHT)))
    return header, [ending_second, two_lines, ending_second, ending_second, two_lines]


def drawn(font: str, pinned: str, above: float, header: Band, rows: list[Band]) -> bytes:
    """A document of the grid, `above` points down its page."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(WIDTH, HEIGHT), invariant=1, initialFontName=font)
    pin(getFont(font), pinned, canvas._doc)
    pages = Pages(canvas, HEIGHT - 20, 20, lambda pages: None)
    pages.take(above)
    Grid(header, rows, 600.0, lettering(font)).flow(pages, 30.0)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def lettering(font: str) -> Lettering:
    return Lettering(font, 9.0, 12.0, 2.0, 0.6, 1.2)


def shown(pdf: bytes) -> list[tuple[str, float, float]]:
    """Each line shown (its strings up to the next move), where it begins on the page, as
    the PDF's operators say (read by pypdf) and its fonts' ToUnicode maps spell it."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    spelt = {name: {int(code, 16): chr(int(char, 16)) for code, char in
                    CMAP_ENTRY.findall(font["/ToUnicode"].get_data().decode())}
             for name, font in page["/Resources"]["/Font"].items()}
    seen: list[tuple[str, float, float]] = []
    state: dict[str, Any] = {"moved": True}

    def visit(operator: bytes, operands: list[Any], cm: Any, tm: Any) -> None:
        if operator == b"Tf":
            state["font"] = spelt[operands[0]]
        elif operator in (b"Tm", b"Td"):
            state["moved"] = True
        elif operator == b"Tj":
            text = "".join(state["font"][code]
                           for code in getattr(operands[0], "original_bytes", operands[0]))
            if state["moved"]:
                seen.append((text, tm[4] * cm[0] + tm[5] * cm[2] + cm[4],
                             tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))
            else:
                seen[-1] = (seen[-1][0] + text, *seen[-1][1:])
            state["moved"] = False

    page.extract_text(visitor_operand_before=visit)
    return seen


def laid_out(font: str, above: float, header: Band,
             rows: list[Band]) -> list[tuple[str, float, float]]:
    """Where the layout puts each line (the grid's own measure, drawn from the top)."""
    table = Grid(header, rows, 600.0, lettering(font))
    top = HEIGHT - 20 - above
    expected = []
    for band in (header, *rows):
        expected += [(text, 30.0 + x, top + y) for x, y, text in table._lines(band)]
        top -= band.height
    return expected


def assert_shown_as_laid_out(pdf: bytes, expected: list[tuple[str, float, float]]) -> None:
    seen = shown(pdf)
    assert [text for text, _, _ in seen] == [text for text, _, _ in expected]
    for (_, x, y), (_, at_x, at_y) in zip(seen, expected, strict=True):
        assert (x, y) == (pytest.approx(at_x, abs=1e-3), pytest.approx(at_y, abs=1e-3))


def test_rows_met_again_are_written_from_their_runs(font: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    header, rows = bands()
    made: list[Any] = []
    making = grid.Writing.run
    monkeypatch.setattr(grid.Writing, "run",
                        lambda self, *args: made.append(args) or making(self, *args))
    first = drawn(font, PINNED, 0.0, header, rows)
    assert len(made) == 3  # the header and the two distinct rows, once
    assert_shown_as_laid_out(first, laid_out(font, 0.0, header, rows))
    again = drawn(font, PINNED, 37.25, header, rows)  # another document, lower on its page
    assert len(made) == 3
    assert_shown_as_laid_out(again, laid_out(font, 37.25, header, rows))
    assert drawn(font, PINNED, 0.0, header, rows) == first  # (the same bytes)


def test_a_run_is_only_kept_for_documents_numbered_alike(font: str) -> None:
    """Another numbering of the font's characters encodes the same lines otherwise: the rows
    kept from the documents before are not written from their runs."""
    header, rows = bands()
    drawn(font, PINNED, 0.0, header, rows)
    reversed_pin = drawn(font, PINNED[::-1], 11.0, header, rows)
    assert_shown_as_laid_out(reversed_pin, laid_out(font, 11.0, header, rows))


def test_a_row_with_characters_numbered_in_the_document_is_not_kept(font: str) -> None:
    header, rows = bands()
    own = Band(14.0, (Box(0.0, 300.0, ("本单位自有的名称",)),))  # (not pinned)
    for above in (0.0, 5.5):
        pdf = drawn(font, PINNED, above, header, [*rows, own])
        assert_shown_as_laid_out(pdf, laid_out(font, above, header, [*rows, own]))
    assert not own.runs and rows[0].runs


def test_lines_are_encoded_as_reportlab_splits_them(font: str) -> None:
    """Lines with characters new to the document (in three subsets), characters the font
    lacks, no-break spaces: the chunks ReportLab's splitString gives, and its numbering."""
    chance = random.Random(14)
    pool = [*PINNED[:40], *"ab1, ", "\u00a0", "\ue000", *(chr(0x5000 + n) for n in range(400))]
    typeface = getFont(font)
    ours, reportlabs = Canvas(io.BytesIO())._doc, Canvas(io.BytesIO())._doc
    for document in (ours, reportlabs):
        pin(typeface, PINNED[:40], document)
    encoding = Encoding(typeface, ours)
    for _ in range(300):
        text = "".join(chance.choice(pool) for _ in range(chance.randint(0, 30)))
        assert encoding(text) == tuple((subset, f"({escapePDF(chunk)}) Tj") for subset, chunk
                                       in typeface.splitString(text, reportlabs)), text
    assert typeface.state[ours].subsets == typeface.state[reportlabs].subsets
