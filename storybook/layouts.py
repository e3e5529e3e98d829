"""Which story pages go on which printed page (sheet), for each layout.

Deciding this in Python rather than letting the renderer flow text across pages keeps the PDF page
count known in advance (each sheet is exactly one fixed-size page), so page numbers, spread sides and
preflight messages all agree with what the reader sees.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from storybook.errors import StorybookError

LAYOUTS = ("picture-book", "image-above-text", "full-bleed", "spread", "photo-story")
LAYOUT_HELP = (
    "picture-book: the picture fills the page to its edges with the text in a band below it (a page whose text "
    "does not fit a band even at the smallest text size gets its picture on one page and its text on the next); "
    "image-above-text: picture above its text, one page each; "
    "full-bleed: picture to the page edges with a text band; "
    "spread: picture on the left page, text on the facing right page; "
    "photo-story: photo album, three photos with captions per page (for VIST stories)"
)
PHOTO_ROWS_PER_SHEET = 3
# Layouts where a page whose text does not fit its frame, even at the smallest size, moves its text to a text
# page of its own after its picture (storybook.fitting); in the others the text already has a page or a row.
MOVABLE = ("picture-book", "image-above-text", "full-bleed")
PADDING = ("none", "blank", "end")
PADDING_HELP = ("pad the page count to a multiple of 4 for a stapled booklet: blank (empty pages at the end) or "
                "end (a 'The End' page, then empty pages)")


@dataclass(frozen=True)
class Sheet:
    """One printed page: what kind it is, which story pages (0-based) it shows, its PDF page number."""

    kind: str
    pages: tuple[int, ...]
    number: int
    numbered: bool


def check_layout(layout: str) -> str:
    """Return `layout` if known, else raise listing the layouts."""
    if layout not in LAYOUTS:
        raise StorybookError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    return layout


def check_padding(padding: str) -> str:
    """Return `padding` if known, else raise listing the choices."""
    if padding not in PADDING:
        raise StorybookError(f"unknown booklet padding {padding!r}: use one of {', '.join(PADDING)}")
    return padding


def _pad(kinds: list[tuple[str, tuple[int, ...]]], padding: str) -> None:
    """Append pages until the count is a multiple of 4 (a booklet is folded from sheets of 4 pages)."""
    missing = -len(kinds) % 4
    if padding == "none" or not missing:
        return
    if padding == "end":
        kinds.append(("end", ()))
        missing -= 1
    kinds += [("blank", ())] * missing


def _pad_to_minimum(kinds: list[tuple[str, tuple[int, ...]]], min_pages: int, even: bool) -> None:
    """Append notes pages (a heading and ruled lines) up to a print service's minimum page count and, where
    it asks, to an even count. Notes pages, not blank ones: services flag long runs of blank pages, and a
    short picture book padded to 24 pages would end in a long run."""
    while len(kinds) < min_pages or (even and len(kinds) % 2):
        kinds.append(("notes", ()))


def plan_sheets(page_count: int, layout: str, *, cover: bool = True, page_numbers: bool = True,
                moved: Collection[int] = (), padding: str = "none", title_page: bool = False, min_pages: int = 0,
                even: bool = False) -> list[Sheet]:
    """The sheets of a book of `page_count` story pages; `moved`: the pages (0-based) whose text did not fit
    their frame and is set on a text page after the picture (storybook.fitting), in a MOVABLE layout.

    In the spread layout the picture must be on a left-hand (even) page so that it faces its text;
    the cover is page 1, and without a cover a blank page takes its place. `title_page`: page 1 shows the
    title instead of the cover picture (the cover is a separate wrap). `min_pages` and `even`: a print
    service's page count rules, met with notes pages.
    """
    check_layout(layout)
    check_padding(padding)
    if layout == "picture-book":
        layout = "picture-band"
    kinds: list[tuple[str, tuple[int, ...]]] = []
    if cover:
        kinds.append(("title-page", ()) if title_page else ("cover", (0,)))
    elif layout == "spread":
        kinds.append(("blank", ()))
    if layout == "spread":
        for i in range(page_count):
            kinds += [("spread-image", (i,)), ("spread-text", (i,))]
    elif layout == "photo-story":
        for start in range(0, page_count, PHOTO_ROWS_PER_SHEET):
            kinds.append(("photo-story", tuple(range(start, min(start + PHOTO_ROWS_PER_SHEET, page_count)))))
    else:
        for i in range(page_count):
            kinds += [("spread-image", (i,)), ("spread-text", (i,))] if i in moved else [(layout, (i,))]
    _pad(kinds, padding)
    _pad_to_minimum(kinds, min_pages, even)
    return [
        Sheet(kind, pages, number, page_numbers and kind not in ("cover", "title-page", "blank", "end"))
        for number, (kind, pages) in enumerate(kinds, start=1)
    ]
