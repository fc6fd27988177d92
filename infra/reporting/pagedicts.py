"""A form's page dictionaries, written from its first one, for `infra.reporting.pdf`.

ReportLab formats every page's dictionary through its general machinery (defaults, resources,
names escaped character by character): 70 µs a page, a tenth of a village form's saving.
Every page of a form is drawn on the same canvas settings, so its dictionary is the first
page's but for the reference to its drawing: the first is formatted as ReportLab does, and
each page made like it (the same entries, compared before anything is formatted) is that
text with its own drawing's reference — byte for byte what ReportLab writes.
"""

from __future__ import annotations

from typing import Any

from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFObject

DRAWING = b"/Contents "
OWN = ("Contents", "stream", "__InternalName__")  # a page's own entries: its drawing, its name


class FirstPage(PDFObject):  # type: ignore[misc]  # (ReportLab has no type hints)
    """The first page, formatted by ReportLab; its text around its drawing's reference."""

    __RefOnly__ = 1

    def __init__(self, page: Any) -> None:
        self.page = page
        self.around: tuple[bytes, bytes] | None = None

    def format(self, document: Any) -> bytes:
        text: bytes = self.page.format(document)
        drawing = DRAWING + _reference(self.page.Contents, document)
        if text.count(drawing) == 1:
            before, after = text.split(drawing)
            self.around = before, after
        return text


class LikePage(PDFObject):  # type: ignore[misc]
    """A page made like the first: its text with this page's drawing's reference."""

    __RefOnly__ = 1

    def __init__(self, page: Any, first: FirstPage) -> None:
        self.page = page
        self.first = first

    def format(self, document: Any) -> bytes:
        if self.first.around is None:
            return self.page.format(document)  # type: ignore[no-any-return]
        before, after = self.first.around
        return before + DRAWING + _reference(self.page.Contents, document) + after


def write_like_the_first(document: Any) -> None:
    """Have the document write its pages made like its first from the first's text."""
    first, *others = document.Pages.pages
    template = FirstPage(first)
    document.idToObject[first.__InternalName__] = template
    entries = _entries(first)
    for page in others:
        if _entries(page) == entries:
            document.idToObject[page.__InternalName__] = LikePage(page, template)


def _entries(page: Any) -> list[tuple[str, Any]]:
    """What a page's dictionary is made of, but its own drawing (a dictionary by its
    entries: each page has its own, empty, transition dictionary)."""
    return [(name, value.dict if isinstance(value, PDFDictionary) else value)
            for name, value in vars(page).items() if name not in OWN]


def _reference(stream: Any, document: Any) -> bytes:
    """The stream's reference (numbering it, if it is not yet)."""
    return document.Reference(stream).format(document)  # type: ignore[no-any-return]
