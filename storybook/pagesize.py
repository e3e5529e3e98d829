"""Page sizes, bleed and the safe zone, parsed from the short strings users type (`a5`, `6x9in`, `3mm`).

Everything is kept in millimetres because CSS (and so both renderers) takes millimetres directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storybook.errors import StorybookError

MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72, "px": 25.4 / 96}
PRESETS = {"a4": (210.0, 297.0), "a5": (148.0, 210.0), "letter": (215.9, 279.4)}
COMMON_SIZES = ("a4", "a5", "letter", "8x8in", "8.5x8.5in")  # what a list of choices offers (the ComfyUI node)
SIZE_HELP = f"{', '.join(COMMON_SIZES)} or any WxH with a unit (mm, cm, in, pt, px), e.g. 6x9in, 150x150mm"
_NUMBER = r"(\d+(?:\.\d+)?)"
_UNIT = r"(mm|cm|in|pt|px)"
_SIZE = re.compile(rf"^{_NUMBER}{_UNIT}?x{_NUMBER}{_UNIT}$")
_LENGTH = re.compile(rf"^{_NUMBER}{_UNIT}?$")
MIN_SIDE_MM, MAX_SIDE_MM, MAX_BLEED_MM = 25.0, 1200.0, 25.0


def parse_size(text: str) -> tuple[float, float]:
    """`a4`, `letter`, `6x9in`, `150x150mm`, `15cmx20cm` -> (width, height) in mm."""
    key = text.strip().lower().replace(" ", "")
    if key in PRESETS:
        return PRESETS[key]
    match = _SIZE.match(key)
    if not match:
        raise StorybookError(f"unknown page size {text!r}: use {SIZE_HELP}")
    w, w_unit, h, h_unit = match.groups()
    width, height = float(w) * MM_PER_UNIT[w_unit or h_unit], float(h) * MM_PER_UNIT[h_unit]
    for side in (width, height):
        if not MIN_SIDE_MM <= side <= MAX_SIDE_MM:
            raise StorybookError(f"page size {text!r}: each side must be between {MIN_SIDE_MM:g} mm "
                                 f"and {MAX_SIDE_MM:g} mm")
    return width, height


def parse_bleed(text: str) -> float:
    """`3mm`, `0.125in`, `0` -> bleed in mm (a bare number other than 0 needs a unit)."""
    key = text.strip().lower().replace(" ", "")
    match = _LENGTH.match(key)
    if not match or (match.group(2) is None and float(match.group(1)) != 0):
        raise StorybookError(f"bleed {text!r} is not a length: write e.g. 3mm, 0.125in or 0")
    mm = float(match.group(1)) * MM_PER_UNIT[match.group(2) or "mm"]
    if mm > MAX_BLEED_MM:
        raise StorybookError(f"bleed {text!r} is more than {MAX_BLEED_MM:g} mm; printers ask for 3 mm or 0.125 in")
    return mm


@dataclass(frozen=True)
class PageGeometry:
    """The trimmed page, the bleed around it, and the derived safe zone and text size.

    `bleed_at_binding` False puts the bleed on the outside edge, top and bottom only (KDP): right on odd
    (right-hand) pages, left on even ones. `safe_mm` is the print target's safe zone: no text nearer the trim.
    """

    width_mm: float
    height_mm: float
    bleed_mm: float = 0.0
    crop_marks: bool = False
    bleed_at_binding: bool = True
    safe_mm: float = 0.0

    @classmethod
    def parse(cls, size: str, bleed: str = "0", crop_marks: bool = False) -> PageGeometry:
        """Build from user strings; crop marks are drawn in the bleed, so they need a bleed."""
        width, height = parse_size(size)
        bleed_mm = parse_bleed(bleed)
        if crop_marks and bleed_mm == 0:
            raise StorybookError("crop marks are drawn in the bleed area: also give a bleed, e.g. --bleed 3mm")
        return cls(width, height, bleed_mm, crop_marks)

    @property
    def margin_mm(self) -> float:
        """Margin of the text frames inside the trim: printers cut within a few mm, so text stays clear of the
        edge, and never nearer than the print target's safe zone."""
        return max(5.0, 0.08 * min(self.width_mm, self.height_mm), self.safe_mm)

    @property
    def font_pt(self) -> float:
        """Story text size: 13 pt on an A5-wide page, scaled with the page, kept readable."""
        return min(20.0, max(8.0, 13.0 * min(self.width_mm, self.height_mm) / 148.0))
