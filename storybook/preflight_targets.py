"""Preflight per print target: each rule the target's service publishes (storybook.targets) that the laid-out
book breaks, with the pages and the fix.

Rules are checked on weasyprint's laid-out pages, the boxes that will print: page size and bleed sides per
page, every visible line of text against the safe zone and the gutter, the page count, and picture resolution.
Fonts are checked in the written PDF (`check_fonts`). A broken rule is a "violation": the book is still written
(so that it can be looked at), and `make` exits non-zero (storybook.cli).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from storybook.layouts import Sheet
from storybook.options import BookOptions
from storybook.pictures import pixel_art
from storybook.preflight import MM_PER_CSS_PX, Finding, PreflightReport
from storybook.targets import MM_PER_INCH

if TYPE_CHECKING:
    import weasyprint

_TOLERANCE_MM = 0.05  # rounding of CSS px to mm
UPSCALE_FIX = ("upscale the pictures (--upscale MODEL_FILE, e.g. a 4x ESRGAN model from ComfyUI's "
               "models/upscale_models), choose a smaller trim (--size), or keep the bundled model's pixel-art style")

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in CSS px from the trim's top-left


def check_target(document: weasyprint.Document, options: BookOptions, sheets: list[Sheet],
                 report: PreflightReport) -> None:
    """Add the target's violations to `report` (its per-picture resolution warnings become one finding per
    rule: violations for photos, one note for pixel art)."""
    rules = options.print_target
    report.target = rules.name
    if not rules.rules_enforced:
        return
    pages = len(document.pages)
    findings = report.findings
    findings.extend(_page_boxes(document, options))
    findings.extend(_safe_zone(document, options, sheets))
    if pages < rules.min_pages or (rules.even_pages and pages % 2):
        findings.append(Finding("violation", "page-count", f"{pages} pages: {rules.service} needs at least "
                                f"{rules.min_pages}{' and an even count' if rules.even_pages else ''} (add story "
                                "pages; make pads with notes pages unless a layout option changed the count)"))
    padded = sum(sheet.kind == "notes" for sheet in sheets)
    if padded:
        findings.append(Finding("info", "page-count", f"{padded} notes pages were added at the end to reach "
                                f"{rules.service}'s minimum of {rules.min_pages} pages (or an even count)"))
    if rules.min_dpi:
        _resolution(report, rules.min_dpi, rules.service)
    if options.cover and rules.cover_wrap is not None and rules.min_pages:  # a service's bound book needs one
        findings.append(Finding("info", "cover-wrap", f"no cover.pdf: {rules.cover_wrap}"))


def _page_boxes(document: weasyprint.Document, options: BookOptions) -> Iterator[Finding]:
    """Each page is the trim plus the bleed on the sides the target puts it (none at a KDP binding edge)."""
    g = options.geometry()
    rules = options.print_target
    for number, page in enumerate(document.pages, start=1):
        outside, inside = ("right", "left") if number % 2 else ("left", "right")
        want = {"top": g.bleed_mm, "bottom": g.bleed_mm, outside: g.bleed_mm,
                inside: g.bleed_mm if rules.bleed_at_binding else 0.0}
        got = {side: value * MM_PER_CSS_PX for side, value in page.bleed.items()}
        size = (page.width * MM_PER_CSS_PX, page.height * MM_PER_CSS_PX)
        if any(abs(a - b) > _TOLERANCE_MM for a, b in zip(size, (g.width_mm, g.height_mm))):
            yield Finding("violation", "page-size", f"trim is {size[0]:.1f}x{size[1]:.1f} mm, not the "
                          f"{g.width_mm:.1f}x{g.height_mm:.1f} mm asked for (a page's own @page size)",
                          f"page {number}", number)
        wrong = [side for side in want if abs(got[side] - want[side]) > _TOLERANCE_MM]
        if wrong:
            yield Finding("violation", "bleed", f"bleed on the {', '.join(wrong)} edge is "
                          f"{', '.join(f'{got[s]:.2f}' for s in wrong)} mm; {rules.service} wants "
                          f"{', '.join(f'{want[s]:.2f}' for s in wrong)} mm (bleed on the outside edge, top and "
                          f"bottom{'' if rules.bleed_at_binding else ', none at the binding'})", f"page {number}",
                          number)


def _intersect(a: Rect, b: Rect) -> Rect | None:
    rect = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return rect if rect[0] < rect[2] and rect[1] < rect[3] else None


def visible_text(box, clip: Rect) -> Iterator[tuple[str, Rect]]:
    """(text, visible rectangle) of every non-blank text box under `box`, clipped by `overflow: hidden`
    ancestors: text a frame cuts off does not print, so it cannot break the safe zone (preflight's text
    overflow check reports it)."""
    from weasyprint.formatting_structure.boxes import TextBox

    box = getattr(box, "_box", box)  # an absolutely positioned box sits in its parent as a placeholder
    if isinstance(box, TextBox):
        if box.text.strip():
            rect = _intersect((box.position_x, box.position_y, box.position_x + box.width,
                               box.position_y + box.height), clip)
            if rect:
                yield box.text, rect
        return
    if box.style["overflow"] != "visible" and hasattr(box, "padding_box_x"):
        clip = _intersect(clip, (box.padding_box_x(), box.padding_box_y(),
                                 box.padding_box_x() + box.padding_width(),
                                 box.padding_box_y() + box.padding_height())) or (0, 0, 0, 0)
    for child in getattr(box, "children", ()):
        yield from visible_text(child, clip)


def _safe_zone(document: weasyprint.Document, options: BookOptions, sheets: list[Sheet]) -> Iterator[Finding]:
    """Every visible line of text at least the safe zone inside the trim, and the gutter from the binding."""
    g = options.geometry()
    rules = options.print_target
    safe = rules.safe_mm
    gutter = rules.gutter_in(len(document.pages)) * MM_PER_INCH
    width, height = g.width_mm / MM_PER_CSS_PX, g.height_mm / MM_PER_CSS_PX
    for number, page in enumerate(document.pages, start=1):
        binding = "left" if number % 2 else "right"
        need = {"top": safe, "bottom": safe, "left": safe, "right": safe, binding: max(safe, gutter)}
        worst: dict[str, tuple[float, str]] = {}
        for text, (x0, y0, x1, y1) in visible_text(page._page_box, (-1e9, -1e9, 1e9, 1e9)):
            gaps = {"left": x0, "top": y0, "right": width - x1, "bottom": height - y1}
            for side, gap in gaps.items():
                gap_mm = gap * MM_PER_CSS_PX
                if gap_mm < need[side] - _TOLERANCE_MM and gap_mm < worst.get(side, (1e9, ""))[0]:
                    worst[side] = (gap_mm, text.strip())
        for side, (gap_mm, text) in worst.items():
            kind = "gutter" if side == binding and gutter > safe else "safe zone"
            yield Finding("violation", "safe-zone", f"text {text[:30]!r} is {max(gap_mm, 0):.1f} mm from the "
                          f"{side} trim edge; {rules.service}'s {kind} is {need[side]:.1f} mm "
                          f"({need[side] / MM_PER_INCH:.3g} in): shorten the text, or choose a larger --size",
                          f"page {number}", number)


def _resolution(report: PreflightReport, min_dpi: int, service: str) -> None:
    """Pictures under the service's resolution: photos break the rule (one finding naming the pages);
    pixel art (tiny pictures printed as crisp squares, like the bundled model's) is said once, as intended."""
    low = [image for image in report.images if image.dpi < min_dpi]
    report.findings[:] = [f for f in report.findings if f.check != "image-dpi"]
    squares = [i for i in low if pixel_art(i.pixels)]
    photos = [i for i in low if i not in squares]
    if photos:
        pages = sorted({i.pdf_page for i in photos})
        lowest = min(i.dpi for i in photos)
        report.findings.append(Finding(
            "violation", "image-dpi", f"{len(photos)} pictures print under {service}'s {min_dpi} dpi (lowest "
            f"{lowest:.0f} dpi) on PDF pages {', '.join(map(str, pages))}: {UPSCALE_FIX}"))
    if squares:
        report.findings.append(Finding(
            "info", "pixel-art", f"{len(squares)} pictures are pixel art ({squares[0].pixels[0]} px wide, "
            "printed as crisp squares on purpose, not blurred); for smooth pictures, upscale them "
            "(--upscale MODEL_FILE)"))


def check_fonts(pdf: Path, service: str) -> list[Finding]:
    """Every font the PDF uses is embedded (print services refuse files whose fonts are not)."""
    from pypdf import PdfReader

    missing: dict[str, list[int]] = {}
    for number, page in enumerate(PdfReader(pdf).pages, start=1):
        fonts = page.get("/Resources", {}).get_object().get("/Font", {})
        for font in fonts.get_object().values() if fonts else ():
            font = font.get_object()
            descriptors = [font] + [d.get_object() for d in font.get("/DescendantFonts", [])]
            files = [d["/FontDescriptor"].get_object() for d in descriptors if "/FontDescriptor" in d]
            embedded = any(k in f for f in files for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            if not embedded:
                missing.setdefault(str(font.get("/BaseFont")), []).append(number)
    return [Finding("violation", "fonts", f"font {name} is not embedded (pages {', '.join(map(str, pages))}); "
                    f"{service} needs every font embedded: use the bundled font or --font FILE")
            for name, pages in missing.items()]
