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

from storybook import BookOptions, Page, Story, save_story, story_from_pages, write_book
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


@pytest.fixture(scope="module")
def long_texts_book(tmp_path_factory):
    texts = ["A short page.", "x" * 5000, " ".join(["word"] * 20_000)]
    pictures = [Image.new("RGB", (300, 300), (90, 120, 200)) for _ in texts]
    return write_book(story_from_pages(texts, pictures, title="Long"), tmp_path_factory.mktemp("b") / "book",
                      BookOptions(size="a5", layout="image-above-text"))


def test_an_unbroken_word_wider_than_the_page_is_warned(long_texts_book):
    found = [(f.where, f.message) for f in long_texts_book.report.findings if f.check == "word-too-long"]
    assert len(found) == 1 and found[0][0] == "page 2" and "a word of 5000 characters" in found[0][1]


def test_text_that_does_not_fit_is_reported_in_words_lost(long_texts_book):
    (found,) = [f for f in long_texts_book.report.findings if f.check == "text-overflow"]
    lost, total = (int(n) for n in found.message.split("text does not fit: ")[1].split(" words")[0].split(" of "))
    assert found.where == "page 3" and total == 20_000 and 19_000 < lost < 20_000
    assert "99%) are not printed" in found.message


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
