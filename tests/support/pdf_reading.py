"""Reading a made PDF back in tests through the package's own dependencies (PDFium via pypdfium2, and pypdf), so
that `make test` needs no poppler-utils on the machine: text, character boxes, rendered pages, embedded fonts and
the resolution pictures print at."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def _document(pdf: str | Path):
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(str(pdf))


def pdf_text(pdf: str | Path, page: int | None = None) -> str:
    """The text PDFium extracts from page `page` (1-based), or from every page."""
    document = _document(pdf)
    try:
        pages = [document[page - 1]] if page else list(document)
        return "\n".join(p.get_textpage().get_text_range() for p in pages)
    finally:
        document.close()


def text_right_edges(pdf: str | Path, page: int) -> tuple[float, list[float]]:
    """(page width, the right edge of each printed character) of page `page` (1-based), in points."""
    document = _document(pdf)
    try:
        p = document[page - 1]
        text = p.get_textpage()
        edges = [text.get_charbox(i)[2] for i in range(text.count_chars())
                 if not text.get_text_range(i, 1).isspace()]
        return p.get_width(), edges
    finally:
        document.close()


def render_page(pdf: str | Path, page: int, dpi: float = 72) -> Image.Image:
    """Page `page` (1-based) rasterised by PDFium at `dpi` (72: one pixel per point), as RGB."""
    document = _document(pdf)
    try:
        return document[page - 1].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        document.close()


def picture_dpi(pdf: str | Path) -> dict[int, list[float]]:
    """Page number (1-based) -> the horizontal resolution each of its pictures prints at (pixels per inch of its
    placed width), as PDFium places them."""
    import pypdfium2.raw as pdfium_c

    document = _document(pdf)
    found = {}
    try:
        for number, p in enumerate(document, start=1):
            for obj in p.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                left, _bottom, right, _top = obj.get_bounds()
                pixels, _ = obj.get_px_size()
                found.setdefault(number, []).append(pixels / ((right - left) / 72))
        return found
    finally:
        document.close()


def embedded_fonts(pdf: str | Path) -> set[str]:
    """The names of the fonts whose program is embedded in the PDF (subset prefixes such as ABCDEF+ dropped)."""
    from pypdf import PdfReader

    names = set()
    for page in PdfReader(str(pdf)).pages:
        fonts = page.get("/Resources", {}).get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            parts = [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
            for part in parts:
                descriptor = part.get("/FontDescriptor")
                descriptor = descriptor.get_object() if descriptor is not None else {}
                if any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                    names.add(str(part["/BaseFont"]).lstrip("/").split("+", 1)[-1])
    return names
