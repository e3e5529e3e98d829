"""The book as a comic book archive (`--formats cbz`): the printed pages as pictures, in order, in a zip.

CBZ is what comic readers open: a zip of page images read in name order, with ComicInfo.xml (the
ComicRack schema that readers such as Kavita, Komga and YACReader understand) for title, author, page
count and which page is the cover. The pages are the print PDF's pages rasterised by PDFium (pypdfium2),
so the CBZ shows exactly what prints, text and fallback fonts included, trimmed: without the bleed and
crop marks, which the cutter takes away.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

from storybook.manifest import Story
from storybook.render_html import printable

CBZ_NAME = "storybook.cbz"
CBZ_DPI = 150  # sharp on a tablet (an A5 page is 874x1240 px), a few MB for a whole book


def comic_info(story: Story, page_count: int, sizes: list[tuple[int, int]], cover: bool) -> bytes:
    """ComicInfo.xml: the book's metadata and its pages (the first marked as the front cover)."""
    created = datetime.fromisoformat(story.created)  # any ISO 8601 form the manifest accepts (week dates too)
    root = ElementTree.Element("ComicInfo", {"xmlns:xsd": "http://www.w3.org/2001/XMLSchema",
                                             "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    fields = [("Title", story.title), ("Summary", " ".join(printable(p.text).strip() for p in story.pages)[:2000]),
              ("Year", str(created.year)), ("Month", str(created.month)),
              ("Writer", story.author), ("PageCount", str(page_count)), ("LanguageISO", story.language),
              ("Manga", "No")]
    for tag, value in fields:
        if value:
            ElementTree.SubElement(root, tag).text = printable(value)
    pages = ElementTree.SubElement(root, "Pages")
    for number, (width, height) in enumerate(sizes):
        attributes = {"Image": str(number), "ImageWidth": str(width), "ImageHeight": str(height)}
        if number == 0 and cover:
            attributes["Type"] = "FrontCover"
        ElementTree.SubElement(pages, "Page", attributes)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _bleed(page) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) points between the page's MediaBox and its TrimBox: the bleed and crop marks,
    which a screen must not show (a comic reader shows the page as it is after the cutter)."""
    media, trim = page.get_mediabox(), page.get_trimbox()
    return (max(0.0, trim[0] - media[0]), max(0.0, trim[1] - media[1]), max(0.0, media[2] - trim[2]),
            max(0.0, media[3] - trim[3]))


def write_cbz(story: Story, pdf: Path, path: Path, *, cover: bool = True, dpi: int = CBZ_DPI) -> Path:
    """Rasterise every page of `pdf` at `dpi` into `path` (pages 001.png, 002.png, ... and ComicInfo.xml)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))
    try:
        images, sizes = [], []
        for index in range(len(document)):
            page = document[index]
            bitmap = page.render(scale=dpi / 72, crop=_bleed(page))
            picture = bitmap.to_pil().convert("RGB")
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG", optimize=True)
            images.append(buffer.getvalue())
            sizes.append(picture.size)
    finally:
        document.close()
    digits = max(3, len(str(len(images))))
    with zipfile.ZipFile(path, "w") as archive:
        # PNGs are already compressed; storing them keeps the archive quick to open page by page.
        for number, data in enumerate(images, start=1):
            archive.writestr(zipfile.ZipInfo(f"{number:0{digits}d}.png", (1980, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_STORED)
        archive.writestr(zipfile.ZipInfo("ComicInfo.xml", (1980, 1, 1, 0, 0, 0)),
                         comic_info(story, len(images), sizes, cover), compress_type=zipfile.ZIP_DEFLATED)
    return path
