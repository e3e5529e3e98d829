"""The book as HTML: one jinja2 template for both the screen preview and the print PDF.

Sizes of the picture and text frames are computed here, in millimetres, from the page geometry, so that
every sheet is a fixed-size page whatever its content: text that does not fit is clipped (and reported
by preflight) instead of pushing the rest of the book onto extra pages.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from datetime import datetime
from functools import cache
from urllib.parse import quote
from importlib import metadata
from pathlib import Path

import jinja2

from storybook.fitting import Fit, frame_key
from storybook.fonts import FONT_FOLDER, faces, font_families
from storybook.layouts import PHOTO_ROWS_PER_SHEET
from storybook.manifest import Page, Story
from storybook.options import BookOptions
from storybook.pagesize import MM_PER_UNIT, PageGeometry
from storybook.pictures import WHITE, PictureLook, backdrop_path, pixel_art

TEMPLATES = Path(__file__).parent / "templates"
HTML_NAME = "index.html"
# What no page, e-book or metadata field may hold, yet a model or a pasted text can: control characters (NUL
# included), lone surrogates, and the noncharacters (U+FDD0..U+FDEF and the last two code points of every
# plane; U+FFFE and U+FFFF are not even XML characters). Dropping them here makes every text XML-legal for
# the EPUB's XHTML, package document and navigation, ComicInfo.xml and the PDF's metadata alike.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                          + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}"
                                    for plane in range(17)) + "]")
_LONE_WORD_MAX = 12  # characters: a longer last word is a line's worth on its own, and joining it could overflow


def direction(text: str) -> str:
    """"rtl" or "ltr": the direction of the first strongly directional character, as HTML's dir="auto" decides
    (weasyprint does not implement dir="auto", so the page gets the decided value)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def unwidowed(text: str) -> str:
    """`text` with its last two words joined by a no-break space, so that the last line is never one lone
    word when a line break before it can be avoided (weasyprint has no `text-wrap: balance`)."""
    head, space, last = text.rstrip().rpartition(" ")
    if not space or " " not in head.strip() or len(last) > _LONE_WORD_MAX or "\n" in last:
        return text
    return f"{head}\u00a0{last}"


def generator() -> str:
    """The name written into the HTML and PDF metadata as the producing program."""
    try:
        return f"minigpt5-storybook {metadata.version('minigpt5-storybook')}"
    except metadata.PackageNotFoundError:
        return "minigpt5-storybook"


def printable(text: str) -> str:
    """`text` without the characters that no page, e-book or metadata field may hold (the `printable`
    template filter; the EPUB's and the CBZ's metadata go through it too)."""
    return _UNPRINTABLE.sub("", text)


def w3c_date(created: str) -> str:
    """`created` (any ISO 8601 form the manifest accepts: week dates, basic format, ...) as the W3C date-time
    profile that PDF metadata takes from `<meta name="dcterms.created">` (weasyprint drops any other form with a
    warning, and the PDF then has no creation date). A time without a zone gives the date alone: the profile
    needs a zone with a time, and guessing one would move the moment."""
    moment = datetime.fromisoformat(created)
    if moment.tzinfo is None:
        return moment.date().isoformat()
    stamp = moment.replace(microsecond=0).isoformat()
    return stamp[:-len("+00:00")] + "Z" if stamp.endswith("+00:00") else stamp


@cache
def template_environment() -> jinja2.Environment:
    # Autoescaping is forced on for every template (not only *.html): story text comes from a model.
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["printable"] = printable
    environment.filters["unwidowed"] = unwidowed
    environment.filters["direction"] = direction
    environment.filters["w3c_date"] = w3c_date
    return environment


def frame_sizes(g: PageGeometry) -> dict[str, float]:
    """Positions and sizes (mm, from the trim's top-left) of the frames each sheet kind uses."""
    m = g.margin_mm
    safe_h = g.height_mm - 2 * m
    gap = 0.04 * safe_h
    photo_gap = 0.03 * safe_h
    band_padding = 0.35 * g.font_pt * MM_PER_UNIT["pt"]
    sizes = {
        "left": m, "top": m, "width": g.width_mm - 2 * m,
        # The page number's box sits on the safe zone's edge (a print target's) or near the trim (screen).
        "folio_bottom": max(0.3 * m, g.safe_mm),
        "cover_title_top": m + 0.04 * safe_h, "cover_title_height": 0.22 * safe_h,
        "cover_title_max_height": 0.45 * safe_h,
        "cover_picture_top": m + 0.28 * safe_h, "cover_picture_height": 0.58 * safe_h,
        "cover_author_top": m + 0.89 * safe_h, "cover_author_height": 0.11 * safe_h,
        "above_picture_height": 0.62 * safe_h,
        "above_text_top": m + 0.62 * safe_h + gap, "above_text_height": 0.38 * safe_h - gap,
        "band_bottom": m, "band_max_height": 0.4 * safe_h, "band_padding": band_padding,
        "spread_text_top": m + 0.2 * safe_h, "spread_text_height": 0.8 * safe_h,
        "photo_row": (safe_h - (PHOTO_ROWS_PER_SHEET - 1) * photo_gap) / PHOTO_ROWS_PER_SHEET,
        "photo_gap": photo_gap, "photo_column": 0.48 * (g.width_mm - 2 * m),
        **_band_sizes(g),
    }
    return {key: round(value, 3) for key, value in sizes.items()}


def band_picture_height(width: float, height: float) -> float:
    """A picture-book page's picture: as tall as the page is wide, kept between 60% and 75% of the height
    (any unit), so that the text band below it holds four lines on any page shape."""
    return min(max(width, 0.6 * height), 0.75 * height)


def _band_sizes(g: PageGeometry) -> dict[str, float]:
    """The picture-book page: a square picture spans the page width edge to edge (A5: 148 mm of 210), kept
    between 60% and 75% of the height so that the text band below it holds four lines on any page shape."""
    m = g.margin_mm
    picture = band_picture_height(g.width_mm, g.height_mm)
    gap = 0.03 * g.height_mm
    return {"band_picture_height": picture, "band_text_top": picture + gap,
            "band_text_height": g.height_mm - picture - gap - max(0.9 * m, g.safe_mm)}


def picture_styles(story: Story, looks: dict[str, PictureLook],
                   names: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Per image path: its scaling class ("crisp" or "smooth"), the colour of its border ("edge") and the CSS
    background that fills its frame around it ("backdrop": the blurred copy over the edge colour). `names`: the
    name each picture has where the styles are used (the EPUB renames them), if not its own."""
    styles = {}
    for page in story.pages:
        look = looks.get(page.image)
        edge = look.edge_colour if look else WHITE
        backdrop = backdrop_path((names or {}).get(page.image, page.image))
        styles[page.image] = {
            "scaling": "crisp" if look and pixel_art(look.pixels) else "smooth", "edge": edge,
            "backdrop": f"{edge} url({quote(backdrop)}) center / cover no-repeat" if look else edge}
    return styles


def object_position(page: Page) -> str:
    """Where a cropped picture (`--fit cover`) is anchored: the page's focal point, else the centre."""
    return f"{100 * page.focus[0]:g}% {100 * page.focus[1]:g}%" if page.focus else "50% 50%"


def book_html(story: Story, options: BookOptions, looks: dict[str, PictureLook] | None = None, fit: Fit = Fit(),
              folder: Path | None = None) -> str:
    """The complete HTML of the book, with image and font paths relative to the story folder; `fit` is how
    measuring changed text sizes and pages (storybook.fitting), `folder` where the book will be (for the
    preview's edit hint)."""
    sheets = options.sheets(len(story.pages), fit.moved)
    geometry = options.geometry(len(sheets))
    template = template_environment().get_template("book.html.j2")
    redrawable = all(page.features for page in story.pages)
    return template.render(story=story, sheets=sheets, g=geometry,
                           fit=fit, frame_key=frame_key,
                           folder=shlex.quote(str(Path(folder).resolve())) if folder is not None else "BOOK",
                           redrawable=redrawable,
                           f=frame_sizes(geometry), rows=PHOTO_ROWS_PER_SHEET, generator=generator(),
                           layout=options.layout, pictures=picture_styles(story, looks or {}),
                           object_position=object_position, fit_mode=options.fit,
                           fonts=faces(options.fonts), font_folder=FONT_FOLDER,
                           font_families=font_families(options.fonts))


def write_html(story: Story, folder: Path, options: BookOptions, looks: dict[str, PictureLook] | None = None,
               fit: Fit = Fit(), final_folder: Path | None = None) -> Path:
    """Write `folder/index.html`; with the images and fonts beside it the folder is a self-contained preview
    (`final_folder`: where the book is published, when `folder` is where it is built)."""
    path = Path(folder) / HTML_NAME
    path.write_text(book_html(story, options, looks, fit, final_folder or folder), encoding="utf-8")
    return path
