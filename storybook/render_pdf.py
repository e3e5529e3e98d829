"""The print PDF: weasyprint lays out the same `index.html` the preview shows, with print media rules.

Layout and writing are separate steps so that preflight can measure the laid-out boxes before the PDF
is written. weasyprint is imported only here, inside the functions: it takes about a second to import,
and ComfyUI imports this package at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from storybook.render_html import HTML_NAME

if TYPE_CHECKING:
    import weasyprint

PDF_NAME = "storybook.pdf"


def layout_pdf(folder: Path) -> weasyprint.Document:
    """Lay out `folder/index.html` for print; image paths resolve inside `folder`.

    No `dpi`, `optimize_images` or `jpeg_quality` options: pictures are embedded at full resolution, and
    JPEG files byte for byte.
    """
    from weasyprint import HTML

    return HTML(filename=Path(folder) / HTML_NAME, media_type="print").render()


def write_pdf(document: weasyprint.Document, path: Path) -> Path:
    """Write the PDF. Title, author, generator and creation date come from the HTML `<title>` and `<meta>`
    tags; weasyprint embeds (subsets of) the fonts it used."""
    document.write_pdf(path)
    return Path(path)
