"""`--formats epub,cbz`: an EPUB 3 fixed-layout e-book and a comic book archive beside the PDF."""

import shutil
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from PIL import Image

from storybook import BookOptions, Page, Story, StorybookError, save_story, story_from_pages, write_book
from storybook.cli import main

TEXTS = ["A red square sits in the middle.", "A green square moves right.", "A blue square goes home."]
OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    pictures = [Image.new("RGB", (32, 32), colour) for colour in ((200, 40, 40), (40, 200, 40), (40, 40, 200))]
    source = story_from_pages(TEXTS, pictures, title="Three squares", author="MiniGPT-5")
    return write_book(source, tmp_path_factory.mktemp("exports") / "book",
                      BookOptions(formats=("pdf", "epub", "cbz")))


def epubcheck_command() -> list[str]:
    """Debian's epubcheck is a jar behind /usr/bin/epubcheck; run it with java."""
    found = shutil.which("epubcheck")
    if found is None or shutil.which("java") is None:
        pytest.skip("epubcheck (Debian package epubcheck, installed by .ci/run) is not installed")
    jar = Path(found).resolve()
    return ["java", "-jar", str(jar)] if jar.suffix == ".jar" else [found]


def package_document(epub: Path) -> ElementTree.Element:
    with zipfile.ZipFile(epub) as archive:
        container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
        path = container.find(".//{urn:oasis:names:tc:opendocument:xmlns:container}rootfile").get("full-path")
        return ElementTree.fromstring(archive.read(path))


def test_epub_passes_epubcheck(book):
    result = subprocess.run([*epubcheck_command(), str(book.exports["epub"])], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors or warnings detected" in result.stdout


def test_epub_is_fixed_layout_one_page_per_spread_with_metadata_and_cover(book):
    opf = package_document(book.exports["epub"])
    properties = {meta.get("property"): meta.text for meta in opf.iter(f"{OPF}meta") if meta.get("property")}
    assert properties["rendition:layout"] == "pre-paginated" and properties["rendition:spread"] == "none"
    assert opf.find(f".//{DC}title").text == "Three squares" and opf.find(f".//{DC}creator").text == "MiniGPT-5"
    assert opf.find(f".//{DC}language").text == "en"
    assert [item for item in opf.iter(f"{OPF}item") if item.get("properties") == "cover-image"]
    assert len(list(opf.iter(f"{OPF}itemref"))) == 1 + len(TEXTS)  # the cover, then one page per story page


def test_epub_pages_hold_the_story_as_real_text_and_the_font(book):
    with zipfile.ZipFile(book.exports["epub"]) as archive:
        names = archive.namelist()
        # (the last two words of a text are joined by a no-break space: no lone last word on a line)
        pages = "".join(archive.read(name).decode() for name in names if name.endswith(".xhtml")).replace("\u00a0", " ")
    assert all(text in pages for text in TEXTS)
    assert any(name.endswith("fonts/Andika-Regular.ttf") for name in names)


def test_cbz_holds_the_printed_pages_in_order_and_comic_info(book):
    with zipfile.ZipFile(book.exports["cbz"]) as archive:
        names = archive.namelist()
        info = ElementTree.fromstring(archive.read("ComicInfo.xml"))
        first = Image.open(archive.open(names[0]))
        first.load()
    pages = [name for name in names if name.endswith(".png")]
    assert pages == sorted(pages) == ["001.png", "002.png", "003.png", "004.png"]  # cover + 3 story pages
    assert info.find("Title").text == "Three squares" and info.find("PageCount").text == "4"
    assert info.find("Pages")[0].get("Type") == "FrontCover"
    assert first.size == pytest.approx((874, 1240), abs=1)  # A5 at 150 dpi


def test_default_formats_write_no_epub_or_cbz(tmp_path):
    Image.new("RGB", (32, 32), (1, 2, 3)).save(tmp_path / "p.png")
    source = story_from_pages(["One page."], [tmp_path / "p.png"], title="Plain")
    result = write_book(source, tmp_path / "book")
    assert result.exports == {}
    assert [p.name for p in (tmp_path / "book").glob("storybook.*")] == ["storybook.pdf"]


def test_unknown_format_is_one_line_naming_the_choices(tmp_path, capsys):
    Image.new("RGB", (32, 32), (1, 2, 3)).save(tmp_path / "p.png")
    save_story(Story(title="Plain", pages=[Page(text="One page.", image="p.png")]), tmp_path)
    code = main(["make", "--manifest", str(tmp_path), "--formats", "pdf,mobi", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown format 'mobi'" in err and "epub" in err and len(err.splitlines()) == 1


def test_book_options_refuse_an_unknown_format():
    with pytest.raises(StorybookError, match="unknown format 'mobi'"):
        BookOptions(formats=("pdf", "mobi")).validate()
