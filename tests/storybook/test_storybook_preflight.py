"""Preflight: resolution at printed size, text that does not fit, missing pictures, page-count parity."""

import json
import re

import pypdf
import pytest
from pdf_reading import picture_dpi
from PIL import Image

from storybook import BookOptions, StorybookError, save_story, story_from_pages, write_book
from storybook.preflight import check_rendered
from storybook.render_html import write_html
from storybook.render_pdf import layout_pdf

# Too long for the A5 text frame at the layout's 13 pt, short enough for it at the 11 pt floor (storybook.fitting).
LONG_TEXT = " ".join(["The little boat sailed on and on across the wide grey sea."] * 13)


def book(tmp_path, texts, sizes, **options):
    pictures = [Image.new("RGB", size, (90, 120, 200)) for size in sizes]
    options = {"layout": "image-above-text", **options}  # one story page per printed page, whatever the text
    return write_book(story_from_pages(texts, pictures, title="Preflight"), tmp_path / "book", BookOptions(**options))


def findings(result, check):
    return [f for f in result.report.findings if f.check == check]


@pytest.fixture(scope="module")
def a5_book(tmp_path_factory):
    """512 px pictures on A5: far too few pixels for 300 dpi, as SD 2.1 output would be."""
    return book(tmp_path_factory.mktemp("a5"), ["One.", LONG_TEXT, "Three."], [(512, 512)] * 3, size="a5")


def test_small_picture_on_a_large_page_is_warned_about(a5_book):
    low = findings(a5_book, "image-dpi")
    assert [f.where for f in low] == ["cover", "page 1", "page 2", "page 3"]
    assert "under 300" in low[1].message


def test_reported_dpi_is_what_the_pdf_really_prints(a5_book):
    placed = picture_dpi(a5_book.pdf)  # PDFium's reading of where each picture lands
    for image in a5_book.report.images:
        assert any(dpi == pytest.approx(image.dpi, abs=1) for dpi in placed[image.pdf_page]), placed


def test_enough_pixels_for_the_printed_size_gives_no_warning(tmp_path):
    result = book(tmp_path, ["A tiny page."], [(400, 400)], size="50x50mm", cover=False)
    assert result.report.images[0].dpi >= 300
    assert findings(result, "image-dpi") == []


def test_text_that_does_not_fit_is_set_smaller_on_its_page_only(a5_book):
    shrunk = findings(a5_book, "text-shrunk")
    assert [(f.where, f.pdf_page) for f in shrunk] == [("page 2", 3)]
    assert re.search(r"set at \d+% of the layout's size", shrunk[0].message)
    assert findings(a5_book, "text-overflow") == []


def test_text_set_smaller_does_not_add_pages(a5_book):
    assert len(pypdf.PdfReader(a5_book.pdf).pages) == 4 == a5_book.report.page_count


def test_odd_page_count_is_warned_about(tmp_path):
    result = book(tmp_path, ["One.", "Two."], [(64, 64)] * 2)
    assert [f.level for f in findings(result, "page-parity")] == ["warning"]


def test_even_page_count_gives_no_parity_warning(a5_book):
    assert [f.level for f in findings(a5_book, "page-parity")] == []


def test_missing_picture_stops_the_book_and_names_it(tmp_path):
    source = story_from_pages(["One."], [tmp_path / "nowhere.png"], title="Missing")
    with pytest.raises(StorybookError, match=r"page 1: picture 'page-001.png' not found at .*nowhere.png"):
        write_book(source, tmp_path / "book")
    assert not (tmp_path / "book").exists()


def test_unreadable_picture_stops_the_book(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"this is not a PNG")
    source = story_from_pages(["One."], [tmp_path / "broken.png"], title="Broken")
    with pytest.raises(StorybookError, match=r"page 1: .*is not a readable image"):
        write_book(source, tmp_path / "book")


def test_report_as_json_lists_every_picture_and_finding(a5_book):
    data = json.loads(a5_book.report.to_json())
    assert data["ok"] is True and data["page_count"] == 4
    assert [i["where"] for i in data["images"]] == ["cover", "page 1", "page 2", "page 3"]
    assert {f["check"] for f in data["findings"]} == {"image-dpi", "text-shrunk"}


def test_printed_report_says_where_each_problem_is(a5_book):
    text = a5_book.report.format()
    assert text.splitlines()[0].startswith("preflight: 4 pages, 4 pictures (lowest ")
    assert "info: page 2 (PDF page 3): the text is set at" in text


def test_picture_the_renderer_cannot_draw_is_an_error_reported_once(tmp_path):
    source = story_from_pages(["One.", "Two."], [Image.new("RGB", (50, 50))] * 2, title="Undrawable")
    options = BookOptions(layout="full-bleed")
    Image.new("RGB", (50, 50)).save(tmp_path / "page-001.png")
    (tmp_path / "page-002.png").write_bytes(b"\x89PNG\r\n\x1a\n but no picture")
    save_story(source.story, tmp_path)
    write_html(source.story, tmp_path, options)
    report = check_rendered(layout_pdf(tmp_path), source.story, options.sheets(2),
                            {"page-001.png": (50, 50), "page-002.png": (50, 50)})
    assert [(f.level, f.where, f.pdf_page) for f in report.findings if f.check == "image-not-drawn"] == [
        ("error", "page 2", 3)]
