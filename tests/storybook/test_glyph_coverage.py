"""Every character of a book is drawn by some font, or the book is refused before anything is laid out,
naming the characters, their pages and the fonts to install (or --font FILE)."""

import json

import pytest
from font_probes import ANDIKA, PROBES, TANGUT, lacking, square_font
from pdf_reading import embedded_fonts, pdf_text
from storybook_helpers import run_make, story_folder

from storybook.glyphs import missing_glyphs, refusal


def test_latin_text_needs_no_system_font():
    assert missing_glyphs({"page 1": "Ça va? Größe, ĳ, “quotes” — and… ok!"}, ANDIKA, fallback_files=[]) == {}


def test_spaces_joiners_and_variation_selectors_need_no_glyph():
    assert missing_glyphs({"page 1": "a\u00a0b\u200dc\ufe0f\u200f\n"}, ANDIKA, fallback_files=[]) == {}


def test_on_a_machine_without_cjk_or_emoji_fonts_those_characters_are_missing_with_their_pages():
    texts = {"page 1": "A fox.", "page 2": PROBES["cjk"], "page 3": f"Hi {PROBES['emoji']}"}
    missing = missing_glyphs(texts, ANDIKA, fallback_files=[])
    assert set(missing) == set(PROBES["cjk"]) | set(PROBES["emoji"])
    assert missing["小"] == ["page 2"] and missing["🦊"] == ["page 3"]


def test_the_refusal_names_characters_pages_and_the_packages_that_have_them():
    message = refusal(missing_glyphs({"page 2": "小", "page 5": "🦊"}, ANDIKA, fallback_files=[]))
    assert "'小' (U+5C0F) on page 2" in message and "'🦊' (U+1F98A) on page 5" in message
    assert "apt install fonts-noto-cjk fonts-noto-color-emoji" in message
    assert "google-noto-sans-cjk-fonts" in message and "--font FILE" in message


def test_a_font_that_has_the_characters_covers_them(tmp_path):
    font = square_font(tmp_path / "squares.ttf")
    assert missing_glyphs({"page 1": TANGUT}, [*ANDIKA, font], fallback_files=[]) == {}


def test_make_refuses_a_book_whose_characters_no_font_has_and_writes_nothing(tmp_path, capsys):
    if not lacking(TANGUT):
        pytest.skip("this machine has a Tangut font")
    folder = story_folder(tmp_path / "story", texts=("A fox.", f"Tangut {TANGUT}."))
    code, _out, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "U+17000" in err and "on page 2" in err and "--font FILE" in err
    assert not (tmp_path / "book").exists()


@pytest.fixture(scope="module")
def book_with_a_user_font(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("user-font")
    font = square_font(tmp / "squares.ttf")
    folder = story_folder(tmp / "story", texts=("A fox.", f"Tangut {TANGUT}."))
    code = __import__("storybook.cli", fromlist=["main"]).main(
        ["make", "--manifest", str(folder), "--out", str(tmp / "book"), "--font", str(font), "--formats", "pdf,epub"])
    assert code == 0
    return tmp / "book"


def test_a_user_font_draws_what_no_system_font_has_and_is_embedded(book_with_a_user_font):
    pdf = book_with_a_user_font / "storybook.pdf"
    assert TANGUT in pdf_text(pdf)
    assert {"Storybook-user-squares", "Andika"} <= embedded_fonts(pdf)  # embedded, as subsets


def test_a_user_font_is_kept_in_the_book_so_a_re_render_finds_it(book_with_a_user_font, tmp_path, capsys):
    book = book_with_a_user_font
    assert (book / "fonts" / "squares.ttf").is_file()
    assert json.loads((book / "story.json").read_text())["book"]["fonts"] == ["squares.ttf"]
    code, _out, err = run_make(capsys, "--manifest", book, "--out", tmp_path / "again")
    assert code == 0, err
    assert (tmp_path / "again" / "fonts" / "squares.ttf").is_file()


def test_a_file_that_is_not_a_font_is_refused_in_one_line(tmp_path, capsys):
    not_font = tmp_path / "notes.ttf"
    not_font.write_text("hello")
    code, _out, err = run_make(capsys, "--manifest", story_folder(tmp_path / "story"), "--out", tmp_path / "book",
                               "--font", not_font)
    assert code == 2 and "not a readable TrueType/OpenType font" in err
