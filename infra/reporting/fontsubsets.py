"""The PDF font's subsets, made and compressed once per process, for `infra.reporting.pdf`.

ReportLab embeds a TrueType font as subsets of at most 256 characters, numbered in the order
the document first uses them, and makes and compresses each subset anew for every PDF: a
third of a village form's time. When a form first uses (`pin`s) the text every form of its
shape prints — titles, headers, labels, in the same order — its first subset is the same as
every other such form's, so it is made and compressed once, and its widths and ToUnicode
map with it. Later subsets, which hold the unit's own names, are made anew, but from glyphs
each read from the font once a process. Every subset and object is byte for byte what
ReportLab makes (tests/unit/test_font_subsets.py, tests/integration/test_forms.py).
"""

from __future__ import annotations

import zlib
from functools import cache, lru_cache
from itertools import accumulate, pairwise
from struct import pack, unpack_from
from typing import Any, NamedTuple

from reportlab.pdfbase import pdfdoc
from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFDictionary,
    PDFName,
    PDFObject,
    PDFStream,
    PDFTrueTypeFont,
)
from reportlab.pdfbase.ttfonts import (
    GF_ARG_1_AND_2_ARE_WORDS,
    GF_MORE_COMPONENTS,
    GF_WE_HAVE_A_SCALE,
    GF_WE_HAVE_A_TWO_BY_TWO,
    GF_WE_HAVE_AN_X_AND_Y_SCALE,
    SUBSETN,
    TTFont,
    TTFontFace,
    TTFontMaker,
    _set_ushort,
    makeToUnicodeCMap,
)

SUBSET = 256  # characters in a subset
KEPT = 16  # subsets kept per process (≈ 90 kB each, raw and compressed)
LEVEL = 1
"""zlib's level for a subset: glyph outlines barely compress, and level 1 takes half the time
of the default 6 for 6 % more bytes (a village's own subset: 1.2 against 2.6 ms, 26.4
against 24.9 kB)."""


COPIED = ("name", "OS/2", "cvt ", "fpgm", "prep")  # tables a subset takes whole (if any)


class Glyph(NamedTuple):
    """What a subset takes of one of the font's glyphs: its outline cut at the indices of
    the glyphs it is composed of (most CJK glyphs in WenQuanYi are composites) and padded
    to four bytes, and its metrics."""

    head: bytes  # the outline up to its first component's index (all of a simple glyph's)
    tail: tuple[tuple[int, bytes], ...]  # each component's glyph index, and what follows it
    size: int  # bytes in the subset's glyph table, padded
    metrics: tuple[int, int]  # advance width, left side bearing


class RememberingFace(TTFontFace):  # type: ignore[misc]  # (ReportLab has no type hints)
    """A font file whose subsets are made and compressed once, and whose tables are sliced
    out of it once: making any subset copies the whole glyph table (3.5 MB in WenQuanYi
    Micro Hei, 0.6 ms) to take a few glyphs from it, and a form's own subset (its unit's
    names) is new every time. Such a new subset is made from glyphs each read once a
    process (ReportLab parses every glyph again for every subset: 1.4 ms a village)."""

    def __init__(self, path: str, subfontIndex: int) -> None:  # (ReportLab's keyword)
        self._tables: dict[str, bytes] = {}
        self._glyphs: dict[int, Glyph] = {}
        super().__init__(path, subfontIndex=subfontIndex)

    def get_table(self, tag: str) -> bytes:
        table = self._tables.get(tag)
        if table is None:
            table = self._tables[tag] = super().get_table(tag)
        return table

    def makeSubset(self, subset: list[int]) -> bytes:
        return _made(self, tuple(subset))

    def subset_font(self, subset: tuple[int, ...]) -> bytes:
        """The TrueType font of the characters, byte for byte ReportLab's `makeSubset`: its
        glyphs numbered in the same order and its tables made the same way."""
        glyphs, number = self._numbered(subset)
        output = TTFontMaker()
        for tag in COPIED:
            if tag in self.table:
                output.add(tag, self.get_table(tag))
        output.add("post", b"\x00\x03\x00\x00" + self.get_table("post")[4:16] + b"\x00" * 16)
        self._add_metrics(output, [glyph.metrics for glyph in glyphs])
        output.add("maxp", _set_ushort(self.get_table("maxp"), 4, len(glyphs)))
        codes = [number[self.charToGlyph.get(code, 0)] for code in subset]
        output.add("cmap", pack(f">{11 + len(codes)}H", 0, 1, 1, 0, 0, 12, 6,
                                10 + 2 * len(codes), 0, 0, len(codes), *codes))
        output.add("glyf", _outlines(glyphs, number))
        self._add_locations(output, list(accumulate((glyph.size for glyph in glyphs),
                                                    initial=0)))
        return output.makeStream()  # type: ignore[no-any-return]

    def _numbered(self, subset: tuple[int, ...]) -> tuple[list[Glyph], dict[int, int]]:
        """The subset's glyphs, and each one's number in it by its index in the font: the
        missing character's, then the characters', then their components', breadth first."""
        number = {0: 0}
        for code in subset:
            number.setdefault(self.charToGlyph.get(code, 0), len(number))
        indices = list(number)
        glyphs = []
        for index in indices:  # (grows as it goes: components of components)
            glyph = self._glyphs.get(index) or self._read_glyph(index)
            glyphs.append(glyph)
            for component, _ in glyph.tail:
                if component not in number:
                    number[component] = len(indices)
                    indices.append(component)
        return glyphs, number

    def _add_metrics(self, output: Any, metrics: list[tuple[int, int]]) -> None:
        """The horizontal metrics, a run of equal advances at the end written once."""
        full = len(metrics)
        while full > 1 and metrics[full - 1][0] == metrics[full - 2][0]:
            full -= 1
        values = [value for pair in metrics[:full] for value in pair]
        values += [bearing for _, bearing in metrics[full:]]
        output.add("hmtx", pack(f">{len(values)}H", *values))
        output.add("hhea", _set_ushort(self.get_table("hhea"), 34, full))

    def _add_locations(self, output: Any, offsets: list[int]) -> None:
        """Where each glyph starts, in half-words if they reach, and the header saying which."""
        wide = (offsets[-1] + 1) >> 1 > 0xFFFF
        if wide:
            output.add("loca", pack(f">{len(offsets)}L", *offsets))
        else:
            output.add("loca", pack(f">{len(offsets)}H", *(offset >> 1 for offset in offsets)))
        output.add("head", _set_ushort(self.get_table("head"), 50, int(wide)))

    def _read_glyph(self, index: int) -> Glyph:
        """The glyph, read from the font file once a process."""
        start, end = self.glyphPos[index], self.glyphPos[index + 1]
        outline = self.get_table("glyf")[start:end] + b"\0" * (-(end - start) % 4)
        cuts = _component_offsets(outline) if end - start > 2 else []
        tail = tuple((unpack_from(">H", outline, cut)[0], outline[cut + 2:next_cut])
                     for cut, next_cut in pairwise([*cuts, len(outline)]))
        advance, bearing = self.hmetrics[index]
        glyph = self._glyphs[index] = Glyph(outline[:cuts[0]] if cuts else outline, tail,
                                            len(outline), (int(advance), int(bearing)))
        return glyph

    def addSubsetObjects(self, doc: Any, fontname: str, subset: list[int]) -> Any:
        """ReportLab's subset objects, with the font file's stream compressed already."""
        reference = super().addSubsetObjects(doc, fontname, subset)
        if doc.compression:
            descriptor = doc.idToObject[reference.name]
            stream = doc.idToObject[descriptor.dict["FontFile2"].name]
            stream.content = _compressed(self, tuple(subset))
            stream.dictionary["Filter"] = PDFName("FlateDecode")  # (so not compressed again)
        return reference


class RememberingFont(TTFont):  # type: ignore[misc]  # (ReportLab has no type hints)
    """A TrueType font whose subsets' widths and ToUnicode maps are made, formatted and
    compressed once per process too (the first subset's are the same in every form)."""

    def addObjects(self, doc: Any) -> None:
        """ReportLab's `TTFont.addObjects`: each subset's font object, its ToUnicode map and
        its font file and descriptor (`RememberingFace.addSubsetObjects`), in that order."""
        try:
            state = self.state[doc]
        except KeyError:
            state = self.state[doc] = TTFont.State(self._asciiReadable)
        state.frozen = 1
        fonts = doc.idToObject["BasicFonts"].dict
        for number, characters in enumerate(state.subsets):
            subset = tuple(characters)
            name = self.getSubsetInternalName(number, doc)[1:]
            base = b"".join((SUBSETN(number), b"+", self.face.name,
                             self.face.subfontNameX)).decode("pdfdoc")
            font = PDFTrueTypeFont()
            font.__Comment__ = f"Font {self.fontName} subset {number}"
            font.Name, font.BaseFont = name, base
            font.FirstChar, font.LastChar = 0, len(subset) - 1
            font.Widths = Formatted(_widths(self.face, subset))
            font.ToUnicode = doc.Reference(_to_unicode(base, subset, doc.compression),
                                           "toUnicodeCMap:" + base)
            font.FontDescriptor = self.face.addSubsetObjects(doc, base, characters)
            doc.Reference(font, name)
            fonts[name] = font
        del self.state[doc]


class Formatted(PDFObject):  # type: ignore[misc]
    """A PDF object already formatted."""

    def __init__(self, text: bytes) -> None:
        self.text = text

    def format(self, document: Any) -> bytes:
        return self.text


def remembering_font(name: str, path: str) -> TTFont:
    """A TrueType font (the first of a collection) whose subsets are made once (its file is
    read a second time for the face, once a process: ReportLab makes its own face inside)."""
    font = RememberingFont(name, path, subfontIndex=0)
    font.face = RememberingFace(path, subfontIndex=0)
    return font


def pin(font: TTFont, text: str, document: Any) -> None:
    """Number the characters of `text` first in the new document's subsets of the font, and
    its own characters from the next subset on: the pinned characters' subsets are then the
    same in every form of the shape, made once a process, and a village's own subset holds
    its ~80 characters, not also the 116 pinned ones past the first subset. The numbering
    is ReportLab's, a character at a time, made once a process for the same text (a
    village's has 1,342 characters, 276 distinct) and copied into each document's state."""
    if document in font.state:
        raise ValueError("the pinned text is numbered first in a document")
    assignments, subsets, next_code = _pinned(font, text)
    state = font._assignState(document)
    state.assignments = dict(assignments)
    state.subsets = [list(subset) for subset in subsets]
    state.nextCode = -(-next_code // SUBSET) * SUBSET  # (the next subset's first number)


class _Blank:
    """A document that only numbers characters (a font keeps its state by document)."""


@lru_cache(maxsize=KEPT)
def _pinned(font: TTFont, text: str) -> tuple[dict[int, int], list[list[int]], int]:
    """The numbering of a new document's subsets once `text` is written."""
    blank = _Blank()
    font.splitString(text, blank)
    state = font.state.pop(blank)
    return state.assignments, state.subsets, state.nextCode


def _component_offsets(outline: bytes) -> list[int]:
    """Where a composite glyph's outline holds its components' glyph indices (none in a
    simple glyph's: it has contours)."""
    if unpack_from(">h", outline)[0] >= 0:
        return []
    offsets = []
    position, flags = 10, GF_MORE_COMPONENTS
    while flags & GF_MORE_COMPONENTS:
        flags = unpack_from(">H", outline, position)[0]
        offsets.append(position + 2)
        position += 8 if flags & GF_ARG_1_AND_2_ARE_WORDS else 6
        if flags & GF_WE_HAVE_A_SCALE:
            position += 2
        elif flags & GF_WE_HAVE_AN_X_AND_Y_SCALE:
            position += 4
        elif flags & GF_WE_HAVE_A_TWO_BY_TWO:
            position += 8
    return offsets


def _outlines(glyphs: list[Glyph], number: dict[int, int]) -> bytes:
    """The subset's glyph table: the glyphs' outlines, their components renumbered."""
    parts = []
    for glyph in glyphs:
        parts.append(glyph.head)
        for component, rest in glyph.tail:
            parts += (pack(">H", number[component]), rest)
    return b"".join(parts)


@lru_cache(maxsize=KEPT)
def _made(face: RememberingFace, subset: tuple[int, ...]) -> bytes:
    return face.subset_font(subset)


@lru_cache(maxsize=KEPT)
def _widths(face: TTFontFace, subset: tuple[int, ...]) -> bytes:
    """The subset's Widths array, each width formatted once a process."""
    widths = PDFArray([_number(face.getCharWidth(code)) for code in subset])
    return widths.format(None)  # type: ignore[no-any-return]


@cache
def _number(value: float) -> bytes:
    """A number as ReportLab writes it (a font has a few hundred widths)."""
    return pdfdoc.format(value, None)  # type: ignore[no-any-return]


def _to_unicode(base: str, subset: tuple[int, ...], compressed: bool) -> PDFStream:
    """The subset's ToUnicode map, as ReportLab writes it (compressed if the document is)."""
    if not compressed:
        return PDFStream(content=makeToUnicodeCMap(base, list(subset)))
    return PDFStream(PDFDictionary({"Filter": PDFArray([PDFName("FlateDecode")])}),
                     _deflated(base, subset))


@lru_cache(maxsize=KEPT)
def _deflated(base: str, subset: tuple[int, ...]) -> bytes:
    """(compressed as ReportLab's filter does, at zlib's default level)"""
    return zlib.compress(makeToUnicodeCMap(base, list(subset)).encode())


@lru_cache(maxsize=KEPT)
def _compressed(face: TTFontFace, subset: tuple[int, ...]) -> bytes:
    return zlib.compress(_made(face, subset), LEVEL)
