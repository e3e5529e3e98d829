"""The files written beside the print PDF when `--formats` asks for them (EPUB, CBZ)."""

from __future__ import annotations

from pathlib import Path

from storybook.cbz import CBZ_NAME, write_cbz
from storybook.epub import write_epub
from storybook.fitting import Fit
from storybook.manifest import Story
from storybook.options import BookOptions
from storybook.pictures import PictureLook
from storybook.preflight import Finding, PreflightReport


def write_exports(story: Story, folder: Path, options: BookOptions, looks: dict[str, PictureLook],
                  pdf: Path | None, report: PreflightReport, fit: Fit = Fit()) -> dict[str, Path]:
    """Write each format of `options.formats` but the PDF into `folder`; returns {format: path}.

    The CBZ is made from the PDF's pages; without a PDF it is left out and the report says so."""
    written: dict[str, Path] = {}
    if "epub" in options.formats:
        written["epub"] = write_epub(story, folder, options, looks, fit)
    if "cbz" in options.formats:
        if pdf is None:
            report.findings.append(Finding("warning", "cbz-skipped", "no CBZ written: it is made from the PDF's "
                                                                     "pages, and no PDF could be made"))
        else:
            # With a cover wrap, page 1 is a title page, not the cover.
            written["cbz"] = write_cbz(story, pdf, Path(folder) / CBZ_NAME,
                                       cover=options.cover and not options.cover_wrap)
    return written
