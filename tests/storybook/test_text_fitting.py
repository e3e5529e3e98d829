"""Text that fits: a frame's text shrinks to the 11 pt floor, then only that page's text moves to a text page
after its picture; nothing is cut, and text that cannot be placed is refused naming the page. Also per-page
language, writing direction, hyphenation and long words."""

import re

import pytest
from pdf_reading import pdf_text, text_right_edges
from PIL import Image
from storybook_helpers import run_make, story_folder

from storybook import BookOptions, Page, Story, StoryInput, story_from_pages, write_book
from storybook.fitting import FLOOR_PT
from storybook.render_html import direction, unwidowed

FOX = "the little fox walked through the quiet forest looking for berries and friends while the sun went down".split()
LONG_PAGE = " ".join(FOX[i % len(FOX)] for i in range(210)) + " end."  # 211 words
LONG_TITLE = " ".join(FOX[(3 * i) % len(FOX)] for i in range(60))
GERMAN = "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengese"  # 72 letters
TEXTS = ("A fox woke up early.", LONG_PAGE, "שלום עולם!", f"Das Wort ist {GERMAN} und es ist lang.", "The end.")


def squashed(text):
    """Text without spaces and hyphens, so a word hyphenated across two lines is found whole."""
    return re.sub(r"[\s\u00ad\u2010-]+", "", text)


@pytest.fixture(scope="module")
def long_book(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fitting")
    pages = []
    for number, text in enumerate(TEXTS, start=1):
        pages.append(Page(text=text, image=f"p{number}.png", language="de" if GERMAN in text else None))
    pictures = {page.image: Image.new("RGB", (64, 64), (30 * n, 90, 120)) for n, page in enumerate(pages)}
    return write_book(StoryInput(Story(title=LONG_TITLE, pages=pages), pictures), tmp / "book", BookOptions())


def test_every_word_of_a_long_page_and_a_long_title_is_printed(long_book):
    printed = squashed(pdf_text(long_book.pdf))
    for text in (LONG_TITLE, *TEXTS):
        assert all(squashed(word) in printed for word in text.split()), text[:30]


def test_only_the_long_page_gets_a_text_page_of_its_own(long_book):
    # cover, page 1 (band), page 2 picture, page 2 text, pages 3-5 (bands)
    assert long_book.report.page_count == 1 + len(TEXTS) + 1
    assert squashed(LONG_PAGE) in squashed(pdf_text(long_book.pdf, 4))
    assert squashed(TEXTS[2]) in squashed(pdf_text(long_book.pdf, 5))  # the next page is a band again
    moved = [f for f in long_book.report.findings if f.check == "text-moved"]
    assert [(f.where, f.pdf_page) for f in moved] == [("page 2", 4)]


def test_the_title_shrinks_to_fit_the_cover_and_preflight_says_so(long_book):
    shrunk = {f.where for f in long_book.report.findings if f.check == "text-shrunk"}
    assert "cover" in shrunk
    assert not [f for f in long_book.report.findings if f.check == "text-overflow"]


def test_a_word_longer_than_the_line_is_hyphenated_and_stays_on_the_page(long_book):
    width, edges = text_right_edges(long_book.pdf, 6)
    assert GERMAN in squashed(pdf_text(long_book.pdf, 6))
    assert edges and max(edges) < width


def test_each_page_has_its_language_and_direction_in_the_html(long_book):
    html = long_book.html.read_text()
    assert 'dir="rtl">שלום' in html and 'lang="de"' in html
    assert re.search(r'<html lang="en"', html)


def test_text_that_fits_nowhere_is_refused_naming_the_page(tmp_path, capsys):
    folder = story_folder(tmp_path / "story", texts=("A cat.", " ".join(["word"] * 1500)))
    code, _out, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book")
    assert code == 2 and err.count("\n") == 1
    assert "page 2" in err and f"{FLOOR_PT:g} pt" in err and "larger page size" in err
    assert not (tmp_path / "book").exists()


def test_a_photo_caption_that_is_too_long_shrinks_but_never_moves(tmp_path, capsys):
    caption = " ".join(FOX * 3)
    folder = story_folder(tmp_path / "story", texts=("A cat.", caption, "A dog."))
    code, out, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book", "--layout", "photo-story")
    assert code == 0, err
    assert "set at" in out and "following text page" not in out
    assert squashed(caption) in squashed(pdf_text(tmp_path / "book" / "storybook.pdf"))


@pytest.mark.parametrize("text, expected", [("Hello!", "ltr"), ("שלום!", "rtl"), ("مرحبا", "rtl"),
                                            ("123 שלום", "rtl"), ("", "ltr")])
def test_direction_follows_the_first_strong_character_as_dir_auto_does(text, expected):
    assert direction(text) == expected


def test_the_last_two_words_are_kept_together_so_no_line_is_one_lone_word():
    assert unwidowed("The fox ran home.") == "The fox ran\u00a0home."
    assert unwidowed("Two words") == "Two words"  # nothing to balance
    assert unwidowed("A fox saw Donaudampfschifffahrt") == "A fox saw Donaudampfschifffahrt"  # too long to join


def test_a_title_is_never_hyphenated_on_the_cover(tmp_path):
    title = "The wonderful adventure of a remarkable caterpillar that appears everywhere unexpectedly"
    pictures = [Image.new("RGB", (64, 64), (200, 90, 40))]
    book = write_book(story_from_pages(["A page."], pictures, title=title), tmp_path / "book", BookOptions())
    lines = pdf_text(book.pdf, 1).split()  # the cover: the title's lines (and no author)
    assert lines == title.split()  # each word whole, none cut with a hyphen at a line's end
