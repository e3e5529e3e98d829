"""Text and names a model or a user hands in never break an export: control characters, NUL and
noncharacters are dropped from everything that becomes XML (EPUB pages, package document, navigation,
ComicInfo.xml) or PDF metadata; pictures with `#`, `?`, `%`, spaces or accents in their names are found by
every e-reader; any ISO 8601 `created` date the manifest accepts is understood by every writer."""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
import zipfile
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

import pypdf
import pytest
from PIL import Image

from storybook.cli import main

HOSTILE = "Bad\x00 \x07title \ufffe\uffff\ufdd0 end"
PICTURES = ["my pic #1.png", "what?.png", "100% fox.png", "café/naïve.png"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A book with hostile text in its title, author and pages, hostile picture names and an ISO week date,
    made with every format; returns (exit code, stderr, OUT)."""
    folder = tmp_path_factory.mktemp("hostile") / "story"
    pages = []
    for number, name in enumerate(PICTURES, start=1):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (60 * number, 80, 120)).save(folder / name)
        pages.append({"text": f"Page {number} \x0b\ufffe\U0010ffff.", "image": name})
    (folder / "story.json").write_text(json.dumps({"schema": 1, "title": HOSTILE, "author": "A\x01uthor\uffff",
                                                   "created": "2026-W49-1", "pages": pages}))
    out = folder.parent / "book"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["make", "--manifest", str(folder), "--out", str(out), "--formats", "epub,cbz"])
    return code, err.getvalue(), out


def epub_documents(out: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(out / "storybook.epub") as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_book_with_hostile_text_names_and_date_is_made(exported):
    code, err, out = exported
    assert code == 0, err
    assert {"storybook.epub", "storybook.cbz", "storybook.pdf"} <= {p.name for p in out.iterdir()}


def test_every_xml_document_of_the_epub_is_well_formed_and_keeps_the_readable_text(exported):
    documents = epub_documents(exported[2])
    xml = {name: data for name, data in documents.items() if name.endswith((".xhtml", ".opf", ".ncx", ".xml"))}
    for name, data in xml.items():
        ElementTree.fromstring(data)  # raises on a character XML does not allow
    text = b"".join(xml.values()).decode()
    assert "Bad title  end" in text and "Author" in text and "\ufffe" not in text and "\x00" not in text


def test_every_href_of_the_epub_points_at_a_file_in_it(exported):
    documents = epub_documents(exported[2])
    opf_name = next(name for name in documents if name.endswith(".opf"))
    opf = ElementTree.fromstring(documents[opf_name])
    base = posixpath.dirname(opf_name)
    hrefs = [item.get("href") for item in opf.iter("{http://www.idpf.org/2007/opf}item")]
    for page in (name for name in documents if name.endswith(".xhtml")):
        hrefs += [posixpath.relpath(posixpath.join(posixpath.dirname(page), img.get("src")), base)
                  for img in ElementTree.fromstring(documents[page]).iter("{http://www.w3.org/1999/xhtml}img")]
    assert len(hrefs) > len(PICTURES)
    assert all(posixpath.normpath(posixpath.join(base, unquote(href))) in documents for href in hrefs)


def test_comic_info_is_well_formed_and_dated_from_the_week_date(exported):
    with zipfile.ZipFile(exported[2] / "storybook.cbz") as archive:
        info = ElementTree.fromstring(archive.read("ComicInfo.xml"))
    assert info.findtext("Title") == "Bad title  end"
    assert (info.findtext("Year"), info.findtext("Month")) == ("2026", "11")  # Monday of week 49: 30 Nov 2026


def test_the_pdf_metadata_holds_the_readable_title(exported):
    assert pypdf.PdfReader(exported[2] / "storybook.pdf").metadata.title == "Bad title  end"
