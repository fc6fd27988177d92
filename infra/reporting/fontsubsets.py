"""The PDF font's subsets, made and compressed once per process, for `infra.reporting.pdf`.

ReportLab embeds a TrueType font as subsets of at most 256 characters, numbered in the order
the document first uses them, and makes and compresses each subset anew for every PDF: a
third of a village form's time. When a form first uses (`pin`s) the text every form of its
shape prints — titles, headers, labels, in the same order — its first subset is the same as
every other such form's, so it is made and compressed once; later subsets, which hold the
unit's own names, are made as before. A cached subset is byte for byte what ReportLab makes.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Any

from reportlab.pdfbase.pdfdoc import PDFArray, PDFName, PDFObject
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace

KEPT = 16  # subsets kept per process (≈ 90 kB each, raw and compressed)
LEVEL = 1
"""zlib's level for a subset: glyph outlines barely compress, and level 1 takes half the time
of the default 6 for 6 % more bytes (a village's own subset: 1.2 against 2.6 ms, 26.4
against 24.9 kB)."""


class RememberingFace(TTFontFace):  # type: ignore[misc]  # (ReportLab has no type hints)
    """A font file whose subsets are made and compressed once, and whose tables are sliced
    out of it once: making any subset copies the whole glyph table (3.5 MB in WenQuanYi
    Micro Hei, 0.6 ms) to take a few glyphs from it, and a form's own subset (its unit's
    names) is new every time."""

    def __init__(self, path: str, subfontIndex: int) -> None:  # (ReportLab's keyword)
        self._tables: dict[str, bytes] = {}
        super().__init__(path, subfontIndex=subfontIndex)

    def get_table(self, tag: str) -> bytes:
        table = self._tables.get(tag)
        if table is None:
            table = self._tables[tag] = super().get_table(tag)
        return table

    def makeSubset(self, subset: list[int]) -> bytes:
        return _made(self, tuple(subset))

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
    """A TrueType font whose subsets' widths and ToUnicode maps are formatted and compressed
    once per process too (the first subset's are the same in every form)."""

    def addObjects(self, doc: Any) -> None:
        fonts = doc.idToObject["BasicFonts"].dict
        before = set(fonts)
        super().addObjects(doc)
        for name in fonts.keys() - before:  # this font's subsets
            subset = fonts[name]
            subset.Widths = Formatted(_widths(tuple(subset.Widths.sequence)))
            if doc.compression:
                cmap = doc.idToObject[subset.ToUnicode.name]
                cmap.content = _deflated(cmap.content)
                cmap.dictionary["Filter"] = PDFArray([PDFName("FlateDecode")])  # (as
                # ReportLab writes it, and so not compressed again)


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
    """Number the characters of `text` first in the document's subsets of the font."""
    font.splitString(text, document)


@lru_cache(maxsize=KEPT)
def _made(face: TTFontFace, subset: tuple[int, ...]) -> bytes:
    return TTFontFace.makeSubset(face, list(subset))  # type: ignore[no-any-return]


@lru_cache(maxsize=KEPT)
def _widths(widths: tuple[int, ...]) -> bytes:
    return PDFArray(list(widths)).format(None)  # type: ignore[no-any-return]


@lru_cache(maxsize=KEPT)
def _deflated(text: str) -> bytes:
    return zlib.compress(text.encode())  # (as ReportLab's filter, at zlib's default level)


@lru_cache(maxsize=KEPT)
def _compressed(face: TTFontFace, subset: tuple[int, ...]) -> bytes:
    return zlib.compress(_made(face, subset), LEVEL)
