"""Where weasyprint cannot load (no Pango: most Windows and macOS machines), `make` prints the same index.html
through a Chromium-family browser: the PDF has the page size with its bleed, and preflight says what such a PDF
lacks. Run with Debian's chromium here."""

import json

import pypdf
import pypdfium2
import pytest

from browser import chromium_path
from storybook.pagesize import PageGeometry
from storybook.pdf_browser import BrowserPrintFailed, check_printed, find_browser
from storybook_helpers import run_make, story_folder

TEXTS = ("A cat sat.", "The dog ran home.")
MM = 25.4 / 72


def page_sizes_mm(pdf):
    return [(round(float(p.mediabox.width) * MM, 1), round(float(p.mediabox.height) * MM, 1))
            for p in pypdf.PdfReader(pdf).pages]


def word_box_mm(pdf, page_index, word):
    """(left, bottom) of `word`'s first letter, in mm from the lower-left corner of the whole (bleed) page."""
    origin = pypdf.PdfReader(pdf).pages[page_index].mediabox.lower_left
    text = pypdfium2.PdfDocument(str(pdf))[page_index].get_textpage()
    index, _ = text.search(word).get_next()
    left, bottom, _, _ = text.get_charbox(index)
    return (left - float(origin[0])) * MM, (bottom - float(origin[1])) * MM


@pytest.fixture
def with_chromium():
    chromium_path()  # skips where this machine has none


def test_make_without_pango_prints_the_pdf_at_trim_plus_bleed(tmp_path, capsys, no_pango, with_chromium):
    code, out, err = run_make(capsys, "--manifest", story_folder(tmp_path / "s", TEXTS), "--out", tmp_path / "book",
                              "--size", "8.5x8.5in", "--bleed", "0.125in", "--json")
    assert code == 0, err
    assert json.loads(out)["pdf"] == str(tmp_path / "book" / "storybook.pdf")
    assert page_sizes_mm(tmp_path / "book" / "storybook.pdf") == [(222.2, 222.2)] * 3  # cover + 2 pages, 8.75 in


def test_the_browser_pdf_puts_the_text_where_weasyprints_pdf_does(tmp_path, capsys, monkeypatch, with_chromium):
    folder = story_folder(tmp_path / "s", TEXTS)
    options = ("--size", "a5", "--bleed", "3mm", "--layout", "image-above-text")
    assert run_make(capsys, "--manifest", folder, "--out", tmp_path / "weasyprint", *options)[0] == 0
    import builtins

    real_import = builtins.__import__

    def without_weasyprint(name, *args, **kwargs):
        if name.startswith("weasyprint"):
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_weasyprint)
    assert run_make(capsys, "--manifest", folder, "--out", tmp_path / "browser", *options)[0] == 0
    weasy = word_box_mm(tmp_path / "weasyprint" / "storybook.pdf", 2, "dog")
    browser = word_box_mm(tmp_path / "browser" / "storybook.pdf", 2, "dog")
    assert browser == pytest.approx(weasy, abs=0.6)  # the browser rounds its page size to whole points


def test_preflight_says_what_the_browser_pdf_lacks_and_what_to_install(tmp_path, capsys, no_pango, with_chromium):
    code, out, _ = run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", tmp_path / "book", "--json")
    (finding,) = [f for f in json.loads(out)["findings"] if f["check"] == "pdf-browser"]
    assert "no TrimBox/BleedBox, no PDF/X" in finding["message"] and "install Pango" in finding["message"]


def test_a_browser_that_ignores_the_page_size_is_reported(tmp_path):
    letter = tmp_path / "letter.pdf"
    writer = pypdf.PdfWriter()
    writer.add_blank_page(612, 792)
    writer.write(letter)
    with pytest.raises(BrowserPrintFailed, match=r"printed 1 pages of 215.9 x 279.4 mm, not 1 pages of 148.0 x "
                                                 r"210.0 mm .*update the browser"):
        check_printed(letter, PageGeometry(148, 210), 1, tmp_path / "old-chrome")


def test_a_browser_on_path_is_found_before_the_install_folders(tmp_path):
    edge = tmp_path / "Microsoft" / "Edge" / "Application" / "msedge.exe"
    edge.parent.mkdir(parents=True)
    edge.touch()
    on_path = find_browser("Windows", {"ProgramFiles": str(tmp_path)},
                           which=lambda name: "/opt/bin/msedge" if name == "msedge" else None, home=tmp_path)
    assert str(on_path) == "/opt/bin/msedge"


def test_edge_is_found_where_windows_installs_it(tmp_path):
    edge = tmp_path / "Program Files (x86)" / "Microsoft" / "Edge" / "Application" / "msedge.exe"
    edge.parent.mkdir(parents=True)
    edge.touch()
    found = find_browser("Windows", {"ProgramFiles(x86)": str(tmp_path / "Program Files (x86)")},
                         which=lambda name: None, home=tmp_path)
    assert found == edge


def test_chrome_is_found_in_a_macs_applications_folder(tmp_path):
    chrome = tmp_path / "Applications" / "Google Chrome.app" / "Contents" / "MacOS" / "Google Chrome"
    chrome.parent.mkdir(parents=True)
    chrome.touch()
    assert find_browser("Darwin", {}, which=lambda name: None, home=tmp_path) == chrome


def test_no_browser_is_none(tmp_path):
    assert find_browser("Linux", {}, which=lambda name: None, home=tmp_path) is None
