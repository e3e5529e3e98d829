"""Texts in the scripts the bundled Andika lacks, and a skip for tests that need a system font for them.

CI installs the fonts (.ci/run: fonts-dejavu-core, fonts-noto-cjk, fonts-noto-color-emoji); a fresh machine may
lack them, and there the book is refused (tests/storybook/test_glyph_coverage.py), so the tests that need a
script's font drawn skip, saying which font to install.
"""

from __future__ import annotations

import pytest

from storybook.fonts import FACES, FONT_SOURCE
from storybook.glyphs import FONT_PACKAGES, missing_glyphs, script_of

PROBES = {"hebrew": "שלום עולם", "arabic": "مرحبا بالعالم", "cjk": "小狐狸在森林里", "emoji": "🦊🌲"}
ANDIKA = [FONT_SOURCE / face.file for face in FACES]


def lacking(text: str) -> list[str]:
    """The characters of `text` that neither Andika nor any font on this machine has."""
    return list(missing_glyphs({"probe": text}, ANDIKA))


def skip_without_fonts_for(text: str) -> None:
    """Skip the calling test, naming the package to install, when this machine cannot draw all of `text`."""
    missing = lacking(text)
    if missing:
        packages = sorted({FONT_PACKAGES[script_of(ch)][0] for ch in missing})
        pytest.skip(f"this machine has no font for {''.join(missing)!r} (install {' '.join(packages)}; "
                    ".ci/run does)")


# Tangut: a script of the Unicode standard that no common font package covers, so a book in it is refused on
# any ordinary machine and needs --font.
TANGUT = "\U00017000\U00017001"


def square_font(path, characters: str = TANGUT, name: str = "ProbeSquares"):
    """Write a small real TrueType font (fontTools' FontBuilder) drawing each of `characters` as a filled square."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def square():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0)), pen.lineTo((100, 700)), pen.lineTo((900, 700)), pen.lineTo((900, 0)), pen.closePath()
        return pen.glyph()

    def empty():
        return TTGlyphPen(None).glyph()

    names = [f"u{ord(ch):05X}" for ch in characters]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", *names])
    builder.setupCharacterMap({ord(ch): glyph for ch, glyph in zip(characters, names)})
    builder.setupGlyf({".notdef": empty(), **{glyph: square() for glyph in names}})
    builder.setupHorizontalMetrics({".notdef": (500, 0), **{glyph: (1000, 100) for glyph in names}})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": name, "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    builder.save(str(path))
    return path
