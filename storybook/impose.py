"""Pages placed on a home printer's sheets (`--target home`), with pypdf.

Home printers cannot print the outermost few millimetres of a sheet, so every page is placed (scaled down
where it must be) with nothing within `margin_mm` of the sheet's edge. `--impose booklet` puts two pages on
each side of a landscape sheet in saddle-stitch order: printed double-sided (flipping on the short edge),
the stack folded in the middle gives the book in reading order. Pages are copied as PDF content, not
rasterised: text stays text and pictures keep their resolution.
"""

from __future__ import annotations

from pathlib import Path

from storybook.pagesize import MM_PER_UNIT, PRESETS
from storybook.targets import HOME_PAPERS

BOOKLET_NAME = "booklet.pdf"
PT_PER_MM = 1 / MM_PER_UNIT["pt"]


def booklet_order(page_count: int) -> list[tuple[int | None, int | None]]:
    """The (left, right) pages (0-based; None: blank) of each sheet side in printing order, for
    `page_count` pages padded with blanks to a multiple of 4.

    Sheet k's front carries the k-th page from the end and the k-th from the start; its back the next pair
    inwards: 8 pages give [(7, 0), (1, 6), (5, 2), (3, 4)]."""
    total = page_count + (-page_count % 4)

    def page(i: int) -> int | None:
        return i if i < page_count else None

    sides = []
    for sheet in range(total // 4):
        sides.append((page(total - 1 - 2 * sheet), page(2 * sheet)))
        sides.append((page(2 * sheet + 1), page(total - 2 - 2 * sheet)))
    return sides


def paper_mm(paper_size: str, landscape: bool = False) -> tuple[float, float]:
    """(width, height) of a home printer's sheet in mm."""
    width, height = PRESETS[HOME_PAPERS[paper_size][0]]
    return (height, width) if landscape else (width, height)


def _place(sheet, page, left_mm: float, bottom_mm: float, scale: float) -> None:
    """Draw `page` onto `sheet` with its media box's lower-left corner at (left, bottom) mm, scaled."""
    from pypdf import Transformation

    box = page.mediabox
    move = Transformation().translate(-float(box.left), -float(box.bottom)).scale(scale).translate(
        left_mm * PT_PER_MM, bottom_mm * PT_PER_MM)
    sheet.merge_transformed_page(page, move)


def _scale(page, room_mm: tuple[float, float]) -> float:
    """The scale that fits `page` into `room_mm` (never enlarged)."""
    width, height = float(page.mediabox.width) / PT_PER_MM, float(page.mediabox.height) / PT_PER_MM
    return min(1.0, room_mm[0] / width, room_mm[1] / height)


def fit_on_paper(source: Path, target: Path, paper_size: str, margin_mm: float) -> float:
    """Each page of `source` centred on its own sheet with `margin_mm` clear all round; returns the scale."""
    from pypdf import PdfReader, PdfWriter

    reader, writer = PdfReader(source), PdfWriter()
    width, height = paper_mm(paper_size)
    scale = 1.0
    for page in reader.pages:
        scale = min(scale, _scale(page, (width - 2 * margin_mm, height - 2 * margin_mm)))
    for page in reader.pages:
        sheet = writer.add_blank_page(width * PT_PER_MM, height * PT_PER_MM)
        w, h = float(page.mediabox.width) / PT_PER_MM * scale, float(page.mediabox.height) / PT_PER_MM * scale
        _place(sheet, page, (width - w) / 2, (height - h) / 2, scale)
    _write(reader, writer, target)
    return scale


def impose_booklet(source: Path, target: Path, paper_size: str, margin_mm: float) -> float:
    """`source`'s pages two to a landscape sheet side, in saddle-stitch order, each page against the fold
    and `margin_mm` clear of the sheet's edges; returns the scale the pages were printed at."""
    from pypdf import PdfReader, PdfWriter

    reader, writer = PdfReader(source), PdfWriter()
    width, height = paper_mm(paper_size, landscape=True)
    half = width / 2
    scale = min(_scale(page, (half - margin_mm, height - 2 * margin_mm)) for page in reader.pages)
    for left, right in booklet_order(len(reader.pages)):
        sheet = writer.add_blank_page(width * PT_PER_MM, height * PT_PER_MM)
        for index, on_left in ((left, True), (right, False)):
            if index is None:
                continue
            page = reader.pages[index]
            w, h = float(page.mediabox.width) / PT_PER_MM * scale, float(page.mediabox.height) / PT_PER_MM * scale
            _place(sheet, page, half - w if on_left else half, (height - h) / 2, scale)
    _write(reader, writer, target)
    return scale


def _write(reader, writer, target: Path) -> None:
    """Write `writer` to `target`, keeping the book's title, author and producer."""
    if reader.metadata:
        writer.add_metadata({k: v for k, v in reader.metadata.items() if isinstance(v, str)})
    with open(target, "wb") as handle:
        writer.write(handle)
