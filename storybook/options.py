"""How a book is laid out: page size, bleed, crop marks, layout, cover and page numbers.

Options are kept as the strings a user types (`"a5"`, `"3mm"`) so that the CLI and the ComfyUI node
pass them through unchanged; `validate()` turns them into geometry and reports a bad value before any
work starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from storybook.layouts import Sheet, check_layout, plan_sheets
from storybook.pagesize import PageGeometry

DEFAULT_SIZE = "a5"
DEFAULT_LAYOUT = "image-above-text"


@dataclass(frozen=True)
class BookOptions:
    """Everything about the printed form of a book; the story itself is in the manifest."""

    size: str = DEFAULT_SIZE
    layout: str = DEFAULT_LAYOUT
    bleed: str = "0"
    crop_marks: bool = False
    cover: bool = True
    page_numbers: bool = True

    def geometry(self) -> PageGeometry:
        """The page geometry; raises StorybookError on an unknown size or a bad bleed."""
        return PageGeometry.parse(self.size, self.bleed, self.crop_marks)

    def sheets(self, page_count: int) -> list[Sheet]:
        """The printed pages for a story of `page_count` pages."""
        return plan_sheets(page_count, self.layout, cover=self.cover, page_numbers=self.page_numbers)

    def validate(self) -> None:
        """Raise StorybookError if any option is unusable."""
        self.geometry()
        check_layout(self.layout)
