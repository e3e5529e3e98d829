"""The print PDF: weasyprint lays out the same `index.html` the preview shows, with print media rules.

Layout and writing are separate steps so that preflight can measure the laid-out boxes before the PDF
is written. weasyprint is imported only here, inside the functions: it takes about a second to import,
and ComfyUI imports this package at start-up.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from storybook.errors import StorybookError
from storybook.render_html import HTML_NAME

if TYPE_CHECKING:
    import weasyprint

PDF_NAME = "storybook.pdf"
INSTALL_GUIDE = "https://doc.courtbouillon.org/weasyprint/stable/first_steps.html#installation"


class PdfUnavailable(StorybookError):
    """weasyprint cannot run here (its native libraries, Pango and GObject, are missing): the rest of the
    book can still be written, only the PDF is skipped."""


def _weasyprint():
    """Import weasyprint, turning a missing native library into one line that names it.

    weasyprint loads Pango, GObject, HarfBuzz and fontconfig through ffi at import time; where they are not
    installed (common on Windows and macOS) the import raises OSError "cannot load library '...'"."""
    try:
        import weasyprint
    except OSError as e:
        found = re.search(r"cannot load library '([^']+)'", str(e))
        library = found.group(1) if found else str(e).split(":")[0]
        raise PdfUnavailable(f"the PDF needs the native library {library}, which is not installed; install "
                             f"Pango as weasyprint's guide says: {INSTALL_GUIDE}") from None
    except ImportError:
        raise PdfUnavailable(f"the PDF needs weasyprint, which is not installed (pip install weasyprint; "
                             f"{INSTALL_GUIDE})") from None
    return weasyprint


def _variant_options(variant: str | None) -> dict[str, str]:
    """weasyprint's options for a PDF variant. PDF/X-4 gets an sRGB output intent: our pictures and colours
    are sRGB, and weasyprint's PDF/X default (device CMYK, for which it has no profile) would leave the file
    without the output intent PDF/X requires."""
    return {"pdf_variant": variant, "output_intent": "srgb"} if variant else {}


def layout_pdf(folder: Path, variant: str | None = None, html: str | None = None) -> weasyprint.Document:
    """Lay out `folder/index.html` (or the `html` given, e.g. the cover wrap's) for print, as PDF `variant`
    (e.g. "pdf/x-4"); image paths resolve inside `folder`.

    No `dpi`, `optimize_images` or `jpeg_quality` options: pictures are embedded at full resolution, and
    JPEG files byte for byte. Raises `PdfUnavailable` when weasyprint cannot run on this machine.
    """
    weasyprint = _weasyprint()
    source = (weasyprint.HTML(filename=Path(folder) / HTML_NAME, media_type="print") if html is None
              else weasyprint.HTML(string=html, base_url=str(Path(folder).resolve()) + "/", media_type="print"))
    return source.render(**_variant_options(variant))


def write_pdf(document: weasyprint.Document, path: Path, variant: str | None = None) -> Path:
    """Write the PDF (as `variant`, the one it was laid out as). Title, author, generator and creation date
    come from the HTML `<title>` and `<meta>` tags; weasyprint embeds (subsets of) the fonts it used."""
    document.write_pdf(path, **_variant_options(variant))
    return Path(path)
