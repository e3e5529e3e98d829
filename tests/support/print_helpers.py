"""Helpers the print-target tests share: story inputs (a folder of large pictures, a VIST story-in-sequence
file as the dataset ships it), making a book in-process, and reading a PDF's boxes and text positions."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from storybook import Page, Story, save_story
from storybook.cli import main

POINTS_PER_INCH = 72


def picture_story(folder: Path, pages: int, pixels: int, title: str = "The Lantern Fox") -> Path:
    """A story folder of `pages` pages with square JPEG pictures `pixels` wide (one light colour each: small
    files, embedded in the PDF as they are, so the book is fast to make)."""
    folder.mkdir(parents=True, exist_ok=True)
    story_pages = []
    for i in range(1, pages + 1):
        Image.new("RGB", (pixels, pixels), (200, 180 + 5 * i, 150)).save(folder / f"p{i}.jpg", quality=80)
        story_pages.append(Page(text=f"Fox page {i}: the fox walked on through the quiet wood.", image=f"p{i}.jpg"))
    save_story(Story(title=title, author="A. Writer", pages=story_pages), folder)
    return folder


def vist_sample(folder: Path, pixels: int = 1024) -> tuple[Path, Path]:
    """A VIST story-in-sequence file (one 5-photo story, annotations as one-element lists, shuffled as in the
    release) and its photo folder; returns (json, images)."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    texts = ["We got to the lake early.", "Dad lit the grill.", "My sister brought her famous pie.",
             "The kids swam until dark.", "Fireworks ended the day!"]
    annotations = []
    for order, text in reversed(list(enumerate(texts))):
        photo = str(3000 + order)
        Image.new("RGB", (pixels, pixels * 3 // 4), (190, 200, 170 + 10 * order)).save(images / f"{photo}.jpg")
        annotations.append([{"original_text": text, "album_id": "72157600", "photo_flickr_id": photo,
                             "setting": "first-2-pick-and-tell", "worker_id": "W1", "story_id": "40470",
                             "tier": "story-in-sequence", "worker_arranged_photo_order": order,
                             "text": text.lower(), "storylet_id": str(order)}])
    data = {"info": {"version": "1"}, "type": "story_in_sequence",
            "albums": [{"id": "72157600", "title": "Summer at the lake"}],
            "images": [{"id": str(3000 + i), "album_id": "72157600"} for i in range(len(texts))],
            "annotations": annotations}
    sis = folder / "sis.json"
    sis.write_text(json.dumps(data), encoding="utf-8")
    return sis, images


def make_book(*args) -> int:
    """`python -m storybook make ARGS` in this process; returns the exit code."""
    return main(["make", *map(str, args)])


def inches(box) -> tuple[float, ...]:
    """A pypdf box (points) in inches, rounded to a thousandth."""
    return tuple(round(float(v) / POINTS_PER_INCH, 3) for v in box)


def char_boxes(pdf: Path) -> list[list[tuple[str, tuple[float, float, float, float]]]]:
    """Per page: (character, (left, bottom, right, top) in points, in the page's user space) of every
    visible character, read by PDFium."""
    import pypdfium2 as pdfium

    pages = []
    document = pdfium.PdfDocument(pdf)
    for page in document:
        text = page.get_textpage()
        chars = [(text.get_text_range(i, 1), text.get_charbox(i)) for i in range(text.count_chars())]
        pages.append([(c, box) for c, box in chars if c.strip()])
    return pages
