"""Text that fits: every page's words printed, measured with weasyprint itself.

A text frame is a fixed box on a fixed-size page (storybook.render_html), so text that is too long would be cut
off at the frame's edge. Instead the book is laid out, the frames whose text is taller than the frame are read
from weasyprint's layout boxes, and only those frames change: their text shrinks (by the square root of the
height ratio, since shrinking the type shortens both the lines and their number) down to a floor of
FLOOR_PT, 11 pt, the smallest size picture-book and early-reader typography uses for body text; a frame
already smaller than that keeps its size. A story page whose text does not fit at the floor keeps its picture
on its own page and has its text set on the next page, a text page (MOVABLE layouts); text that does not fit
even there, or a title or caption that cannot move, is refused naming the page, since nothing is ever cut.
Each round is one layout of the whole book; books whose text fits are laid out once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from storybook.errors import StorybookError
from storybook.layouts import MOVABLE, Sheet
from storybook.preflight import Finding

if TYPE_CHECKING:
    import weasyprint

FLOOR_PT = 11.0
_PX_PER_PT = 96 / 72
_TOLERANCE_PX = 0.5
_MAX_ROUNDS = 8
_MARGIN = 0.98  # aim a little below the measured ratio: line breaks make text height a step function
_HOPELESS = 0.85  # a scale this far under the floor will not fit at the floor either


@dataclass(frozen=True)
class Fit:
    """What measuring changed: a font scale per text frame key ("title", "author", "page-3") and the story
    pages (0-based) whose text is set on a text page of its own."""

    scales: dict[str, float] = field(default_factory=dict)
    moved: frozenset[int] = frozenset()

    def scale(self, key: str) -> float:
        return self.scales.get(key, 1.0)

    def percent(self, key: str) -> str:
        """The CSS font-size of the frame's text relative to its layout's size ("" when unchanged)."""
        scale = self.scale(key)
        return "" if scale == 1.0 else f"{100 * scale:.1f}%"


@dataclass(frozen=True)
class Overflow:
    """One text frame whose content is taller than the frame."""

    key: str
    shown: float  # the fraction of the text that fits (0-1)
    font_px: float  # the text's laid-out size (the frame's size times its current scale)


def frame_key(page: int) -> str:
    """The fit key of story page `page` (0-based)."""
    return f"page-{page + 1}"


def overflows(document: weasyprint.Document) -> list[Overflow]:
    """The text frames (elements with `data-fit`) whose laid-out content does not fit their height."""
    from weasyprint.formatting_structure.boxes import BlockBox, LineBox, TextBox

    found, seen = [], set()
    for page in document.pages:
        # `_page_box` is the laid-out page; weasyprint has no public API for box geometry.
        for box in page._page_box.descendants(placeholders=True):
            element = getattr(box, "element", None)
            if not isinstance(box, BlockBox) or element is None or element.get("data-fit") is None \
                    or id(element) in seen:
                continue
            seen.add(id(element))
            bottom = box.content_box_y() + box.height
            inner = max((c.position_y + c.margin_height() for c in box.children), default=bottom)
            if inner - bottom > _TOLERANCE_PX:
                # weasyprint stops laying out lines some way past the frame, so the height laid out understates
                # the text; the characters on the lines that fit, out of all the text's characters, do not.
                shown = sum(_letters(t.text) for line in box.descendants() if isinstance(line, LineBox)
                            and line.position_y + line.height <= bottom + _TOLERANCE_PX
                            for t in line.descendants() if isinstance(t, TextBox))
                total = max(_letters("".join(element.itertext())), 1)
                fraction = min(shown / total, box.height / (inner - box.content_box_y()))
                text = box.children[0] if box.children else box
                found.append(Overflow(element.get("data-fit"), fraction, text.style["font_size"]))
    return found


def _letters(text: str) -> int:
    return sum(not ch.isspace() for ch in text)


def _refuse(key: str, reason: str) -> StorybookError:
    where = "the cover's " + key if key in ("title", "author") else key.replace("-", " ")
    return StorybookError(f"{where}: {reason}; shorten the text or choose a larger page size (--size)")


def next_fit(fit: Fit, found: list[Overflow], layout: str) -> Fit:
    """The fit for the next round: overflowing frames shrunk toward the floor, or moved once they are at it."""
    scales, moved = dict(fit.scales), set(fit.moved)
    for overflow in found:
        current = fit.scale(overflow.key)
        floor = min(1.0, FLOOR_PT * _PX_PER_PT / (overflow.font_px / current))
        wanted = current * min(_MARGIN, math.sqrt(overflow.shown) * _MARGIN)
        page = int(overflow.key.split("-")[1]) - 1 if overflow.key.startswith("page-") else None
        movable = page is not None and layout in MOVABLE and page not in moved
        # Far under the floor: move at once rather than lay the book out again only to learn it does not fit.
        if current > floor + 1e-3 and not (movable and wanted < _HOPELESS * floor):
            scales[overflow.key] = max(floor, wanted)
            continue
        if not movable:
            raise _refuse(overflow.key, f"the text does not fit its frame even at {FLOOR_PT:g} pt")
        moved.add(page)
        scales.pop(overflow.key, None)  # a text page has room: start again at the layout's size
    return replace(fit, scales=scales, moved=frozenset(moved))


def fit_text(lay_out: Callable[[Fit], weasyprint.Document], layout: str) -> tuple[weasyprint.Document, Fit]:
    """Lay the book out (`lay_out(fit)` writes the HTML with `fit` and lays it out) until every text fits."""
    fit = Fit()
    for _ in range(_MAX_ROUNDS):
        document = lay_out(fit)
        found = overflows(document)
        if not found:
            return document, fit
        fit = next_fit(fit, found, layout)
    raise _refuse(found[0].key, f"the text could not be fitted in {_MAX_ROUNDS} layouts")


def fit_findings(fit: Fit, sheets: list[Sheet]) -> list[Finding]:
    """Preflight notes (info) for each frame whose text was set smaller, and each page whose text moved."""
    first_sheet = {}
    for sheet in sheets:
        for page in sheet.pages:
            first_sheet.setdefault((sheet.kind == "spread-text", page), sheet.number)
    findings = []
    for key, scale in sorted(fit.scales.items()):
        page = int(key.split("-")[1]) - 1 if key.startswith("page-") else 0
        where = "cover" if key in ("title", "author") else key.replace("-", " ")
        findings.append(Finding("info", "text-shrunk", f"the text is set at {100 * scale:.0f}% of the layout's size "
                                f"to fit its frame (never under {FLOOR_PT:g} pt)", where,
                                first_sheet.get((page in fit.moved, page))))
    for page in sorted(fit.moved):
        findings.append(Finding("info", "text-moved", f"the text does not fit under the picture even at "
                                f"{FLOOR_PT:g} pt, so it is set on the following text page", f"page {page + 1}",
                                first_sheet.get((True, page))))
    return findings
