"""The files a print target adds to a book once its interior PDF is written: KDP's cover wrap (cover.pdf), and
for a home printer the pages placed on the printer's sheets (storybook.pdf itself) or imposed as a folded
booklet (booklet.pdf)."""

from __future__ import annotations

import os
from pathlib import Path

from storybook.cover import write_cover
from storybook.impose import BOOKLET_NAME, booklet_order, fit_on_paper, impose_booklet
from storybook.manifest import Story
from storybook.options import BookOptions
from storybook.pictures import PictureLook
from storybook.preflight import Finding, PreflightReport

# Written first and renamed over storybook.pdf, so that an interrupted run never leaves half a PDF.
_PART_SUFFIX = ".part"


def write_print_files(story: Story, folder: Path, pdf: Path, options: BookOptions, page_count: int,
                      looks: dict[str, PictureLook], report: PreflightReport) -> dict[str, Path]:
    """Write what `options.target` adds beside (or in place of) the interior `pdf`; returns {kind: path}."""
    rules = options.print_target
    written: dict[str, Path] = {}
    if options.cover_wrap:
        written["cover"] = write_cover(story, folder, options, page_count, looks)
    if rules.name != "home":
        return written
    if options.impose == "booklet":
        written["booklet"] = folder / BOOKLET_NAME
        scale = impose_booklet(pdf, written["booklet"], options.paper_size, rules.safe_mm)
        sides = len(booklet_order(page_count))
        # The imposition pads the count itself, so preflight's advice to pad it is moot.
        report.findings[:] = [f for f in report.findings if f.check != "page-parity"]
        report.findings.append(Finding(
            "info", "booklet", f"{BOOKLET_NAME}: {sides // 2} sheet(s) of {options.paper_size} paper ({page_count} "
            f"pages padded to {2 * sides} with blank pages, at {100 * scale:.0f}% size); print it double-sided, "
            "flipping on the short edge, then fold the stack in the middle and staple along the fold"))
    else:
        part = pdf.with_name(pdf.name + _PART_SUFFIX)
        scale = fit_on_paper(pdf, part, options.paper_size, rules.safe_mm)
        os.replace(part, pdf)
        report.findings.append(Finding(
            "info", "home-paper", f"pages placed on {options.paper_size} sheets at {100 * scale:.0f}% size, "
            f"nothing within {rules.safe_mm:.0f} mm of the sheet's edge"))
    return written
