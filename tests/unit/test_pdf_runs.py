"""A table's rows written as runs kept across documents (`infra.reporting.grid.Run`): read
back by pypdf, every line shows its own text where the layout puts it, in every document —
whatever the documents drawn before, wherever the row stands on the page, whatever the
document printed before it — and a row met again is written from its run. The text looks
as ReportLab's own drawing of it does."""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import getFont
from reportlab.pdfgen.canvas import Canvas

from infra.reporting import grid
from infra.reporting.fontsubsets import embed
from infra.reporting.fontsubsets import shown as shown_text
from infra.reporting.grid import CENTRE, LEFT, RESOURCE, RIGHT, Band, Box, Grid, Lettering, Pages
from infra.reporting.pdf import _register, font_path
from infra.settings import Settings

HAN = "".join(chr(0x4E00 + n) for n in range(300))  # (each drawn from other glyphs)
NEAR, FAR = HAN[3:7], HAN[250:254]
WIDTH, HEIGHT = 800.0, 560.0


@pytest.fixture(scope="module")
def font() -> str:
    return _register(font_path(Settings().pdf_font))


def bands() -> tuple[Band, list[Band]]:
    """A header, and rows of which two recur: one ending in a number and Chinese, the other
    with a cell of two lines."""
    header = Band(14.0, (Box(0.0, 300.0, (NEAR,), CENTRE), Box(300.0, 600.0, ("12",))))
    ending_second = Band(14.0, (Box(0.0, 300.0, (NEAR,)),
                                Box(300.0, 600.0, (f"1,234 {FAR}",), RIGHT)))
    two_lines = Band(26.0, (Box(0.0, 300.0, (NEAR, FAR)),
                            Box(300.0, 600.0, ("", "7.50%"), RIGHT)))
    return header, [ending_second, two_lines, ending_second, ending_second, two_lines]


def drawn(font: str, above: float, header: Band, rows: list[Band], before: str = "") -> bytes:
    """A document of the grid, `above` points down its page (a line of text `before` it)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(WIDTH, HEIGHT), invariant=1, initialFontName=font)
    pages = Pages(canvas, HEIGHT - 20, 20, lambda pages: None)
    if before:
        writing = pages.writing(font)
        writing.line(before, 30.0, WIDTH, 10.0, 5.0, LEFT)
        writing.draw()
    pages.take(above)
    Grid(header, rows, 600.0, lettering(font)).flow(pages, 30.0)
    embed(canvas._doc, getFont(font).face, RESOURCE, (), pages.printed)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def lettering(font: str) -> Lettering:
    return Lettering(font, 9.0, 12.0, 2.0, 0.6, 1.2)


def shown(pdf: bytes) -> list[tuple[str, float, float]]:
    """Each line shown (its strings up to the next move) where it begins on the page, as
    the PDF's operators say (read by pypdf): its codes, UTF-16 code units."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    seen: list[tuple[str, float, float]] = []
    state: dict[str, Any] = {"moved": True}

    def visit(operator: bytes, operands: list[Any], cm: Any, tm: Any) -> None:
        if operator in (b"Tm", b"Td"):
            state["moved"] = True
        elif operator == b"Tj":
            text = getattr(operands[0], "original_bytes", operands[0]).decode("utf-16-be")
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
    type_ = lettering(font)
    top = HEIGHT - 20 - above
    expected = []
    for band in (header, *rows):
        expected += [(text, 30.0 + x, top + y)
                     for x, y, text in grid.band_lines(band.boxes, band.height, type_)]
        top -= band.height
    return expected


def assert_shown_as_laid_out(pdf: bytes, expected: list[tuple[str, float, float]],
                             after: int = 0) -> None:
    """The lines shown after the first `after` are those laid out, where they are laid out,
    and the font embedded with the document has a glyph for each of their characters."""
    seen = shown(pdf)[after:]
    font = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"][f"/{RESOURCE}"]
    glyphs = font["/DescendantFonts"][0]["/CIDToGIDMap"].get_data()
    assert all(glyphs[2 * ord(character):2 * ord(character) + 2] not in (b"", b"\0\0")
               for text, _, _ in seen for character in text if character != " ")
    assert [text for text, _, _ in seen] == [text for text, _, _ in expected]
    for (_, x, y), (_, at_x, at_y) in zip(seen, expected, strict=True):
        assert (x, y) == (pytest.approx(at_x, abs=1e-3), pytest.approx(at_y, abs=1e-3))


def test_rows_met_again_are_written_from_their_runs(font: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    header, rows = bands()
    made: list[Any] = []
    making = grid.run_of
    monkeypatch.setattr(grid, "run_of", lambda *args: made.append(args) or making(*args))
    first = drawn(font, 0.0, header, rows)
    assert len(made) == 3  # the header and the two distinct rows, once
    assert_shown_as_laid_out(first, laid_out(font, 0.0, header, rows))
    again = drawn(font, 37.25, header, rows)  # another document, lower on its page
    assert len(made) == 3
    assert_shown_as_laid_out(again, laid_out(font, 37.25, header, rows))
    assert drawn(font, 0.0, header, rows) == first  # (the same bytes)


def test_a_run_is_the_same_whatever_the_document_printed_before(font: str) -> None:
    """A row kept from other documents, with characters of its own or not, is shown right in
    a document that printed other characters first (a line's bytes are its characters')."""
    header, rows = bands()
    own = Band(14.0, (Box(0.0, 300.0, ("本单位自有的名称",)),))
    drawn(font, 0.0, header, [*rows, own])
    for before in ("", HAN[::-1], "本单位"):
        pdf = drawn(font, 11.0, header, [*rows, own], before)
        assert_shown_as_laid_out(pdf, laid_out(font, 11.0, header, [*rows, own]),
                                 after=bool(before))
    assert own.runs and rows[0].runs


def test_text_looks_as_reportlab_draws_it(font: str, tmp_path: Path) -> None:
    """Lines of CJK (composed of other glyphs), Latin, a no-break space: the page rendered
    by poppler is pixel for pixel ReportLab's own drawing of the same lines. (A character
    the font lacks is not among them: it shows the font's missing glyph, a box, where
    ReportLab's drawing leaves a blank that hides it.) A character no two-byte code names
    is shown as U+FFFD."""
    chance = random.Random(14)
    pool = [*HAN[:40], *"ab1, ", "\u00a0", *(chr(0x5000 + n) for n in range(400))]
    lines = ["".join(chance.choice(pool) for _ in range(chance.randint(1, 30)))
             for _ in range(30)]
    ours, reportlabs = io.BytesIO(), io.BytesIO()
    canvas = Canvas(ours, pagesize=(WIDTH, HEIGHT), invariant=1, initialFontName=font)
    pages = Pages(canvas, HEIGHT - 20, 20, lambda pages: None)
    writing = pages.writing(font)
    for number, line in enumerate(lines):
        writing.line(line, 20.0, WIDTH - 20, HEIGHT - 30 - 17 * number, 11.0, LEFT)
    writing.draw()
    embed(canvas._doc, getFont(font).face, RESOURCE, (), pages.printed)
    canvas.showPage()
    canvas.save()
    canvas = Canvas(reportlabs, pagesize=(WIDTH, HEIGHT), invariant=1, initialFontName=font)
    canvas.setFont(font, 11.0)
    for number, line in enumerate(lines):
        canvas.drawString(20.0, HEIGHT - 30 - 17 * number, line)
    canvas.showPage()
    canvas.save()
    images = []
    for name, pdf in (("ours", ours), ("reportlabs", reportlabs)):
        (tmp_path / f"{name}.pdf").write_bytes(pdf.getvalue())
        subprocess.run(["pdftoppm", "-r", "100", str(tmp_path / f"{name}.pdf"),
                        str(tmp_path / name)], check=True)
        images.append((tmp_path / f"{name}-1.ppm").read_bytes())
    assert images[0] == images[1]
    assert [text for text, _, _ in shown(ours.getvalue())] == lines
    assert shown_text("甲\U00020000乙\ud800") == "<7532fffd4e59fffd> Tj"
