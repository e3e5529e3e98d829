"""`make --target home`: pages on the printer's sheets, nothing within 5 mm of an edge; with `--impose booklet`,
two pages to a landscape sheet side in the order that folds into the book."""

import json

import pytest
from pypdf import PdfReader

from print_helpers import char_boxes, make_book, picture_story
from storybook.impose import booklet_order

MM = 72 / 25.4


def test_booklet_order_of_eight_pages_folds_into_reading_order():
    assert booklet_order(8) == [(7, 0), (1, 6), (5, 2), (3, 4)]


def test_booklet_order_pads_to_a_multiple_of_four_with_blanks():
    assert booklet_order(6) == [(None, 0), (1, None), (5, 2), (3, 4)]


@pytest.fixture(scope="module")
def booklet(tmp_path_factory):
    """A 6-page story (cover + 6 pages = 7 pages) as an A4 home booklet."""
    root = tmp_path_factory.mktemp("booklet")
    story = picture_story(root / "story", pages=6, pixels=256)
    code = make_book("--manifest", story, "--out", root / "book", "--layout", "image-above-text", "--target", "home",
                     "--impose", "booklet", "--paper-size", "a4")
    assert code == 0
    return root / "book"


def test_booklet_sheets_are_landscape_a4(booklet):
    sheets = PdfReader(booklet / "booklet.pdf").pages
    assert len(sheets) == 4  # 7 pages padded to 8: two sheets, printed on both sides
    assert {(round(float(s.mediabox.width) / MM), round(float(s.mediabox.height) / MM)) for s in sheets} == {(297, 210)}


def _page_on(chars, left_half: bool, half_pt: float) -> str:
    """Which book page a half of a sheet side shows: the cover's title, or the story page's number."""
    text = "".join(c for c, box in chars if (box[2] <= half_pt) == left_half)
    if not text:
        return "blank"
    return "cover" if text.startswith("TheLanternFox") else text.split("page")[1].split(":")[0]


def test_booklet_sheet_sides_carry_the_pages_in_saddle_stitch_order(booklet):
    """Printed double-sided and folded, the sheets read cover, page 1, ..., page 6, blank."""
    half = 297 * MM / 2
    sides = [(_page_on(chars, True, half), _page_on(chars, False, half))
             for chars in char_boxes(booklet / "booklet.pdf")]
    # PDF pages 1..7 are the cover then story pages 1..6; booklet_order(7) pairs them.
    name = {0: "cover", **{i: str(i) for i in range(1, 7)}, None: "blank"}
    assert sides == [(name[left], name[right]) for left, right in booklet_order(7)]


def test_nothing_is_printed_within_5mm_of_a_booklet_sheets_edge(booklet):
    import pypdfium2 as pdfium

    for page in pdfium.PdfDocument(booklet / "booklet.pdf"):
        image = page.render(scale=1).to_pil().convert("L")
        border = round(5 * MM) - 1
        for strip in ((0, 0, image.width, border), (0, image.height - border, image.width, image.height),
                      (0, 0, border, image.height), (image.width - border, 0, image.width, image.height)):
            assert min(image.crop(strip).getdata()) == 255


def test_home_book_without_imposition_is_the_printers_paper_with_a_5mm_clear_edge(tmp_path):
    import pypdfium2 as pdfium

    story = picture_story(tmp_path / "story", pages=2, pixels=256)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "home",
                     "--paper-size", "letter") == 0
    reader = PdfReader(tmp_path / "book" / "storybook.pdf")
    assert {(round(float(p.mediabox.width) / 72, 2), round(float(p.mediabox.height) / 72, 2))
            for p in reader.pages} == {(8.5, 11.0)}
    image = pdfium.PdfDocument(tmp_path / "book" / "storybook.pdf")[1].render(scale=1).to_pil().convert("L")
    border = round(5 * MM) - 1
    assert min(image.crop((0, 0, image.width, border)).getdata()) == 255
    assert min(image.crop((0, 0, border, image.height)).getdata()) == 255
    assert not (tmp_path / "book" / "booklet.pdf").exists()


def test_impose_needs_the_home_target(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=1, pixels=64)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--impose", "booklet") == 2
    assert "--impose is for --target home" in capsys.readouterr().err


def test_booklet_preflight_says_how_to_print_and_drops_the_page_parity_advice(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=2, pixels=64)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "home", "--impose", "booklet",
                     "--paper-size", "letter", "--json") == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    [booklet] = [f for f in findings if f["check"] in ("page-parity", "booklet")]
    assert "1 sheet(s) of letter paper (3 pages padded to 4" in booklet["message"]


def test_a_home_book_made_again_as_a_booklet_gets_half_sheet_pages(tmp_path):
    story = picture_story(tmp_path / "story", pages=1, pixels=64)
    assert make_book("--manifest", story, "--out", tmp_path / "plain", "--target", "home", "--paper-size", "a4") == 0
    assert make_book("--manifest", tmp_path / "plain", "--out", tmp_path / "booklet", "--impose", "booklet") == 0
    book = json.loads((tmp_path / "booklet" / "story.json").read_text())["book"]
    assert (book["target"], book["paper_size"], book["impose"], book["size"]) == ("home", "a4", "booklet", "a5")
