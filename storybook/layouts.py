"""Which story pages go on which printed page (sheet), for each layout.

Deciding this in Python rather than letting the renderer flow text across pages keeps the PDF page
count known in advance (each sheet is exactly one fixed-size page), so page numbers, spread sides and
preflight messages all agree with what the reader sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from storybook.errors import StorybookError

LAYOUTS = ("image-above-text", "full-bleed", "spread", "photo-story")
LAYOUT_HELP = (
    "image-above-text: picture above its text, one page each; "
    "full-bleed: picture to the page edges with a text band; "
    "spread: picture on the left page, text on the facing right page; "
    "photo-story: photo album, three photos with captions per page (for VIST stories)"
)
PHOTO_ROWS_PER_SHEET = 3


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


def plan_sheets(page_count: int, layout: str, *, cover: bool = True, page_numbers: bool = True) -> list[Sheet]:
    """The sheets of a book of `page_count` story pages.

    In the spread layout the picture must be on a left-hand (even) page so that it faces its text;
    the cover is page 1, and without a cover a blank page takes its place.
    """
    check_layout(layout)
    kinds: list[tuple[str, tuple[int, ...]]] = []
    if cover:
        kinds.append(("cover", (0,)))
    elif layout == "spread":
        kinds.append(("blank", ()))
    if layout == "spread":
        for i in range(page_count):
            kinds += [("spread-image", (i,)), ("spread-text", (i,))]
    elif layout == "photo-story":
        for start in range(0, page_count, PHOTO_ROWS_PER_SHEET):
            kinds.append(("photo-story", tuple(range(start, min(start + PHOTO_ROWS_PER_SHEET, page_count)))))
    else:
        kinds += [(layout, (i,)) for i in range(page_count)]
    return [
        Sheet(kind, pages, number, page_numbers and kind not in ("cover", "blank"))
        for number, (kind, pages) in enumerate(kinds, start=1)
    ]
