"""Preflight: what a print shop would check before printing the book.

Two passes. Before rendering, `check_sources` decodes every picture completely (a truncated JPEG would print
with its lower half missing; a decompression bomb or a huge text chunk is refused) and reports pictures that
are missing or unreadable (errors: the book cannot be made). After weasyprint has laid the book out,
`check_rendered` reads the layout boxes, so the numbers are the ones that will print, not an estimate: each
picture's effective resolution at its printed size, text that overflows its frame (as the words that are
lost), a word too long for its line, pictures that could not be drawn, and the page count parity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageFile, UnidentifiedImageError

from storybook.layouts import Sheet
from storybook.manifest import Story
from storybook.pictures import MIN_DPI, PictureLook, look_at

if TYPE_CHECKING:
    import weasyprint

CSS_PX_PER_INCH = 96  # weasyprint's layout unit
MM_PER_CSS_PX = 25.4 / CSS_PX_PER_INCH
_OVERFLOW_TOLERANCE_PX = 0.5


@dataclass
class Finding:
    """One problem (error: the book cannot be made), broken print-target rule (violation: the book is
    written, `make` exits non-zero), risk (warning) or hint (info)."""

    level: str
    check: str
    message: str
    where: str = "book"
    pdf_page: int | None = None


@dataclass
class PrintedImage:
    """A picture as it prints: its pixels, its printed size and the resolution that gives."""

    image: str
    where: str
    pdf_page: int
    pixels: tuple[int, int]
    printed_mm: tuple[float, float]
    dpi: float


@dataclass
class PreflightReport:
    """The result of both preflight passes, printable as text or JSON."""

    page_count: int = 0
    images: list[PrintedImage] = field(default_factory=list)
    target: str = "screen"  # the print target whose rules were checked (storybook.targets)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "violation"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def to_dict(self) -> dict:
        """JSON-ready form (the CLI's `--json` output, with the output paths added)."""
        return {"ok": not self.errors and not self.violations, "target": self.target,
                "page_count": self.page_count, "min_dpi": MIN_DPI,
                "images": [asdict(i) for i in self.images], "findings": [asdict(f) for f in self.findings]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def format(self) -> str:
        """Human-readable report: a summary line, then one line per finding."""
        lowest = min((i.dpi for i in self.images), default=None)
        summary = (f"preflight: {self.page_count} pages, {len(self.images)} pictures"
                   + (f" (lowest {lowest:.0f} dpi)" if lowest is not None else "")
                   + f"; {len(self.errors)} errors, "
                   + (f"{len(self.violations)} print rules broken, " if self.violations else "")
                   + f"{len(self.warnings)} warnings")
        lines = [summary]
        for f in self.findings:
            where = f.where + (f" (PDF page {f.pdf_page})" if f.pdf_page else "")
            lines.append(f"  {f.level}: {where}: {f.message}")
        return "\n".join(lines)


def check_sources(story: Story, sources: Mapping[str, Path | Image.Image]) -> tuple[dict[str, PictureLook], list[Finding]]:
    """How every picture looks (size, edge colour: read in the same full decode), and an error for each
    picture that is missing or unreadable."""
    looks: dict[str, PictureLook] = {}
    findings: list[Finding] = []
    for number, page in enumerate(story.pages, start=1):
        if page.image in looks:
            continue
        source = sources.get(page.image)
        where = f"page {number}"
        if isinstance(source, Image.Image):
            looks[page.image] = look_at(source)
        elif source is None or not Path(source).is_file():
            findings.append(Finding("error", "missing-image", f"picture {page.image!r} not found"
                                    + (f" at {source}" if source is not None else ""), where))
        else:
            finding = _decode(Path(source), page.image, where, looks)
            if finding:
                findings.append(finding)
    return looks, findings


def _decode(source: Path, name: str, where: str, looks: dict[str, PictureLook]) -> Finding | None:
    """Decode the whole picture (not only its header) and record how it looks; a Finding if that fails.

    weasyprint sets Pillow's LOAD_TRUNCATED_IMAGES when it is imported (so a process that has made one PDF
    would accept a truncated JPEG here); it is switched off for this decode and restored after."""
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(source) as image:
            image.load()
            look = look_at(image)
    except Image.DecompressionBombError as e:
        return Finding("error", "image-too-large", f"picture {name!r} at {source} has too many pixels to print "
                       f"safely ({e}); scale it down (a print page needs at most about 8000x8000)", where)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        # OSError: truncated or corrupt data; ValueError: e.g. a PNG text chunk inflating past Pillow's limit.
        return Finding("error", "unreadable-image", f"picture {name!r} at {source} is not a readable image, "
                       f"damaged or truncated ({e}); export it again", where)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    looks[name] = look
    return None


def _scale(box_w: float, box_h: float, pixels: tuple[int, int], fit: str) -> tuple[float, float]:
    """CSS px per image pixel along x and y for a picture drawn into a box with `object-fit: fit`."""
    sx, sy = box_w / pixels[0], box_h / pixels[1]
    if fit == "cover":
        return (max(sx, sy),) * 2
    if fit == "contain":
        return (min(sx, sy),) * 2
    return sx, sy


def _cropped(box_w: float, box_h: float, pixels: tuple[int, int], sx: float, sy: float) -> str | None:
    """How much of a picture a frame crops ("31% of its width"), None if under 1%."""
    parts = []
    for name, frame, drawn in (("width", box_w, pixels[0] * sx), ("height", box_h, pixels[1] * sy)):
        lost = 1 - frame / drawn
        if lost >= 0.01:
            parts.append(f"{100 * lost:.0f}% of its {name}")
    return " and ".join(parts) or None


def _where(sheet: Sheet, data_page: str) -> str:
    return "cover" if sheet.kind in ("cover", "title-page") else f"page {data_page}"


def _text_findings(frame, where: str, pdf_page: int) -> list[Finding]:
    """Text cut off at the frame's bottom (counted in words, which is what a reader loses) and words
    too long for a line (an unbroken string runs off the side of the page)."""
    from weasyprint.formatting_structure.boxes import LineBox, TextBox

    bottom = frame.content_box_y() + frame.height
    right = frame.content_box_x() + frame.width
    inner = max((c.position_y + c.margin_height() for c in frame.children), default=bottom)
    findings, shown, widest = [], 0, None
    for line in frame.descendants():
        if not isinstance(line, LineBox):
            continue
        if line.position_y + line.height <= bottom + _OVERFLOW_TOLERANCE_PX:
            shown += sum(len(t.text.split()) for t in line.descendants() if isinstance(t, TextBox))
        for text in (t for t in line.descendants() if isinstance(t, TextBox)):
            if text.position_x + text.width > right + _OVERFLOW_TOLERANCE_PX:
                longest = max(text.text.split(), key=len, default="")
                widest = max(widest or longest, longest, key=len)
    if inner - bottom > _OVERFLOW_TOLERANCE_PX:
        # weasyprint stops laying out lines some way past the frame, so count the words of the whole text.
        total = max(len("".join(frame.element.itertext()).split()), shown)
        lost = total - shown
        findings.append(Finding(
            "warning", "text-overflow",
            f"text does not fit: {lost} of {total} words ({100 * lost // max(total, 1)}%) are not printed, "
            f"{(inner - bottom) * MM_PER_CSS_PX:.1f} mm is cut off (shorten the text or choose a larger page size)",
            where, pdf_page))
    if widest is not None:
        findings.append(Finding(
            "warning", "word-too-long",
            f"a word of {len(widest)} characters ({widest[:20]!r}...) is wider than the text frame and runs off "
            "the page (break it with spaces or hyphens)", where, pdf_page))
    broken = _broken_words(frame)
    if broken:
        findings.append(Finding(
            "info", "word-broken",
            f"a word of {len(broken)} characters ({broken[:20]!r}) is wider than the line and no hyphenation "
            "point fits, so it is broken across lines (add a hyphen or a space where it may break)", where, pdf_page))
    return findings


def _broken_words(frame) -> str | None:
    """The longest word that the layout broke between two letters (CSS overflow-wrap) rather than at a space or
    a hyphenation point (where the line ends with a hyphen); None if there is none. Scripts written without
    spaces (CJK) break between any two characters, so their line ends are not broken words."""
    import unicodedata

    from weasyprint.formatting_structure.boxes import LineBox, TextBox

    lines = ["".join(t.text for t in line.descendants() if isinstance(t, TextBox))
             for line in frame.descendants() if isinstance(line, LineBox)]
    words = "".join(frame.element.itertext()).split()
    longest = None
    for before, after in zip(lines, lines[1:]):
        if not (before and after and before[-1].isalnum() and after[0].isalnum()) \
                or unicodedata.east_asian_width(before[-1]) in ("W", "F"):
            continue
        joined = before.split()[-1] + after.split()[0]
        word = next((w for w in words if joined in w), None)
        if word and (longest is None or len(word) > len(longest)):
            longest = word
    return longest


def check_rendered(document: weasyprint.Document, story: Story, sheets: list[Sheet],
                   pixels: Mapping[str, tuple[int, int]]) -> PreflightReport:
    """Measure the laid-out book: resolution of each picture, text overflow, undrawn pictures, parity."""
    from weasyprint.formatting_structure.boxes import BlockBox, ReplacedBox

    report = PreflightReport(page_count=len(document.pages))
    seen: set[int] = set()
    for pdf_page, (page, sheet) in enumerate(zip(document.pages, sheets), start=1):
        # `_page_box` is the laid-out page; weasyprint has no public API for box geometry.
        for box in page._page_box.descendants(placeholders=True):
            element = getattr(box, "element", None)
            data_page = element.get("data-page") if element is not None else None
            # An element's first box is its principal box; anonymous boxes inside it share the element.
            if data_page is None or id(element) in seen:
                continue
            seen.add(id(element))
            where = _where(sheet, data_page)
            if box.element_tag == "img":
                image = story.pages[int(data_page) - 1].image
                if not isinstance(box, ReplacedBox):
                    report.findings.append(Finding("error", "image-not-drawn",
                                                   f"picture {image!r} could not be drawn", where, pdf_page))
                    continue
                sx, sy = _scale(box.width, box.height, pixels[image], box.style["object_fit"])
                dpi = min(CSS_PX_PER_INCH / sx, CSS_PX_PER_INCH / sy)
                printed = (round(pixels[image][0] * sx * MM_PER_CSS_PX, 1),
                           round(pixels[image][1] * sy * MM_PER_CSS_PX, 1))
                report.images.append(PrintedImage(image, where, pdf_page, pixels[image], printed, round(dpi, 1)))
                cropped = _cropped(box.width, box.height, pixels[image], sx, sy)
                if cropped:
                    report.findings.append(Finding(
                        "info", "picture-cropped", f"picture {image!r} is cropped to fill its frame: {cropped} "
                        "(--fit contain shows all of it; a page's \"focus\" in story.json picks what stays)",
                        where, pdf_page))
                if dpi < MIN_DPI:
                    report.findings.append(Finding(
                        "warning", "image-dpi",
                        f"picture {image!r} ({pixels[image][0]}x{pixels[image][1]} px) prints at "
                        f"{printed[0]:.0f}x{printed[1]:.0f} mm: {dpi:.0f} dpi, under {MIN_DPI} "
                        "(use a larger picture: make --upscale MODEL_FILE, or ComfyUI's Upscale Image (using "
                        "Model); or a smaller page size)", where, pdf_page))
            elif isinstance(box, BlockBox) and "frame" in (element.get("class") or "").split():
                report.findings.extend(_text_findings(box, where, pdf_page))
    if report.page_count % 2:
        report.findings.append(Finding("warning", "page-parity",
                                       f"{report.page_count} pages is an odd count: a printer adds a blank page "
                                       "at the end (add or remove a page, use --no-cover, or pad with "
                                       "--booklet-pad blank or end)"))
    elif report.page_count % 4:
        report.findings.append(Finding("info", "page-parity",
                                       f"{report.page_count} pages: a stapled booklet needs a multiple of 4 "
                                       "(--booklet-pad blank or end adds the pages)"))
    return report
