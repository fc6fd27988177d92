"""The PDF's font: the characters a document prints, of a TrueType font, embedded as one
subset per document, for `infra.reporting.pdf`.

ReportLab embeds a TrueType font as simple fonts of at most 256 characters each, numbered in
the order the document first prints them, so the bytes that show a line depend on what the
document printed before it: each line was encoded anew for each document, and so was every
row of a table. Here the font is a Type 0 font (`embed`) whose two-byte codes (Identity-H)
are the characters' own code points, so a line's bytes (`shown`) are the same in every
document, and a row is drawn once a process (`infra.reporting.grid.Run`). A CIDToGIDMap
finds a code's glyph in the document's subset, and the ToUnicode map, the same for every
document, gives a code's character back to a reader that extracts text.

The subset holds first the glyphs of the text every form of its shape prints (titles,
headers, labels: `shared`), numbered alike in all of them, so that part of its glyph table
is made and compressed once a process; then the glyphs of the document's own characters,
made from glyphs each read from the font once a process (`FontFile`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from functools import cache, lru_cache
from itertools import accumulate, pairwise
from struct import pack, pack_into, unpack_from
from typing import Any, NamedTuple

from isal import isal_zlib
from reportlab.lib.rl_accel import add32, calcChecksum
from reportlab.pdfbase import pdfdoc
from reportlab.pdfbase.pdfdoc import (
    DummyDoc,
    PDFArray,
    PDFDictionary,
    PDFName,
    PDFObject,
    PDFStream,
)
from reportlab.pdfbase.ttfonts import (
    FF_NONSYMBOLIC,
    FF_SYMBOLIC,
    GF_ARG_1_AND_2_ARE_WORDS,
    GF_MORE_COMPONENTS,
    GF_WE_HAVE_A_SCALE,
    GF_WE_HAVE_A_TWO_BY_TWO,
    GF_WE_HAVE_AN_X_AND_Y_SCALE,
    SUBSETN,
    TTFont,
    TTFontFace,
    _set_ushort,
)

SHOWN = 1 << 14  # lines whose operators a process keeps (~0.2 kB each: 3 MB; the same names
# and labels recur in every form of a county and in its villages')
KEPT = 16  # shared parts kept per process (one per shape of form, ~60 kB each)
LEVEL = 1
"""The deflate level of the font and its CIDToGIDMap, deflated by ISA-L (`isal_zlib`): glyph
outlines barely compress, and zlib's level 1 took half the time of its default 6 for 6 % more
bytes; ISA-L's level 1 takes a sixth of zlib's for as many (a village's 30 kB of font
outside the shared block: 0.59 → 0.11 ms)."""
UNIT = 1000  # a glyph one em wide (every Chinese character), in thousandths of an em
REPLACEMENT = "\ufffd"  # what is shown for a character no two-byte code names
UNNAMED = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")  # (beyond the first plane, or
# half of a UTF-16 pair)
IDENTITY_SYSTEM = b"<< /Ordering (Identity) /Registry (Adobe) /Supplement 0 >>"
COPIED = ("OS/2", "cvt ", "fpgm", "name", "prep")  # the tables a subset takes whole
ZLIB_HEADER = b"\x78\x01"  # a zlib stream's header, at level 1
ADLER_BASE = 65521  # Adler-32 sums modulo this prime
MARK = b"\0"  # where a value goes in a dictionary's text made once (`stream_text`, `_text`)


class Glyph(NamedTuple):
    """What a subset takes of one of the font's glyphs: its outline cut at the indices of
    the glyphs it is composed of (most CJK glyphs in WenQuanYi are composites) and padded
    to four bytes, and its metrics."""

    head: bytes  # the outline up to its first component's index (all of a simple glyph's)
    tail: tuple[tuple[int, bytes], ...]  # each component's glyph index, and what follows it
    size: int  # bytes in the subset's glyph table, padded
    metrics: tuple[int, int]  # advance width, left side bearing


class Numbering(NamedTuple):
    """A subset's glyphs in the order of their numbers, and each one's number by its index
    in the font."""

    glyphs: tuple[Glyph, ...]
    number: dict[int, int]


class RememberingFace(TTFontFace):  # type: ignore[misc]  # (ReportLab has no type hints)
    """A font file whose tables are sliced out of it once and whose glyphs are each read
    from it once a process (making a subset the way ReportLab does copies the whole glyph
    table, 3.5 MB in WenQuanYi Micro Hei, and parses every glyph again)."""

    def __init__(self, path: str, subfontIndex: int) -> None:  # (ReportLab's keyword)
        self._tables: dict[str, bytes] = {}
        self._glyphs: dict[int, Glyph] = {}
        super().__init__(path, subfontIndex=subfontIndex)
        self.narrow: dict[int, float] = {code: width for code, width in self.charWidths.items()
                                         if width != UNIT}
        """The width of each character whose glyph is not one em wide (1,206 of WenQuanYi
        Micro Hei's 34,600), for the W array (`_widths`)."""

    def get_table(self, tag: str) -> bytes:
        table = self._tables.get(tag)
        if table is None:
            table = self._tables[tag] = super().get_table(tag)
        return table

    def numbered(self, codes: tuple[int, ...], after: Numbering | None = None) -> Numbering:
        """The glyphs of the characters numbered after those `after` numbers (at first the
        missing character's, 0): the characters' in their order, then their components',
        breadth first."""
        number = dict(after.number) if after else {0: 0}
        for code in codes:
            number.setdefault(self.charToGlyph.get(code, 0), len(number))
        indices = list(number)
        glyphs = list(after.glyphs) if after else []
        while len(glyphs) < len(indices):  # (components of components are added as it goes)
            index = indices[len(glyphs)]
            glyph = self._glyphs.get(index) or self._read_glyph(index)
            glyphs.append(glyph)
            for component, _ in glyph.tail:
                if component not in number:
                    number[component] = len(indices)
                    indices.append(component)
        return Numbering(tuple(glyphs), number)

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


class Entries(NamedTuple):
    """The shared glyphs' entries in the tables that say where a subset's glyphs are and how
    wide, packed once a process (they begin those of every subset of the shape)."""

    short: bytes  # their offsets halved, two bytes each (a short location table's; empty if
    # the shared outlines alone are too long for one)
    long: bytes  # their offsets, four bytes each (a long location table's)
    end: int  # where the glyphs after them begin
    pairs: bytes  # each one's advance width and left side bearing
    bearings: bytes  # each one's left side bearing alone
    advances: tuple[int, ...]


class Shared(NamedTuple):
    """The part of a subset every form of a shape has: its glyphs' numbering, its glyph
    table's bytes, their checksums and their deflated block, their entries in the other
    tables, and the shared codes' CIDToGIDMap."""

    numbering: Numbering
    outlines: bytes
    checksum: int
    adler: int  # zlib's checksum of the outlines
    deflated: bytes
    entries: Entries
    glyph_map: bytes


@lru_cache(maxsize=KEPT)
def shared(face: RememberingFace, codes: tuple[int, ...]) -> Shared:
    """The shared part of the subsets whose characters begin with `codes`."""
    numbering = face.numbered(codes)
    outlines = _outlines(numbering.glyphs, numbering.number)
    return Shared(numbering, outlines, calcChecksum(outlines), zlib.adler32(outlines),
                  _block(outlines), _entries(numbering.glyphs),
                  _glyph_map(face, codes, numbering.number))


class FontFile(NamedTuple):
    """A document's subset of the font: its TrueType file, compressed, with its length,
    and each glyph's number in it by its index in the font."""

    compressed: bytes
    length: int
    number: dict[int, int]


def font_file(face: RememberingFace, common: Shared, own: tuple[int, ...]) -> FontFile:
    """The subset of the shared part's characters and then the document's `own`: its
    glyph table the shared part's block (deflated once a process) followed by the own
    glyphs'; its other tables made as ReportLab makes a subset's (without the character map,
    which the PDF's CIDToGIDMap stands for)."""
    numbering = face.numbered(own, common.numbering)
    glyphs = numbering.glyphs[len(common.numbering.glyphs):]
    extra = _outlines(glyphs, numbering.number)
    tables = _tables(face, common.entries, glyphs)
    lengths = {**{tag: len(data) for tag, data in tables.items()},
               "glyf": len(common.outlines) + len(extra)}
    sums = {**{tag: calcChecksum(data) for tag, data in tables.items()},
            "glyf": add32(common.checksum, calcChecksum(extra))}
    directory = _directory(lengths, sums)
    adjustment = add32(0xB1B0AFBA, -sum(sums.values(), calcChecksum(directory)) & 0xFFFFFFFF)
    tables["head"] = tables["head"][:8] + pack(">L", adjustment) + tables["head"][12:]
    before = directory + b"".join(_padded(tables[tag]) for tag in sorted(tables)
                                  if tag < "glyf")
    after = _padded(extra) + b"".join(_padded(tables[tag]) for tag in sorted(tables)
                                      if tag > "glyf")
    return FontFile(_joined(before, common, after),
                    len(before) + len(common.outlines) + len(after), numbering.number)


def _tables(face: RememberingFace, shared: Entries, glyphs: Sequence[Glyph]
            ) -> dict[str, bytes]:
    """The subset's tables but its glyph table: those it takes whole, and those that say
    where its glyphs are and how wide (the head's checksum adjustment left at 0), the shared
    glyphs' entries packed once and the document's `glyphs`' after them (packing all of a
    village's ~800 glyphs' entries took 185 µs, the own ~250 glyphs' takes 84 µs)."""
    offsets = list(accumulate((glyph.size for glyph in glyphs), initial=shared.end))
    wide = (offsets[-1] + 1) >> 1 > 0xFFFF
    locations = (shared.long + pack(f">{len(offsets)}L", *offsets) if wide else
                 shared.short + pack(f">{len(offsets)}H", *(offset >> 1 for offset in offsets)))
    metrics, full = _metrics(shared, [glyph.metrics for glyph in glyphs])
    head = _set_ushort(face.get_table("head"), 50, int(wide))
    return {**{tag: face.get_table(tag) for tag in COPIED if tag in face.table},
            "head": head[:8] + b"\0" * 4 + head[12:], "hmtx": metrics, "loca": locations,
            "hhea": _set_ushort(face.get_table("hhea"), 34, full),
            "maxp": _set_ushort(face.get_table("maxp"), 4, len(shared.advances) + len(glyphs)),
            "post": b"\x00\x03\x00\x00" + face.get_table("post")[4:16] + b"\0" * 16}


def _entries(glyphs: Sequence[Glyph]) -> Entries:
    """The glyphs' entries in the location and metrics tables, to begin a subset's."""
    offsets = list(accumulate((glyph.size for glyph in glyphs), initial=0))
    end = offsets.pop()
    short = (pack(f">{len(offsets)}H", *(offset >> 1 for offset in offsets))
             if (end + 1) >> 1 <= 0xFFFF else b"")  # (else every subset's table is long)
    metrics = [glyph.metrics for glyph in glyphs]
    return Entries(short, pack(f">{len(offsets)}L", *offsets), end,
                   pack(f">{2 * len(metrics)}H", *(value for pair in metrics for value in pair)),
                   pack(f">{len(metrics)}H", *(bearing for _, bearing in metrics)),
                   tuple(advance for advance, _ in metrics))


def _joined(before: bytes, common: Shared, after: bytes) -> bytes:
    """The font file as one zlib stream: the shared part's deflated block between those of
    what comes before and after it, and the checksum of all three (the shared outlines'
    summed once a process)."""
    checksum = zlib.adler32(after, _adler32_combine(zlib.adler32(before), common.adler,
                                                    len(common.outlines)))
    return b"".join((ZLIB_HEADER, _block(before), common.deflated, _block(after, True),
                     pack(">L", checksum)))


def _directory(lengths: dict[str, int], sums: dict[str, int]) -> bytes:
    """The font file's header and its table directory, the tables in order of their tags,
    each at a multiple of four bytes."""
    count = len(lengths)
    search = 1 << (count.bit_length() - 1)
    parts = [pack(">lHHHH", 0x00010000, count, search * 16, search.bit_length() - 1,
                  count * 16 - search * 16)]
    offset = 12 + count * 16
    for tag in sorted(lengths):
        parts.append(tag.encode("latin-1") + pack(">LLL", sums[tag], offset, lengths[tag]))
        offset += (lengths[tag] + 3) & ~3
    return b"".join(parts)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _block(data: bytes, last: bool = False) -> bytes:
    """The data deflated on its own and ended on a byte, so blocks join into one stream."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(isal_zlib.Z_FINISH if last
                                                        else isal_zlib.Z_FULL_FLUSH)


def _adler32_combine(first: int, second: int, length: int) -> int:
    """The Adler-32 checksum of two pieces of data from each one's and the second's length
    (zlib's adler32_combine, which Python's zlib lacks)."""
    low = (first & 0xFFFF) + (second & 0xFFFF) - 1
    high = (first >> 16) + (second >> 16) + length * (first & 0xFFFF) - length
    return (high % ADLER_BASE) << 16 | low % ADLER_BASE


def _metrics(shared: Entries, metrics: list[tuple[int, int]]) -> tuple[bytes, int]:
    """The horizontal metrics table of the shared glyphs and then these, a run of equal
    advances at the end written once, and how many advances it holds."""
    advances = [*shared.advances, *(advance for advance, _ in metrics)]
    full = len(advances)
    while full > 1 and advances[full - 1] == advances[full - 2]:
        full -= 1
    count = len(shared.advances)
    if full < count:  # (the run goes back into the shared glyphs)
        return (shared.pairs[:4 * full] + shared.bearings[2 * full:]
                + pack(f">{len(metrics)}H", *(bearing for _, bearing in metrics)), full)
    values = [value for pair in metrics[:full - count] for value in pair]
    values += [bearing for _, bearing in metrics[full - count:]]
    return shared.pairs + pack(f">{len(values)}H", *values), full


def remembering_font(name: str, path: str) -> TTFont:
    """A TrueType font (the first of a collection) for the layout's metrics, whose face makes
    the documents' subsets (its file is read a second time for the face, once a process:
    ReportLab makes its own face inside)."""
    font = TTFont(name, path, subfontIndex=0)
    font.face = RememberingFace(path, subfontIndex=0)
    return font


def embed(document: Any, face: RememberingFace, resource: str, common: tuple[int, ...],
          printed: set[str]) -> None:
    """The document's font, under `resource` in its pages' fonts: a Type 0 font over one
    TrueType subset of the `common` characters (every form of its shape prints them) and
    then those it `printed` besides, a code (`shown`) finding its glyph through the
    CIDToGIDMap and its character through the ToUnicode map."""
    codes = set(map(ord, UNNAMED.sub(REPLACEMENT, "".join(printed))))
    part = shared(face, common)
    own = tuple(sorted(codes.difference(common)))
    subset = font_file(face, part, own)
    codes.update(common)
    font_program = PDFStream(PDFDictionary({"Filter": PDFName("FlateDecode"),
                                            "Length1": subset.length}), subset.compressed)
    descriptor_text, cid_font_text, font_text = _font_texts(face)
    descriptor = Filled(descriptor_text, {"FontFile2": document.Reference(font_program)})
    cid_font = Filled(cid_font_text, {
        "FontDescriptor": document.Reference(descriptor), "W": Formatted(_widths(face, codes)),
        "CIDToGIDMap": document.Reference(_stream(isal_zlib.compress(
            _glyph_map(face, own, subset.number, part.glyph_map), LEVEL)))})
    font = Filled(font_text, {"DescendantFonts": PDFArray([document.Reference(cid_font)]),
                              "ToUnicode": document.Reference(_stream(_identity_map))})
    document.idToObject["BasicFonts"].dict[resource] = document.Reference(font, resource)


class Text(NamedTuple):
    """A dictionary's text as ReportLab writes it, but for the values of some entries: the
    pieces around them, and their names in the order it writes them."""

    pieces: tuple[bytes, ...]
    names: tuple[str, ...]


class Filled(PDFObject):  # type: ignore[misc]
    """A dictionary written from its text (`Text`) with its own values filled in, as
    ReportLab writes each one."""

    def __init__(self, text: Text, values: dict[str, Any]) -> None:
        self.text = text
        self.values = values

    def format(self, document: Any) -> bytes:
        pieces = self.text.pieces
        parts = [pieces[0]]
        for name, piece in zip(self.text.names, pieces[1:], strict=True):
            parts += (pdfdoc.format(self.values[name], document), piece)
        return b"".join(parts)


@lru_cache(maxsize=4)
def _font_texts(face: RememberingFace) -> tuple[Text, Text, Text]:
    """The texts of the font's dictionaries, the same in every document but for what refers
    to its other objects and the W array: its descriptor, its CID font and its Type 0 font
    (ReportLab formatted each anew, names escaped character by character: 0.2 ms a
    document)."""
    base = b"".join((SUBSETN(0), b"+", face.name, face.subfontNameX)).decode("pdfdoc")
    descriptor = _text({
        "Type": PDFName("FontDescriptor"), "Ascent": face.ascent, "CapHeight": face.capHeight,
        "Descent": face.descent, "Flags": face.flags & ~FF_NONSYMBOLIC | FF_SYMBOLIC,
        "FontBBox": PDFArray(face.bbox), "FontName": PDFName(base),
        "ItalicAngle": face.italicAngle, "StemV": face.stemV}, "FontFile2")
    cid_font = _text({
        "Type": PDFName("Font"), "Subtype": PDFName("CIDFontType2"),
        "BaseFont": PDFName(base), "CIDSystemInfo": Formatted(IDENTITY_SYSTEM), "DW": UNIT},
        "FontDescriptor", "W", "CIDToGIDMap")
    font = _text({
        "Type": PDFName("Font"), "Subtype": PDFName("Type0"), "BaseFont": PDFName(base),
        "Encoding": PDFName("Identity-H")}, "DescendantFonts", "ToUnicode")
    return descriptor, cid_font, font


def _text(entries: dict[str, Any], *names: str) -> Text:
    """The text of a dictionary of the entries and of the named ones, whose values are left
    out (ReportLab writes a dictionary's entries in the order of their names)."""
    text = pdfdoc.format(PDFDictionary({**entries, **dict.fromkeys(names, Formatted(MARK))}),
                         DummyDoc())
    pieces = tuple(text.split(MARK))
    if len(pieces) != len(names) + 1:
        raise ValueError(f"a mark in the dictionary's text: {text!r}")
    return Text(pieces, tuple(sorted(names)))


@lru_cache(maxsize=SHOWN)
def shown(text: str) -> str:
    """The operator that shows the text in the document's font (`embed`): its characters'
    code points in hexadecimal, the same in every document. A character that a two-byte
    code cannot name is shown as U+FFFD (the JSON and the workbook hold it)."""
    return f"<{showable(text).encode('utf-16-be').hex()}> Tj"


def showable(text: str) -> str:
    """The text as the PDF shows it: U+FFFD for each character no two-byte code names."""
    return UNNAMED.sub(REPLACEMENT, text) if UNNAMED.search(text) else text


class Formatted(PDFObject):  # type: ignore[misc]
    """A PDF object already formatted."""

    def __init__(self, text: bytes) -> None:
        self.text = text

    def format(self, document: Any) -> bytes:
        return self.text


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


def _outlines(glyphs: Sequence[Glyph], number: dict[int, int]) -> bytes:
    """The subset's glyph table: the glyphs' outlines, their components renumbered."""
    parts = []
    for glyph in glyphs:
        parts.append(glyph.head)
        for component, rest in glyph.tail:
            parts += (pack(">H", number[component]), rest)
    return b"".join(parts)


def _widths(face: RememberingFace, codes: set[int]) -> bytes:
    """The W array: the width of each code whose glyph is not one em wide (a Chinese
    character's is), consecutive codes in one list. Only the codes among the face's narrow
    ones are looked at (a document's ~420 codes looked up one by one: 91 → 40 µs)."""
    runs: list[tuple[int, list[bytes]]] = []
    for code, width in _narrow_widths(face, codes):
        if runs and runs[-1][0] + len(runs[-1][1]) == code:
            runs[-1][1].append(_number(width))
        else:
            runs.append((code, [_number(width)]))
    return b"[" + b" ".join(b"%d [%s]" % (first, b" ".join(widths))
                            for first, widths in runs) + b"]"


def _narrow_widths(face: RememberingFace, codes: set[int]) -> list[tuple[int, float]]:
    """The codes whose glyph is not one em wide, in order, with their widths (every code's
    looked up if the missing glyph, which a code the font lacks shows, is not one em)."""
    if face.defaultWidth != UNIT:
        return [(code, width) for code in sorted(codes)
                if (width := face.getCharWidth(code)) != UNIT]
    narrow = face.narrow
    return [(code, narrow[code]) for code in sorted(codes & narrow.keys())]


@cache
def _number(value: float) -> bytes:
    """A number as ReportLab writes it (a font has a few hundred widths)."""
    return pdfdoc.format(value, None)  # type: ignore[no-any-return]


def _glyph_map(face: RememberingFace, codes: Sequence[int], number: dict[int, int],
               shared: bytes = b"") -> bytes:
    """The CIDToGIDMap: for each code up to the last printed, its glyph's number in the
    subset, two bytes each (0, the missing glyph's, for a code not printed): the map of the
    `shared` codes, the same in every subset of the shape, with these codes' entries written
    in (a village's ~420 codes written one by one took 97 µs, its ~135 own codes take 41)."""
    glyphs = bytearray(max(len(shared), 2 * (max(codes, default=0) + 1)))
    glyphs[:len(shared)] = shared
    for code in codes:
        pack_into(">H", glyphs, 2 * code, number[face.charToGlyph.get(code, 0)])
    return bytes(glyphs)


def _identity_text() -> bytes:
    """The ToUnicode map of every document: each code is its own character (but halves of
    UTF-16 pairs, which no code names)."""
    ranges = [f"<{high:02X}00> <{high:02X}FF> <{high:02X}00>" for high in range(256)
              if not 0xD8 <= high <= 0xDF]
    blocks = [f"{len(block)} beginbfrange\n" + "\n".join(block) + "\nendbfrange"
              for block in (ranges[start:start + 100] for start in range(0, len(ranges), 100))]
    return "\n".join([
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
        "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange", *blocks,
        "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]).encode()


class Deflated(PDFObject):  # type: ignore[misc]
    """A stream of deflated content, written as ReportLab writes a PDFStream of it (not
    encrypted) but around its dictionary's text made once a process (`stream_text`):
    ReportLab formats each stream's dictionary anew, its names escaped character by
    character, and a village's document has eight such streams."""

    __RefOnly__ = 1  # (a stream is written on its own, as ReportLab's)

    def __init__(self, around: tuple[bytes, bytes], content: bytes) -> None:
        self.around = around
        self.content = content

    def format(self, document: Any) -> bytes:
        before, after = self.around
        return b"".join((before, b"%d" % len(self.content), after, self.content,
                         b"endstream\n"))


@cache
def stream_text(in_array: bool = False) -> tuple[bytes, bytes]:
    """What ReportLab writes of a deflated stream before its length and after it, up to its
    content: its filter by name, or `in_array` (as the canvas gives a page's drawing)."""
    flate = PDFName("FlateDecode")
    before, after = _text({"Filter": PDFArray([flate]) if in_array else flate},
                          "Length").pieces
    return before, after + b"\nstream\n"


def _stream(compressed: bytes) -> Deflated:
    """A stream of the compressed content."""
    return Deflated(stream_text(), compressed)


_identity_map = isal_zlib.compress(_identity_text(), LEVEL)
