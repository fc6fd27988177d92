"""The PDF font's subsets as `infra.reporting.fontsubsets` makes them from glyphs it reads
once: byte for byte the subsets ReportLab makes, whatever characters they hold and in
whatever order (CJK glyphs composed of others, Latin, characters the font lacks)."""

from __future__ import annotations

import random

import pytest
from reportlab.pdfbase.ttfonts import TTFontFace

from infra.reporting.fontsubsets import RememberingFace
from infra.reporting.pdf import font_path
from infra.settings import Settings


@pytest.fixture(scope="module")
def face() -> RememberingFace:
    return RememberingFace(str(font_path(Settings().pdf_font)), subfontIndex=0)


def subsets(face: RememberingFace) -> list[list[int]]:
    """Random subsets of up to 256 characters: of the font's characters, of common CJK
    ones, with characters it lacks and repeated ones mixed in; and the extremes."""
    chance = random.Random(14)
    mapped = sorted(face.charToGlyph)
    cjk = [code for code in mapped if 0x4E00 <= code <= 0x9FFF]
    drawn = []
    for count in [1, 2, 3, 17, 100, 255, 256] * 12:
        pool = chance.choice([mapped, cjk, [*cjk, 0xE000, 0x10FFFD]])
        drawn.append([chance.choice(pool) for _ in range(count)])
    return [*drawn, [0x20], [0xE000], list(range(32, 288)), cjk[-256:]]


def test_a_subset_is_byte_for_byte_reportlabs(face: RememberingFace) -> None:
    for subset in subsets(face):
        assert face.subset_font(tuple(subset)) == TTFontFace.makeSubset(face, subset), subset


def test_a_pinned_text_numbers_a_document_as_reportlab_does() -> None:
    """Pinned once a process, copied into each document: the numbering ReportLab gives a
    new document that writes the text first, each document its own copy, and the
    document's own characters numbered from the next subset on."""
    import io

    from reportlab.pdfbase.pdfmetrics import getFont
    from reportlab.pdfgen.canvas import Canvas

    from infra.reporting.fontsubsets import pin
    from infra.reporting.pdf import _register

    font = getFont(_register(font_path(Settings().pdf_font)))
    text = "".join(chr(0x4E00 + n) for n in range(0, 900, 3)) + "ab, 1\u00a0\ue000"
    documents = [Canvas(io.BytesIO())._doc for _ in range(3)]
    font.splitString(text, documents[0])
    for document in documents[1:]:
        pin(font, text, document)
    states = [font.state[document] for document in documents]
    assert len(states[0].subsets) == 2 and 256 < states[0].nextCode < 512
    for state in states[1:]:
        assert (state.assignments, state.subsets) == (states[0].assignments, states[0].subsets)
        assert state.nextCode == 512
    assert font.splitString("乙", documents[1]) == [(2, b"\x01")]
    assert states[2].subsets == states[0].subsets != states[1].subsets
    with pytest.raises(ValueError):
        pin(font, text, documents[0])
