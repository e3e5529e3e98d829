"""`make --target kdp|lulu`: the interior PDF has the page sizes, bleed sides, safe zone, page count and PDF
variant the services publish, read back from the PDF itself."""

import json

import pytest
from pypdf import PdfReader

from print_helpers import char_boxes, inches, make_book, picture_story, vist_sample
from storybook.options import BookOptions
from storybook.preflight_targets import check_fonts

SAFE_PT = 0.375 * 72


@pytest.fixture(scope="module")
def kdp_book(tmp_path_factory):
    """A 12-page story of 2048 px pictures printed for KDP at 8.5 x 8.5 in."""
    root = tmp_path_factory.mktemp("kdp")
    story = picture_story(root / "story", pages=12, pixels=2048)
    assert make_book("--manifest", story, "--out", root / "book", "--target", "kdp", "--size", "8.5x8.5in") == 0
    return root / "book"


@pytest.fixture(scope="module")
def kdp_vist_book(tmp_path_factory):
    """The VIST sample (5 photos, photo-story layout) printed for KDP at 8.5 x 8.5 in."""
    root = tmp_path_factory.mktemp("kdp-vist")
    sis, images = vist_sample(root)
    code = make_book("--vist", sis, "--images", images, "--out", root / "book", "--layout", "photo-story",
                     "--target", "kdp", "--size", "8.5x8.5in")
    return code, root / "book"


def test_kdp_pages_are_trim_plus_an_eighth_wide_and_a_quarter_tall(kdp_book):
    pages = PdfReader(kdp_book / "storybook.pdf").pages
    assert {(round(float(p.mediabox.width) / 72, 3), round(float(p.mediabox.height) / 72, 3)) for p in pages} == \
        {(8.625, 8.75)}


def test_kdp_bleed_lies_on_the_outside_edge_top_and_bottom_never_the_binding(kdp_book):
    for number, page in enumerate(PdfReader(kdp_book / "storybook.pdf").pages, start=1):
        assert inches(page.trimbox) == (0, 0, 8.5, 8.5)
        # Odd pages are right-hand pages (bound on the left): bleed on the right; even pages the mirror.
        expected = (0, -0.125, 8.625, 8.625) if number % 2 else (-0.125, -0.125, 8.5, 8.625)
        assert inches(page.mediabox) == expected, number
        assert inches(page.bleedbox) == expected, number


def test_kdp_has_no_crop_marks(kdp_book):
    """Marks would be drawn in the bleed; with pictures of light colours, the bleed of every picture page is
    free of dark lines."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(kdp_book / "storybook.pdf")
    for index in (1, 2):  # a right-hand and a left-hand picture page
        picture = document[index].render(scale=30 / 72).to_pil().convert("L")
        top_bleed = picture.crop((0, 0, picture.width, 3))
        assert min(top_bleed.getdata()) > 100, index


def test_kdp_text_and_page_numbers_stay_three_eighths_inch_inside_the_trim(kdp_book):
    pages = char_boxes(kdp_book / "storybook.pdf")
    assert any(c.isdigit() for c, _ in pages[2]), "page numbers are printed"
    for number, chars in enumerate(pages, start=1):
        for char, (left, bottom, right, top) in chars:
            assert min(left, bottom, 612 - right, 612 - top) >= SAFE_PT - 0.5, (number, char)


def test_kdp_book_is_padded_to_24_pages_and_starts_with_a_title_page(kdp_book):
    pages = char_boxes(kdp_book / "storybook.pdf")
    assert len(pages) == 24
    assert "".join(c for c, _ in pages[0]) == "TheLanternFoxA.Writer"
    assert "Notes" in "".join(c for c, _ in pages[-1])


def test_kdp_interior_is_pdf_x4_with_an_srgb_output_intent_and_embedded_fonts(kdp_book):
    reader = PdfReader(kdp_book / "storybook.pdf")
    intent = reader.trailer["/Root"]["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFX" and "sRGB" in intent["/OutputConditionIdentifier"]
    assert b"<pdfxid:GTS_PDFXVersion>PDF/X-4<" in reader.xmp_metadata.stream.get_data()
    assert check_fonts(kdp_book / "storybook.pdf", "KDP") == []


def test_kdp_options_are_recorded_for_reprinting(kdp_book):
    story = json.loads((kdp_book / "story.json").read_text())
    assert story["book"]["target"] == "kdp" and story["book"]["bleed"] == "0"


def test_vist_sample_for_kdp_is_24_pages_with_outside_bleed_and_safe_text(kdp_vist_book):
    code, book = kdp_vist_book
    assert code == 0
    reader = PdfReader(book / "storybook.pdf")
    assert len(reader.pages) == 24
    assert inches(reader.pages[1].mediabox) == (-0.125, -0.125, 8.5, 8.625)
    for number, chars in enumerate(char_boxes(book / "storybook.pdf"), start=1):
        for char, (left, bottom, right, top) in chars:
            assert min(left, bottom, 612 - right, 612 - top) >= SAFE_PT - 0.5, (number, char)


def test_lulu_pages_are_trim_plus_a_quarter_inch_both_ways_and_32_pages(tmp_path):
    story = picture_story(tmp_path / "story", pages=2, pixels=2048)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "lulu", "--size", "6x9in") == 0
    reader = PdfReader(tmp_path / "book" / "storybook.pdf")
    assert len(reader.pages) == 32
    assert {inches(p.mediabox) for p in reader.pages} == {(-0.125, -0.125, 6.125, 9.125)}
    assert not (tmp_path / "book" / "cover.pdf").exists()
    for number, chars in enumerate(char_boxes(tmp_path / "book" / "storybook.pdf"), start=1):
        for char, (left, bottom, right, top) in chars:
            assert min(left, bottom, 6 * 72 - right, 9 * 72 - top) >= 0.5 * 72 - 0.5, (number, char)


@pytest.mark.parametrize("target", ["kdp", "lulu"])
def test_crop_marks_are_refused_for_print_services(tmp_path, capsys, target):
    story = picture_story(tmp_path / "story", pages=1, pixels=64)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", target, "--crop-marks") == 2
    assert "refuses files with crop or trim marks" in capsys.readouterr().err
    assert not (tmp_path / "book").exists()


def test_a_bleed_other_than_the_services_is_refused(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=1, pixels=64)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "kdp", "--bleed", "3mm") == 2
    assert "leave out --bleed" in capsys.readouterr().err


@pytest.mark.parametrize("pages, gutter_in", [(24, 0.375), (150, 0.375), (151, 0.5), (301, 0.625), (828, 0.875)])
def test_kdp_gutter_grows_with_the_page_count_and_the_margins_follow(pages, gutter_in):
    options = BookOptions(size="6x9in", target="kdp")
    assert options.print_target.gutter_in(pages) == gutter_in
    assert options.geometry(pages).margin_mm >= gutter_in * 25.4


def test_remaking_a_kdp_book_from_its_folder_keeps_its_target(kdp_book, tmp_path):
    assert make_book("--manifest", kdp_book, "--out", tmp_path / "again") == 0
    assert json.loads((tmp_path / "again" / "story.json").read_text())["book"]["target"] == "kdp"
    assert len(PdfReader(tmp_path / "again" / "storybook.pdf").pages) == 24
    assert (tmp_path / "again" / "cover.pdf").exists()
