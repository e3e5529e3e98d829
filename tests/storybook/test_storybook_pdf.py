"""The print PDF, read back with pypdf (and PDFium where pixels matter): what a printer receives."""


import numpy as np
import pypdf
import pytest
from pdf_reading import render_page
from PIL import Image

from storybook import BookOptions, story_from_pages, write_book

TEXTS = [
    'The red fox said <script>alert("boo")</script> & <b>hello</b>.',
    "The blue bird sang all day.",
    "The green frog jumped home.",
]
PICTURES = [("p1.png", (640, 480), (200, 30, 40)), ("p2.jpg", (300, 500), (30, 90, 220)),
            ("p3.png", (512, 512), (40, 170, 60))]


def points(mm):
    return mm * 72 / 25.4


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for name, size, colour in PICTURES:
        Image.new("RGB", size, colour).save(folder / name)
        paths.append(folder / name)
    return paths


def make_book(folder, pictures, **options):
    source = story_from_pages(TEXTS, pictures, title="Three <Friends>", author="Ann O'Neil")
    return write_book(source, folder / "book", BookOptions(**options))


@pytest.fixture(scope="module")
def book(tmp_path_factory, pictures):
    """An A5 book with a 3 mm bleed and crop marks, as a print shop would ask for it."""
    return make_book(tmp_path_factory.mktemp("bled"), pictures, size="a5", bleed="3mm", crop_marks=True)


@pytest.fixture(scope="module")
def plain_book(tmp_path_factory, pictures):
    return make_book(tmp_path_factory.mktemp("plain"), pictures, size="a5")


@pytest.fixture(scope="module")
def reader(book):
    return pypdf.PdfReader(book.pdf)


def squeeze(text):
    """Text without whitespace: line breaks fall wherever the layout puts them."""
    return "".join(text.split())


def page_text(reader, index):
    return squeeze(reader.pages[index].extract_text())


def test_one_pdf_page_per_sheet_cover_first(reader):
    assert len(reader.pages) == 1 + len(TEXTS)


def test_trimmed_page_is_a5_in_points(reader):
    trim = reader.pages[0].trimbox
    assert (float(trim.width), float(trim.height)) == pytest.approx((points(148), points(210)), abs=0.01)


def test_bleed_adds_3mm_on_every_side_of_the_media_box(reader):
    media = reader.pages[0].mediabox
    assert (float(media.width), float(media.height)) == pytest.approx((points(154), points(216)), abs=0.01)


def test_without_bleed_the_page_is_exactly_a5(plain_book):
    media = pypdf.PdfReader(plain_book.pdf).pages[0].mediabox
    assert (float(media.width), float(media.height)) == pytest.approx((points(148), points(210)), abs=0.01)


def test_every_font_is_embedded_and_the_bundled_andika_is_used(reader):
    names = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = (font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font)[
                "/FontDescriptor"].get_object()
            assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), f"{font['/BaseFont']} not embedded"
            names.append(str(font["/BaseFont"]))
    assert any("Andika" in name for name in names)


def embedded_images(reader):
    images = {}
    for page in reader.pages:
        for xobject in page["/Resources"]["/XObject"].values():
            xobject = xobject.get_object()
            if xobject["/Subtype"] == "/Image":
                images[(int(xobject["/Width"]), int(xobject["/Height"]))] = xobject
    return images


def test_pictures_are_embedded_at_their_full_pixel_size(reader):
    assert set(embedded_images(reader)) == {size for _, size, _ in PICTURES}


def test_jpeg_pictures_are_embedded_byte_for_byte(reader, pictures):
    jpeg = embedded_images(reader)[(300, 500)]
    assert jpeg["/Filter"] == "/DCTDecode"
    assert jpeg.get_data() == pictures[1].read_bytes()


def test_story_text_is_extractable_in_page_order(reader):
    for index, text in enumerate(TEXTS):
        assert squeeze(text) in page_text(reader, index + 1)


def test_html_in_story_text_prints_as_text(reader):
    assert squeeze('<script>alert("boo")</script> & <b>hello</b>') in page_text(reader, 1)


def test_pdf_metadata_names_title_author_and_generator(reader):
    assert reader.metadata.title == "Three <Friends>"
    assert reader.metadata.author == "Ann O'Neil"
    assert reader.metadata.creator.startswith("minigpt5-storybook")


def test_page_numbers_are_printed_on_story_pages(reader):
    assert page_text(reader, 2).endswith("3")


def dark_pixels(image, box):
    return int((np.asarray(image.crop(box), dtype=int).sum(axis=2) < 200).sum())


def test_crop_marks_are_drawn_in_the_bleed_only_when_asked(book, plain_book, tmp_path):
    bleed = round(points(3))
    with_marks = render_page(book.pdf, 2)
    assert dark_pixels(with_marks, (0, 0, bleed, bleed)) > 0
    plain = render_page(plain_book.pdf, 2)
    assert dark_pixels(plain, (0, 0, 20, 20)) == 0


@pytest.mark.parametrize("layout, pages, text_pages", [
    ("image-above-text", 4, [2, 3, 4]),
    ("full-bleed", 4, [2, 3, 4]),
    ("spread", 7, [3, 5, 7]),
    ("photo-story", 2, [2, 2, 2]),
])
def test_each_layout_puts_the_text_on_the_expected_pages(tmp_path, pictures, layout, pages, text_pages):
    reader = pypdf.PdfReader(make_book(tmp_path, pictures, layout=layout).pdf)
    assert len(reader.pages) == pages
    for text, page in zip(TEXTS, text_pages):
        assert squeeze(text) in page_text(reader, page - 1)


def test_full_bleed_picture_reaches_into_the_bleed(tmp_path, pictures):
    book = make_book(tmp_path, pictures, layout="full-bleed", bleed="3mm")
    image = render_page(book.pdf, 2)
    assert image.getpixel((2, image.height // 2)) == PICTURES[0][2]


@pytest.mark.parametrize(("created", "pdf_date"), [
    ("2026-12-07T10:11:12+00:00", "D:20261207101112Z"),
    ("2026-12-07T10:11:12+05:30", "D:20261207101112+05'30"),  # weasyprint writes PDF 2.0's form
    ("2026-W49-1", "D:20261130"),  # an ISO week date: Monday of week 49
    ("20261207T101112", "D:20261207"),  # basic format, no zone: the date alone, no zone is guessed
])
def test_every_iso_8601_creation_date_reaches_the_pdf_metadata(tmp_path, created, pdf_date):
    source = story_from_pages(["A page."], [Image.new("RGB", (64, 64), (10, 120, 200))], title="Dated")
    source.story.created = created
    result = write_book(source, tmp_path / "book", BookOptions(cover=False))
    assert pypdf.PdfReader(result.pdf).metadata["/CreationDate"] == pdf_date
