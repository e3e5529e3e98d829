"""`make --target kdp` writes cover.pdf: back + spine + front on one page, the spine from the page count and
the paper, the barcode area left free, spine text only on a spine that holds it."""

import json

import pytest
from pypdf import PdfReader

from print_helpers import char_boxes, inches, make_book, picture_story
from storybook.cover import BARCODE_IN, cover_html, cover_wrap
from storybook.options import BookOptions
from storybook.targets import spine_in

BLURB = "A fox finds a lantern and lights the way home for everyone lost in the wood."


@pytest.fixture(scope="module")
def cream_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("cover")
    story = picture_story(root / "story", pages=3, pixels=2048)
    code = make_book("--manifest", story, "--out", root / "book", "--target", "kdp", "--size", "8.5x8.5in",
                     "--paper", "cream", "--blurb", BLURB)
    return code, root / "book"


def test_cover_is_both_covers_and_the_spine_wide_and_trim_plus_bleed_tall(cream_book):
    _, book = cream_book
    pages = len(PdfReader(book / "storybook.pdf").pages)
    cover = PdfReader(book / "cover.pdf").pages
    spine = pages * 0.0025  # KDP's cream paper
    assert len(cover) == 1
    width, height = float(cover[0].mediabox.width) / 72, float(cover[0].mediabox.height) / 72
    assert (round(width, 4), round(height, 4)) == (round(17.25 + spine, 4), 8.75)
    assert inches(cover[0].trimbox) == (0, 0, round(17 + spine, 3), 8.5)


def test_spine_is_the_page_count_times_the_papers_thickness():
    assert spine_in(100, "white") == pytest.approx(0.2252)
    assert spine_in(100, "cream") == pytest.approx(0.25)
    assert spine_in(100, "premium-color") == pytest.approx(0.2347)


def test_back_cover_carries_the_blurb_and_keeps_the_barcode_area_free(cream_book):
    _, book = cream_book
    chars = char_boxes(book / "cover.pdf")[0]
    back = [(c, box) for c, box in chars if box[2] <= 8.5 * 72]
    assert "".join(c for c, _ in back) == BLURB.replace(" ", "")
    # The barcode area: lower right of the back cover, inside the safe zone.
    right, bottom = (8.5 - 0.375) * 72, 0.375 * 72
    left, top = right - BARCODE_IN[0] * 72, bottom + BARCODE_IN[1] * 72
    assert not [c for c, (x0, y0, x1, y1) in chars if x1 > left and x0 < right and y1 > bottom and y0 < top]


def test_front_cover_carries_the_title_and_author(cream_book):
    _, book = cream_book
    front = [c for c, box in char_boxes(book / "cover.pdf")[0] if box[0] >= 8.5 * 72]
    assert "".join(front) == "TheLanternFoxA.Writer"


def test_interior_starts_with_a_title_page_when_a_cover_wrap_is_made(cream_book):
    code, book = cream_book
    assert code == 0
    assert "<img" not in (book / "index.html").read_text().split('id="page-2"')[0].split('id="page-1"')[1]


@pytest.mark.parametrize("pages, spine_text", [(78, False), (79, True)])
def test_spine_text_only_from_79_pages(tmp_path, pages, spine_text):
    from storybook import Page, Story

    story = Story(title="Fox", pages=[Page(text="A fox.", image="p1.png")])
    options = BookOptions(size="8.5x8.5in", target="kdp")
    assert cover_wrap(options, pages).spine_text is spine_text
    assert ('data-part="spine"' in cover_html(story, options, pages, {})) is spine_text


def test_lulu_gets_no_cover_wrap_and_preflight_says_why(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=1, pixels=2048)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "lulu", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert not (tmp_path / "book" / "cover.pdf").exists()
    assert [f["message"] for f in report["findings"] if f["check"] == "cover-wrap"] == [
        "no cover.pdf: Lulu's spine width comes from its own cover template calculator (lulu.com/cover-templates), "
        "which this tool does not reproduce: make the cover there, using storybook.pdf's page count"]


def test_blurb_is_refused_without_a_cover_wrap(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=1, pixels=64)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "lulu", "--blurb", "Hi") == 2
    assert "--blurb is for --target kdp" in capsys.readouterr().err


def test_a_blurb_too_long_for_the_back_cover_is_refused_not_cut(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=1, pixels=64)
    code = make_book("--manifest", story, "--out", tmp_path / "book", "--target", "kdp", "--blurb", "word " * 400)
    assert code == 2
    assert "the blurb (--blurb) does not fit on the cover wrap: shorten it" in capsys.readouterr().err
    assert not (tmp_path / "book").exists()


def test_cover_text_stays_in_the_safe_zone_of_its_panel(cream_book):
    _, book = cream_book
    trim = PdfReader(book / "cover.pdf").pages[0].trimbox
    width, height = float(trim.width), float(trim.height)
    safe = 0.375 * 72
    for char, (left, bottom, right, top) in char_boxes(book / "cover.pdf")[0]:
        assert min(left, bottom, width - right, height - top) >= safe - 0.5, char
        assert not (8.5 * 72 - safe < right and left < width - 8.5 * 72 + safe), f"{char} crosses a spine fold"
