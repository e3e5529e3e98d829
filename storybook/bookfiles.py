"""The files a book folder holds besides story.json, its pictures, index.html and the PDF.

`storybook.outdir` replaces an existing book folder only if it holds nothing but a book's files; this is
the list of the files that features, fonts and exports add, kept beside the modules that write them.
"""

from __future__ import annotations

from storybook.cbz import CBZ_NAME
from storybook.cover import COVER_NAME
from storybook.epub import EPUB_NAME
from storybook.features import FEATURES_NAME
from storybook.fonts import FONT_FILES, FONT_FOLDER
from storybook.impose import BOOKLET_NAME


def extra_book_files() -> set[str]:
    """Relative paths (folders included) that `write_book` may add to a book folder."""
    fonts = {f"{FONT_FOLDER}/{name}" for name in FONT_FILES}
    return {FEATURES_NAME, EPUB_NAME, CBZ_NAME, COVER_NAME, BOOKLET_NAME, FONT_FOLDER, *fonts}
