"""The PDF font's subsets as `infra.reporting.fontsubsets` makes them from glyphs it reads
once — a part shared by every form of a shape, deflated once, and a document's own glyphs
after it: a TrueType font whose tables and file check out as the format says, holding each
character's glyph as the font draws it, whatever characters they are (CJK glyphs composed of
others, Latin, characters the font lacks)."""

from __future__ import annotations

import io
import random
import zlib
from struct import unpack_from

import pytest
from reportlab.pdfbase.ttfonts import TTFontParser

from infra.reporting.fontsubsets import Glyph, RememberingFace, font_file, shared
from infra.reporting.pdf import font_path
from infra.settings import Settings


@pytest.fixture(scope="module")
def face() -> RememberingFace:
    return RememberingFace(str(font_path(Settings().pdf_font)), subfontIndex=0)


def subsets(face: RememberingFace) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Random shared and own characters: of the font's characters, of common CJK ones, with
    characters it lacks mixed in; and the extremes."""
    chance = random.Random(14)
    mapped = sorted(face.charToGlyph)
    cjk = [code for code in mapped if 0x4E00 <= code <= 0x9FFF]
    drawn = []
    for count in [0, 1, 3, 100, 300, 700] * 4:
        pool = chance.choice([mapped, cjk, [*cjk, 0xE000]])
        common = sorted({chance.choice(pool) for _ in range(count)})
        own = sorted({chance.choice(pool) for _ in range(chance.randint(0, 200))} - {*common})
        drawn.append((tuple(common), tuple(own)))
    return [*drawn, ((), ()), ((0x20,), (0xE000,)), (tuple(cjk[:400]), tuple(cjk[-400:]))]


def test_a_subset_is_a_truetype_font_holding_each_glyph(face: RememberingFace) -> None:
    for common, own in subsets(face):
        made = font_file(face, shared(face, common), own)
        raw = zlib.decompress(made.compressed)
        assert len(raw) == made.length
        parsed = TTFontParser(io.BytesIO(raw), validate=1)  # every checksum, and the file's
        tables = {tag: parsed.get_table(tag) for tag in parsed.table}
        assert {"glyf", "loca", "head", "hhea", "hmtx", "maxp"} <= set(tables)
        glyphs = unpack_from(">H", tables["maxp"], 4)[0]
        assert glyphs == len(made.number)
        wide = unpack_from(">h", tables["head"], 50)[0]
        offsets = (unpack_from(f">{glyphs + 1}L", tables["loca"]) if wide else
                   [2 * half for half in unpack_from(f">{glyphs + 1}H", tables["loca"])])
        for code in (*common, *own):
            index = face.charToGlyph.get(code, 0)
            number = made.number[index]
            outline = tables["glyf"][offsets[number]:offsets[number + 1]]
            assert outline == renumbered(face._read_glyph(index), made.number), code


def renumbered(glyph: Glyph, number: dict[int, int]) -> bytes:
    """The font's glyph, its components' indices as the subset numbers them."""
    return glyph.head + b"".join(number[component].to_bytes(2, "big") + rest
                                 for component, rest in glyph.tail)


def test_the_shared_part_is_the_start_of_every_subset_of_the_shape(
        face: RememberingFace) -> None:
    common, own = subsets(face)[-1]
    part = shared(face, common)
    first, second = font_file(face, part, own[:50]), font_file(face, part, own[50:])
    numbering = part.numbering.number
    assert all(first.number[index] == second.number[index] == number
               for index, number in numbering.items())
    assert first.compressed != second.compressed
    assert part.deflated in first.compressed and part.deflated in second.compressed


@pytest.mark.parametrize("content", [b"", b"abc", zlib.compress(bytes(range(256)) * 40)])
def test_a_deflated_stream_is_written_as_reportlab_writes_it(content: bytes) -> None:
    from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFDocument, PDFName, PDFStream

    from infra.reporting.fontsubsets import Deflated, stream_text

    for in_array in (False, True):
        filters = PDFArray([PDFName("FlateDecode")]) if in_array else PDFName("FlateDecode")
        document = PDFDocument(invariant=1)
        assert (Deflated(stream_text(in_array), content).format(document)
                == PDFStream(PDFDictionary({"Filter": filters}), content).format(document))
