"""Print targets: the published rules of the services a book is printed by (`--target kdp|lulu|home|screen`).

One place holds each service's numbers (bleed, safe zone, gutter, minimum page count, marks, PDF variant,
resolution, cover spine); page geometry, the cover wrap, imposition and preflight all read them from here,
so that what is laid out and what is checked cannot disagree. The numbers are the ones the services publish
(gathered 2026-12, listed in docs/printing.md): check their help pages before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from storybook.errors import StorybookError
from storybook.pagesize import MM_PER_UNIT

MM_PER_INCH = MM_PER_UNIT["in"]
# KDP's paper thickness per page (inches), which makes the spine width: pages x thickness.
KDP_PAPER_INCH = {"white": 0.002252, "cream": 0.0025, "color": 0.002252, "premium-color": 0.002347}
PAPERS = tuple(KDP_PAPER_INCH)
PAPER_HELP = ("KDP paper, which sets the cover's spine width: white or color (0.002252 in per page), cream (0.0025), "
              "premium-color (0.002347)")
# KDP's gutter (inside margin) grows with the page count: (up to this many pages, gutter in inches).
KDP_GUTTER_INCH = ((150, 0.375), (300, 0.5), (500, 0.625), (700, 0.75), (828, 0.875))
# Sheets a home printer takes, and the page size that folds from half of one.
HOME_PAPERS = {"a4": ("a4", "a5"), "letter": ("letter", "5.5x8.5in")}
HOME_PAPER_HELP = "home printer paper: a4 or letter (default: letter where the locale is in the US or Canada, else a4)"
IMPOSITIONS = ("none", "booklet")
IMPOSE_HELP = ("with --target home, booklet: pages two to a landscape sheet in saddle-stitch order (padded to a "
               "multiple of 4), so that printing double-sided (flip on the short edge) and folding gives the book")
# Countries whose printers load Letter paper (the rest of the world uses A4).
_LETTER_TERRITORIES = {"US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PR"}


@dataclass(frozen=True)
class Target:
    """A print service's rules for a book's interior (and, where sourced, its cover wrap)."""

    name: str
    service: str  # how preflight names the service
    bleed_in: float | None  # None: the user's --bleed (screen); else the service's bleed
    bleed_at_binding: bool  # False: the binding edge gets no bleed (KDP)
    safe_in: float  # text at least this far inside the trim (outside, top, bottom)
    min_pages: int  # the book is padded with blank pages up to this count
    even_pages: bool
    marks_allowed: bool
    pdf_variant: str | None  # weasyprint's pdf_variant
    min_dpi: int | None  # pictures under this resolution break the service's rule (None: only a warning)
    cover_wrap: str | None  # None: a cover.pdf is made; else the reason why not

    def gutter_in(self, page_count: int) -> float:
        """The inside margin the service asks for a book of `page_count` pages."""
        if self.name != "kdp":
            return self.safe_in
        return next((gutter for pages, gutter in KDP_GUTTER_INCH if page_count <= pages), KDP_GUTTER_INCH[-1][1])

    @property
    def safe_mm(self) -> float:
        return self.safe_in * MM_PER_INCH

    @property
    def rules_enforced(self) -> bool:
        """Whether breaking the target's rules makes `make` exit non-zero (print services; not screen)."""
        return self.name != "screen"


TARGETS = {
    # Today's behaviour: no service's rules; bleed and crop marks as the user asks.
    "screen": Target("screen", "screen", None, True, 0.0, 0, False, True, None, None,
                     "--target screen makes no cover wrap: use --target kdp"),
    # KDP paperback interior with bleed: bleed on the outside edge, top and bottom; 0.375 in safe zone.
    "kdp": Target("kdp", "Amazon KDP", 0.125, False, 0.375, 24, True, False, "pdf/x-4", 300, None),
    # Lulu paperback (perfect bound): bleed on all four sides, 0.5 in safety margin, at least 32 pages.
    "lulu": Target("lulu", "Lulu", 0.125, True, 0.5, 32, True, False, "pdf/x-4", 300,
                   "Lulu's spine width comes from its own cover template calculator (lulu.com/cover-templates), "
                   "which this tool does not reproduce: make the cover there, using storybook.pdf's page count"),
    # A home printer: no bleed, nothing within 5 mm of the sheet's edge (printers cannot print there).
    "home": Target("home", "a home printer", 0.0, True, 5 / MM_PER_INCH, 0, False, False, None, None,
                   "--target home makes no cover wrap: the book's first page is its cover"),
}
TARGET_NAMES = tuple(TARGETS)
TARGET_HELP = ("screen: no print service's rules (default); kdp: Amazon KDP paperback with bleed (interior PDF/X-4 "
               "+ cover.pdf wrap); lulu: Lulu paperback with bleed (interior PDF/X-4); home: A4/Letter sheets for a "
               "home printer (with --impose booklet: a folded booklet)")


def target(name: str) -> Target:
    """The target called `name`, else StorybookError listing the targets."""
    if name not in TARGETS:
        raise StorybookError(f"unknown print target {name!r}: use one of {', '.join(TARGETS)}")
    return TARGETS[name]


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """Return `value` if it is one of `choices`, else StorybookError naming `what` and the choices."""
    if value not in choices:
        raise StorybookError(f"unknown {what} {value!r}: use one of {', '.join(choices)}")
    return value


def locale_paper(territory: str | None) -> str:
    """The home paper size of a locale's territory (`"US"` -> letter), a4 where it is unknown."""
    return "letter" if (territory or "").upper() in _LETTER_TERRITORIES else "a4"


def spine_in(page_count: int, paper: str) -> float:
    """KDP's spine width for `page_count` interior pages on `paper`."""
    return page_count * KDP_PAPER_INCH[check_choice(paper, PAPERS, "paper")]
