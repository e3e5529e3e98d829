"""The cover wrap (`cover.pdf`, `--target kdp`): back cover, spine and front cover on one page, laid out by
weasyprint from cover.html.j2 like the interior.

KDP's rules (storybook.targets): width = bleed + back + spine + front + bleed, height = bleed + trim + bleed,
bleed 0.125 in; spine = interior pages x the paper's thickness; text on the spine only from 79 pages (a
thinner spine cannot hold a line); the back's lower-right barcode area (2 x 1.2 in) kept free, since KDP
prints the ISBN barcode there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storybook.errors import StorybookError
from storybook.fonts import FACES, FONT_FOLDER, font_families
from storybook.manifest import Story
from storybook.options import BookOptions
from storybook.pictures import WHITE, PictureLook, pixel_art
from storybook.render_html import generator, template_environment
from storybook.pagesize import MM_PER_UNIT
from storybook.targets import MM_PER_INCH, spine_in

COVER_NAME = "cover.pdf"
SPINE_TEXT_MIN_PAGES = 79
BARCODE_IN = (2.0, 1.2)
SPINE_CLEARANCE_IN = 0.0625  # KDP: space on each side of the spine text


@dataclass(frozen=True)
class CoverWrap:
    """The wrap's geometry in mm, from the trim's top-left corner (the back cover's top-left)."""

    trim_width_mm: float
    height_mm: float
    spine_mm: float
    bleed_mm: float
    safe_mm: float
    spine_text: bool

    @property
    def back_mm(self) -> float:
        return self.trim_width_mm

    @property
    def front_left_mm(self) -> float:
        return self.trim_width_mm + self.spine_mm

    @property
    def width_mm(self) -> float:
        """The trimmed wrap's width: back + spine + front (the PDF page adds the bleed on both sides)."""
        return 2 * self.trim_width_mm + self.spine_mm

    @property
    def barcode_width_mm(self) -> float:
        return BARCODE_IN[0] * MM_PER_INCH

    @property
    def barcode_height_mm(self) -> float:
        return BARCODE_IN[1] * MM_PER_INCH

    @property
    def barcode_left_mm(self) -> float:
        return self.back_mm - self.safe_mm - self.barcode_width_mm

    @property
    def barcode_top_mm(self) -> float:
        return self.height_mm - self.safe_mm - self.barcode_height_mm

    @property
    def blurb_height_mm(self) -> float:
        """The blurb fills the back above the barcode area, with a line's gap."""
        return self.barcode_top_mm - 2 * self.safe_mm

    @property
    def title_pt(self) -> float:
        return min(36.0, max(16.0, 26.0 * self.trim_width_mm / 148.0))

    @property
    def spine_text_mm(self) -> float:
        return max(0.0, self.spine_mm - 2 * SPINE_CLEARANCE_IN * MM_PER_INCH)

    @property
    def spine_pt(self) -> float:
        """The spine line's size: 70% of the space between the clearances, at most 14 pt."""
        return round(min(14.0, 0.7 * self.spine_text_mm / MM_PER_UNIT["pt"]), 2)


def cover_wrap(options: BookOptions, page_count: int) -> CoverWrap:
    """The wrap for a book of `page_count` interior pages printed with `options` (its trim and paper)."""
    rules = options.print_target
    if rules.cover_wrap is not None:
        raise StorybookError(rules.cover_wrap)
    g = options.geometry()
    return CoverWrap(trim_width_mm=g.width_mm, height_mm=g.height_mm,
                     spine_mm=spine_in(page_count, options.paper) * MM_PER_INCH, bleed_mm=g.bleed_mm,
                     safe_mm=rules.safe_mm, spine_text=page_count >= SPINE_TEXT_MIN_PAGES)


def cover_html(story: Story, options: BookOptions, page_count: int, looks: dict[str, PictureLook]) -> str:
    """The wrap's HTML, with image and font paths relative to the book folder."""
    wrap = cover_wrap(options, page_count)
    look = looks.get(story.pages[0].image)
    return template_environment().get_template("cover.html.j2").render(
        story=story, c=wrap, blurb=options.blurb, generator=generator(), fonts=FACES, font_folder=FONT_FOLDER,
        font_families=font_families(), edge=look.edge_colour if look else WHITE,
        scaling="crisp" if look and pixel_art(look.pixels) else "smooth")


def write_cover(story: Story, folder: Path, options: BookOptions, page_count: int,
                looks: dict[str, PictureLook]) -> Path:
    """Write `folder/cover.pdf` (the book's fonts and pictures are already in `folder`)."""
    from storybook.render_pdf import layout_pdf, write_pdf

    variant = options.print_target.pdf_variant
    document = layout_pdf(folder, variant, html=cover_html(story, options, page_count, looks))
    _check_fits(document)
    return write_pdf(document, Path(folder) / COVER_NAME, variant)


def _check_fits(document) -> None:
    """Refuse a title or blurb that its frame would cut: a cover is not printed with words missing."""
    what = {"title": "the title (--title)", "blurb": "the blurb (--blurb)"}
    for box in document.pages[0]._page_box.descendants(placeholders=True):
        box = getattr(box, "_box", box)  # absolutely positioned boxes sit in the tree as placeholders
        element = getattr(box, "element", None)
        part = element.get("data-part") if element is not None else None
        if part not in what or not getattr(box, "children", None):
            continue
        bottom = box.content_box_y() + box.height
        if max(child.position_y + child.margin_height() for child in box.children) > bottom + 0.5:
            raise StorybookError(f"{what[part]} does not fit on the cover wrap: shorten it")
