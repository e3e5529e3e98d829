"""The picture-book layout (the default): pictures to the page edges, text in a band or on the facing page,
crisp tiny pictures, the bundled font with fallbacks, and booklet padding."""


import pypdf
import pytest
from font_probes import PROBES, skip_without_fonts_for
from pdf_reading import render_page
from PIL import Image

from storybook import BookOptions, story_from_pages, write_book
from storybook.layouts import plan_sheets

RED, TEAL = (200, 30, 40), (20, 150, 140)


def kinds(sheets):
    return [sheet.kind for sheet in sheets]


def make_book(tmp_path, texts, pictures, **options):
    return write_book(story_from_pages(texts, pictures, title="Picture book"), tmp_path / "book",
                      BookOptions(**options))


def close(pixel, colour, tolerance=12):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def test_short_texts_get_a_text_band_under_each_picture():
    sheets = plan_sheets(2, "picture-book")
    assert kinds(sheets) == ["cover", "picture-band", "picture-band"]


def test_only_a_page_whose_text_moved_gets_a_text_page_after_its_picture():
    sheets = plan_sheets(3, "picture-book", moved={1})
    assert kinds(sheets) == ["cover", "picture-band", "spread-image", "spread-text", "picture-band"]
    assert [s.pages for s in sheets[2:4]] == [(1,), (1,)]


@pytest.mark.parametrize("padding, expected", [
    ("none", ["cover", "picture-band"]),
    ("blank", ["cover", "picture-band", "blank", "blank"]),
    ("end", ["cover", "picture-band", "end", "blank"]),
])
def test_booklet_padding_reaches_a_multiple_of_four(padding, expected):
    sheets = plan_sheets(1, "picture-book", padding=padding)
    assert kinds(sheets) == expected
    assert not any(s.numbered for s in sheets if s.kind in ("blank", "end"))


def test_end_page_padding_prints_the_end_and_silences_the_parity_warning(tmp_path):
    book = make_book(tmp_path, ["A fox."], [Image.new("RGB", (32, 32), RED)], padding="end")
    reader = pypdf.PdfReader(book.pdf)
    assert len(reader.pages) == 4 and "The End" in reader.pages[2].extract_text()
    assert not [f for f in book.report.findings if f.check == "page-parity"]


def test_picture_reaches_the_left_right_and_top_edges_of_the_page(tmp_path):
    book = make_book(tmp_path, ["A red page."], [Image.new("RGB", (32, 32), RED)], bleed="3mm")
    page = render_page(book.pdf, 2, dpi=40)
    for x, y in ((0, 0), (page.width - 2, 0), (0, page.height // 3), (page.width - 2, page.height // 3)):
        assert close(page.getpixel((x, y)), RED), (x, y)
    assert not close(page.getpixel((page.width // 2, page.height - 3)), RED)  # the text band


def test_space_beside_a_picture_of_another_shape_continues_the_picture_blurred_not_a_flat_bar(tmp_path):
    wide = Image.linear_gradient("L").rotate(90).resize((256, 128)).convert("RGB")  # black left, white right
    page = render_page(make_book(tmp_path, ["Wide."], [wide]).pdf, 2, dpi=40)
    left, right = page.getpixel((4, 2)), page.getpixel((page.width - 5, 2))  # above the picture
    assert sum(left) < 3 * 100 and sum(right) > 3 * 155, (left, right)  # the gradient runs on past the picture


def interpolation_of_each_picture(pdf):
    flags = {}
    for page in pypdf.PdfReader(pdf).pages:
        for xobject in page["/Resources"].get("/XObject", {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Image":
                flags[int(xobject["/Width"])] = xobject.get("/Interpolate", False) == True  # noqa: E712 (a PDF boolean)
    return flags


def test_tiny_pictures_print_with_square_pixels_and_photos_smoothly(tmp_path):
    pictures = [Image.new("RGB", (32, 32), RED), Image.new("RGB", (512, 512), TEAL)]
    book = make_book(tmp_path, ["Tiny.", "Photo."], pictures)
    assert interpolation_of_each_picture(book.pdf) == {32: False, 512: True}
    low = [f for f in book.report.findings if f.check == "image-dpi"]
    assert {f.where for f in low} >= {"page 1", "page 2"}  # both still far under 300 dpi, and said so


def test_tiny_pictures_look_sharp_in_the_html_preview_too(tmp_path):
    book = make_book(tmp_path, ["Tiny."], [Image.new("RGB", (32, 32), RED)])
    html = book.html.read_text()
    assert 'class="crisp"' in html and "image-rendering: pixelated" in html


def fonts_drawing(reader, page_index, characters):
    """The fonts the PDF page draws `characters` with (from pypdf's text runs)."""
    used = set()

    def visit(text, _cm, _tm, font, _size):
        if font is not None and any(ch in text for ch in characters):
            used.add(str(font["/BaseFont"]).split("+")[-1])

    reader.pages[page_index].extract_text(visitor_text=visit)
    return used


def test_story_text_is_in_the_bundled_andika(tmp_path):
    reader = pypdf.PdfReader(make_book(tmp_path, ["Fox and tree."], [Image.new("RGB", (32, 32), RED)]).pdf)
    assert fonts_drawing(reader, 1, "Fox") == {"Andika"}


@pytest.mark.parametrize("script", PROBES)
def test_scripts_andika_lacks_fall_back_to_fonts_that_have_them(tmp_path, script):
    probe = PROBES[script]
    skip_without_fonts_for(probe)
    reader = pypdf.PdfReader(make_book(tmp_path, [f"{script}: {probe}"], [Image.new("RGB", (32, 32), RED)]).pdf)
    letters = probe.replace(" ", "")
    assert all(ch in reader.pages[1].extract_text() for ch in letters), probe  # drawn, not as boxes
    used = fonts_drawing(reader, 1, letters)
    assert used and "Andika" not in used, (probe, used)


def test_html_preview_says_in_one_sentence_how_to_edit_a_page(tmp_path):
    book = make_book(tmp_path, ["A fox."], [Image.new("RGB", (32, 32), RED)])
    html = book.html.read_text()
    assert "edit its \"text\" in story.json" in html
    folder = str((tmp_path / "book").resolve())
    assert f"python -m storybook make --manifest {folder} --out {folder}" in html  # the real folder, ready to paste
    assert "redraw" not in html  # these pictures were not drawn by a model: nothing to redraw them from
    assert "story.json" not in " ".join(p.extract_text() for p in pypdf.PdfReader(book.pdf).pages)


def test_crop_marks_show_over_a_picture_that_reaches_into_the_bleed(tmp_path):
    navy = (20, 40, 120)
    book = make_book(tmp_path, ["Navy."], [Image.new("RGB", (32, 32), navy)], bleed="3mm", crop_marks=True)
    page = render_page(book.pdf, 2, dpi=150)
    bleed = round(3 / 25.4 * 150)
    corner = [page.getpixel((x, y)) for x in range(bleed) for y in range(bleed)]
    assert any(sum(pixel) < 60 for pixel in corner)  # black, not the navy picture under it
