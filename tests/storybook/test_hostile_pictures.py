"""Preflight decodes every picture fully and says how much text is lost; without Pango the book is still
written, only the PDF is skipped, with one line naming the missing library."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from storybook import BookOptions, Page, Story, StorybookError, save_story, story_from_pages, write_book
from storybook.render_pdf import INSTALL_GUIDE
from storybook_helpers import run_make


def folder_with_picture(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    save_story(Story(title="Pictures", pages=[Page(text="A page.", image=name)]), folder)
    return folder


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((400, 300), 60).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def huge_png() -> bytes:
    """A valid 20000x20000 PNG header: 400 million pixels (Pillow refuses over 179 million as a bomb)."""
    header = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 2501)) \
        + png_chunk(b"IEND", b"")


def png_with_a_64mb_text_chunk() -> bytes:
    png = small_png()
    ztxt = png_chunk(b"zTXt", b"comment\0\0" + zlib.compress(b"a" * 64 * 2**20, 9))
    return png[:33] + ztxt + png[33:]  # after the 8-byte signature and the 25-byte IHDR chunk


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def weasyprint_imported():
    """As after the first book of a ComfyUI session: importing weasyprint changes a Pillow global."""
    import weasyprint.images  # noqa: F401


@pytest.mark.parametrize("name, picture, problem", [
    ("half.jpg", truncated_jpeg, "is not a readable image, damaged or truncated (image file is truncated"),
    ("huge.png", huge_png, "has too many pixels to print safely"),
    ("text.png", png_with_a_64mb_text_chunk, "is not a readable image, damaged or truncated (Decompressed"),
])
def test_a_picture_that_does_not_decode_completely_stops_the_book(tmp_path, capsys, name, picture, problem):
    code, _, err = run_make(capsys, "--manifest", folder_with_picture(tmp_path / "s", name, picture()),
                        "--out", tmp_path / "book")
    assert code == 2 and problem in err and len(err.splitlines()) == 1
    assert not (tmp_path / "book").exists()


def test_an_unbroken_word_wider_than_the_page_is_broken_and_noted(tmp_path):
    texts = ["A short page.", "x" * 300]
    pictures = [Image.new("RGB", (300, 300), (90, 120, 200)) for _ in texts]
    book = write_book(story_from_pages(texts, pictures, title="Long"), tmp_path / "book",
                      BookOptions(size="a5", layout="image-above-text"))
    found = [(f.where, f.message) for f in book.report.findings if f.check == "word-broken"]
    assert len(found) == 1 and found[0][0] == "page 2" and "a word of 300 characters" in found[0][1]
    assert not [f for f in book.report.findings if f.check in ("word-too-long", "text-overflow")]


def test_text_that_cannot_be_placed_is_refused_naming_its_page(tmp_path):
    texts = ["A short page.", " ".join(["word"] * 20_000)]
    pictures = [Image.new("RGB", (300, 300), (90, 120, 200)) for _ in texts]
    with pytest.raises(StorybookError, match="^page 2: the text does not fit its frame even at 11 pt"):
        write_book(story_from_pages(texts, pictures, title="Long"), tmp_path / "book",
                   BookOptions(size="a5", layout="image-above-text"))
    assert not (tmp_path / "book").exists()


def test_without_pango_or_a_browser_the_book_is_written_and_the_pdf_reported_skipped(tmp_path, capsys, no_pango,
                                                                                     no_browser):
    folder = folder_with_picture(tmp_path / "s", "p.png", small_png())
    code, out, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book", "--json")
    assert code == 0
    assert err.splitlines() == [f"storybook: warning: no PDF written: the PDF needs the native library "
                                f"libgobject-2.0-0, which is not installed; install Pango as weasyprint's guide "
                                f"says: {INSTALL_GUIDE}; or install Microsoft Edge, Google Chrome or Chromium, "
                                "which can print it too"]
    book = tmp_path / "book"
    assert (book / "story.json").is_file() and (book / "index.html").is_file() and (book / "p.png").is_file()
    assert not (book / "storybook.pdf").exists() and json.loads(out)["pdf"] is None
