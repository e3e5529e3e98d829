"""How a book is laid out: page size, bleed, crop marks, layout, cover, page numbers, booklet padding, and
which files besides the PDF are written.

Options are kept as the strings a user types (`"a5"`, `"3mm"`) so that the CLI and the ComfyUI node
pass them through unchanged; `validate()` turns them into geometry and reports a bad value before any
work starts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Any

from storybook.errors import StorybookError
from storybook.layouts import Sheet, check_layout, check_padding, plan_sheets
from storybook.pagesize import PageGeometry

DEFAULT_SIZE = "a5"
DEFAULT_LAYOUT = "picture-book"
# The print PDF and the HTML preview are always written; these may be written beside them.
FORMATS = ("pdf", "epub", "cbz")
FORMATS_HELP = ("pdf (print), epub (EPUB 3 fixed layout, for e-readers), cbz (comic book archive: one picture "
                "per page)")
FITS = ("contain", "cover")
FIT_HELP = ("how a picture fills a frame of another shape: contain (all of the picture, the rest of the frame "
            "filled with its blurred copy) or cover (fills the frame, cropped around the centre or the page's "
            "\"focus\" in story.json; preflight says how much)")
_LISTS = ("formats", "fonts")  # the fields kept as JSON lists


def parse_formats(text: str) -> tuple[str, ...]:
    """`"pdf,epub"` -> ("pdf", "epub"): the formats in FORMATS order; pdf is always included."""
    asked = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(asked - set(FORMATS))
    if unknown:
        raise StorybookError(f"unknown format {unknown[0]!r}: use a comma-separated list of {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in asked or f == "pdf")


@dataclass(frozen=True)
class BookOptions:
    """Everything about the printed form of a book; the story itself is in the manifest."""

    size: str = DEFAULT_SIZE
    layout: str = DEFAULT_LAYOUT
    bleed: str = "0"
    crop_marks: bool = False
    cover: bool = True
    page_numbers: bool = True
    padding: str = "none"
    formats: tuple[str, ...] = ("pdf",)
    fonts: tuple[str, ...] = ()  # user font files in the book's fonts/ folder (storybook.fonts), after Andika
    fit: str = "contain"  # a picture in a frame of another shape: all of it shown (contain) or cropped (cover)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in the manifest (`book`), so that `redraw` prints the book the same way."""
        return {**asdict(self), "formats": list(self.formats), "fonts": list(self.fonts)}

    @classmethod
    def of_story(cls, story: Any, where: str) -> BookOptions:
        """The options a book was made with (`story.book`), or the defaults for a story that records none."""
        return cls.from_dict(story.book, where) if story.book else cls()

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> BookOptions:
        """Options from their manifest form; unknown or mistyped fields are reported with `where`."""
        known = {f.name: f for f in fields(cls)}
        for key, value in data.items():
            if key not in known:
                raise StorybookError(f"{where}: unknown field {key!r} (known fields: {', '.join(known)})")
            kind = bool if known[key].type == "bool" else list if key in _LISTS else str
            if not isinstance(value, kind) or (key in _LISTS and not all(isinstance(v, str) for v in value)):
                raise StorybookError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
        options = cls(**{**data, **{key: tuple(data[key]) for key in _LISTS if key in data}})
        options.validate()
        return options

    def geometry(self) -> PageGeometry:
        """The page geometry; raises StorybookError on an unknown size or a bad bleed."""
        return PageGeometry.parse(self.size, self.bleed, self.crop_marks)

    def sheets(self, page_count: int, moved: Collection[int] = ()) -> list[Sheet]:
        """The printed pages for a story of `page_count` pages, `moved` those whose text has a page of its own."""
        return plan_sheets(page_count, self.layout, cover=self.cover, page_numbers=self.page_numbers,
                           moved=moved, padding=self.padding)

    def validate(self) -> None:
        """Raise StorybookError if any option is unusable."""
        self.geometry()
        check_layout(self.layout)
        check_padding(self.padding)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise StorybookError(f"unknown format {unknown[0]!r}: use {', '.join(FORMATS)}")
        if self.fit not in FITS:
            raise StorybookError(f"unknown picture fit {self.fit!r}: use one of {', '.join(FITS)}")
        for name in self.fonts:
            if not name or "/" in name or "\\" in name or name.startswith("."):
                raise StorybookError(f"font {name!r}: give a file name inside the book's fonts/ folder")
