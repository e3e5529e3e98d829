"""Each fixed-layout EPUB page lays out inside its declared viewport in a real browser engine (headless
Chromium), not only in epubcheck's eyes: no element sticks out of the page and no text is cut off."""

import re
import zipfile

import pytest
from browser import HeadlessPage
from PIL import Image

from storybook import BookOptions, story_from_pages, write_book

LONG = " ".join(["The little fox walked through the quiet forest looking for berries."] * 18)
TEXTS = ["A fox woke up early.", LONG, "שלום עולם!", "Das Wort ist Donaudampfschifffahrtselektrizitätenhauptbetriebswerk."]

# For every element: its box outside the viewport, or (for boxes that clip, such as the text frames) content taller
# or wider than the box, which the reader would not see.
OVERFLOWS = """((w, h) => {
  const bad = [];
  for (const e of document.querySelectorAll('body, body *')) {
    const r = e.getBoundingClientRect();
    if (r.left < -1 || r.top < -1 || r.right > w + 1 || r.bottom > h + 1) bad.push(e.tagName + '.' + e.className + ' box ' + [r.left, r.top, r.right, r.bottom, w, h].map(Math.round).join(','));
    const clips = getComputedStyle(e).overflow !== 'visible';
    if (clips && (e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1)) bad.push(e.tagName + '.' + e.className + ' content ' + [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight].join(','));
  }
  return bad;
})"""


@pytest.fixture(scope="module")
def epub_pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("epub")
    book = write_book(story_from_pages(TEXTS, [Image.new("RGB", (96, 64), (90, 120, 200))] * len(TEXTS),
                                       title="A fox in the forest"), tmp / "book", BookOptions(formats=("pdf", "epub")))
    with zipfile.ZipFile(book.exports["epub"]) as archive:
        archive.extractall(tmp / "unzipped")
    return sorted((tmp / "unzipped").rglob("page-*.xhtml"))


def test_every_epub_page_fits_its_viewport_in_chromium(epub_pages, tmp_path):
    page = HeadlessPage(tmp_path / "profile")
    try:
        for path in epub_pages:
            width, height = (int(n) for n in re.search(r'content="width=(\d+), height=(\d+)"',
                                                         path.read_text()).groups())
            page.navigate(path.as_uri())
            kind = re.search(r'<body class="([\w-]+)"', path.read_text()).group(1)
            page.wait_for(f"document.readyState === 'complete' && document.fonts.status === 'loaded' && "
                          f"document.body.className === '{kind}'")
            # Measured against the declared viewport (the body has its size, whatever the window's size).
            assert page.evaluate(f"{OVERFLOWS}({width}, {height})") == [], path.name
    finally:
        page.close()


def test_a_page_whose_text_moved_in_print_has_a_text_page_in_the_epub_too(epub_pages):
    kinds = [re.search(r'<body class="page-(\w+)"', p.read_text()).group(1) for p in epub_pages]
    assert kinds == ["cover", "band", "picture", "text", "band", "band"]
