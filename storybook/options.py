"""How a book is laid out: page size, bleed, crop marks, layout, cover, page numbers, booklet padding,
which files besides the PDF are written, and the print target (its service's rules, the cover wrap's paper and
blurb, the home printer's paper and imposition).

Options are kept as the strings a user types (`"a5"`, `"3mm"`) so that the CLI and the ComfyUI node
pass them through unchanged; `validate()` turns them into geometry and reports a bad value before any
work starts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from storybook.errors import StorybookError
from storybook.layouts import Sheet, check_layout, check_padding, plan_sheets
from storybook.pagesize import PageGeometry, parse_bleed
from storybook.targets import HOME_PAPERS, IMPOSITIONS, MM_PER_INCH, PAPERS, Target, check_choice, target

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
    # Print target (storybook.targets) and what only some targets use.
    target: str = "screen"
    paper: str = "white"  # kdp: the paper, which sets the spine width
    blurb: str = ""  # kdp: text on the back cover
    paper_size: str = "a4"  # home: the printer's paper
    impose: str = "none"  # home: "booklet" for 2-up saddle-stitch sheets

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
        try:
            options.validate()
        except StorybookError as e:
            raise StorybookError(f"{where}: {e}; correct it there, or give the option on the command line "
                                 "(e.g. --size) to override it") from None
        return options

    @property
    def print_target(self) -> Target:
        return target(self.target)

    @property
    def cover_wrap(self) -> bool:
        """Whether a cover wrap (cover.pdf) is made, so that the interior starts with a title page."""
        return self.cover and self.print_target.cover_wrap is None

    def geometry(self, page_count: int = 0) -> PageGeometry:
        """The page geometry of a book of `page_count` printed pages (0: not known yet); raises StorybookError
        on an unknown size, a bad bleed, or a bleed or crop marks the print target does not allow.

        The margins are kept symmetric (pages look the same on both sides of a spread), so a thick book's
        wider gutter (KDP: from 151 pages) widens every margin."""
        rules = self.print_target
        bleed = self.bleed
        if rules.bleed_in is not None:
            if parse_bleed(self.bleed) not in (0.0, rules.bleed_in * MM_PER_INCH):
                raise StorybookError(f"--target {rules.name} sets the bleed ({rules.bleed_in:g} in, as "
                                     f"{rules.service} asks): leave out --bleed")
            bleed = f"{rules.bleed_in}in"
        if self.crop_marks and not rules.marks_allowed:
            raise StorybookError(f"{rules.service} refuses files with crop or trim marks: leave out --crop-marks "
                                 f"with --target {rules.name}")
        geometry = PageGeometry.parse(self.size, bleed, self.crop_marks)
        safe_mm = max(rules.safe_mm, rules.gutter_in(page_count) * MM_PER_INCH if page_count else 0.0)
        return replace(geometry, bleed_at_binding=rules.bleed_at_binding, safe_mm=safe_mm)

    def sheets(self, page_count: int, moved: Collection[int] = ()) -> list[Sheet]:
        """The printed pages for a story of `page_count` pages, `moved` those whose text has a page of its own,
        padded to the print target's minimum page count."""
        rules = self.print_target
        return plan_sheets(page_count, self.layout, cover=self.cover, page_numbers=self.page_numbers,
                           moved=moved, padding=self.padding, title_page=self.cover_wrap,
                           min_pages=rules.min_pages, even=rules.even_pages)

    def validate(self) -> None:
        """Raise StorybookError if any option is unusable."""
        check_choice(self.paper, PAPERS, "paper")
        check_choice(self.paper_size, tuple(HOME_PAPERS), "paper size")
        check_choice(self.impose, IMPOSITIONS, "imposition")
        if self.impose != "none" and self.target != "home":
            raise StorybookError("--impose booklet is for a home printer: add --target home")
        if self.blurb and not self.cover_wrap:
            raise StorybookError("--blurb is printed on the back of the cover wrap, which only --target kdp makes "
                                 "(and not with --no-cover)")
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
