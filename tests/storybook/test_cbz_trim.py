"""A CBZ page is the printed page after the cutter: the trim's shape, without the bleed and crop marks."""

import io
import zipfile

from PIL import Image

from storybook import BookOptions, story_from_pages, write_book
from storybook.cbz import CBZ_DPI


def test_cbz_pages_have_the_trims_aspect_without_bleed_or_marks(tmp_path):
    navy = (20, 40, 120)
    book = write_book(story_from_pages(["A navy page."], [Image.new("RGB", (64, 64), navy)], title="Navy"),
                      tmp_path / "book", BookOptions(bleed="3mm", crop_marks=True, formats=("pdf", "cbz")))
    with zipfile.ZipFile(book.exports["cbz"]) as archive:
        page = Image.open(io.BytesIO(archive.read("002.png"))).convert("RGB")
    assert abs(page.width - round(148 / 25.4 * CBZ_DPI)) <= 1 and abs(page.height - round(210 / 25.4 * CBZ_DPI)) <= 1
    assert all(sum(abs(a - b) for a, b in zip(page.getpixel(xy), navy)) < 40 for xy in ((0, 0), (page.width - 1, 0)))
