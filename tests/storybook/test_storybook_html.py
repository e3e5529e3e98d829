"""The HTML preview: a self-contained folder, story text shown as text, and it really displays in a browser."""

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storybook import BookOptions, story_from_pages, write_book

RED, BLUE = (220, 20, 60), (20, 60, 220)
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


class Elements(HTMLParser):
    """Collects the tags, attributes and text of a page, as a browser would parse them."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    half_and_half = Image.new("RGB", (400, 400), RED)
    half_and_half.paste(BLUE, (200, 0, 400, 400))
    texts = [f"Page one says {HOSTILE}", "Page two\x03 ends the story."]
    source = story_from_pages(texts, [half_and_half, Image.new("RGB", (300, 200), BLUE)], title="Two pages")
    return write_book(source, folder / "book", BookOptions(size="a5"))


@pytest.fixture(scope="module")
def parsed(book):
    elements = Elements()
    elements.feed(book.html.read_text(encoding="utf-8"))
    return elements


def test_story_html_is_shown_as_text_not_markup(parsed):
    assert [tag for tag, _ in parsed.tags if tag == "script"] == []
    assert all("onerror" not in attrs for _, attrs in parsed.tags)
    assert HOSTILE in "".join(parsed.text)


def test_control_characters_from_a_model_are_dropped(book):
    assert "\x03" not in book.html.read_text(encoding="utf-8")


def test_preview_folder_is_self_contained(book, parsed):
    sources = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    assert sources and not [tag for tag, _ in parsed.tags if tag in ("link", "iframe", "object")]
    for src in sources:
        assert "://" not in src and not src.startswith("/")
        assert (book.folder / src).is_file()


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium here (Debian: apt-get install chromium; .ci/run installs it)")


def test_preview_renders_in_headless_chromium_with_its_pictures(book, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=800,1000",
         "--virtual-time-budget=5000", f"--screenshot={shot}", Path(book.html).absolute().as_uri()],
        check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    share = {colour: float((pixels == colour).all(axis=1).mean()) for colour in (RED, BLUE)}
    assert len(np.unique(pixels, axis=0)) > 3, "the screenshot is blank"
    # The cover shows page 1's picture: both of its halves must be on screen, or it did not load.
    assert share[RED] > 0.05 and share[BLUE] > 0.05, share
