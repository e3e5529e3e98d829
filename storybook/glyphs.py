"""Glyph coverage: every character of the book is drawn by some font, or the book is refused.

A font without a character makes Pango draw an empty box (.notdef) and weasyprint still writes the PDF, so a
page in Chinese on a machine without a CJK font would print as rows of boxes with exit 0. This check runs
before anything is laid out: it reads the character maps of the fonts the PDF will use, in weasyprint's order
(the bundled Andika, the user's `--font` files, then every font weasyprint's own fontconfig knows, which is
where Pango's glyph-by-glyph fallback looks), and names what no font has, on which pages, and what to install.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path

from storybook.errors import StorybookError

# Characters that are not drawn as glyphs of their own: joiners, direction marks, variation selectors (they pick
# the emoji or text form of the character before them).
_INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")
_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))
_SHOWN = 8  # characters named in the message; the rest are counted

# What to install per script, as the fix in the refusal: (Debian/Ubuntu package, Fedora package). macOS ships
# fonts for all of these; Windows too (it is not fontconfig's default set there, hence --font).
FONT_PACKAGES = {
    "CJK": ("fonts-noto-cjk", "google-noto-sans-cjk-fonts"),
    "emoji": ("fonts-noto-color-emoji", "google-noto-color-emoji-fonts"),
    "Hebrew": ("fonts-dejavu-core", "dejavu-sans-fonts"),
    "Arabic": ("fonts-dejavu-core", "dejavu-sans-fonts"),
    "other scripts": ("fonts-noto-core", "google-noto-sans-fonts"),
}


def script_of(character: str) -> str:
    """The FONT_PACKAGES key of the font family a character needs."""
    code = ord(character)
    if 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF:
        return "emoji"
    name = unicodedata.name(character, "")
    if any(word in name for word in ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC")):
        return "CJK"
    for script in ("HEBREW", "ARABIC"):
        if name.startswith(script):
            return script.title()
    return "other scripts"


def drawn_characters(text: str) -> set[str]:
    """The characters of `text` that need a glyph (not spaces, controls, joiners or variation selectors)."""
    return {ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
            and not any(ord(ch) in selectors for selectors in _VARIATION_SELECTORS)}


@cache
def _cmap(path: str, mtime: float) -> frozenset[int]:
    """The code points one font file (every face of a collection) maps; empty if fontTools cannot read it
    (bitmap and Type 1 fonts, which Pango does not use either). `mtime` makes a replaced file read again."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    try:
        if path.lower().endswith((".ttc", ".otc")):
            with TTCollection(path, lazy=True) as collection:
                return frozenset().union(*(font.getBestCmap() or {} for font in collection.fonts))
        with TTFont(path, lazy=True, fontNumber=0) as font:
            return frozenset(font.getBestCmap() or {})
    except (TTLibError, OSError, AssertionError, KeyError, ValueError, EOFError):
        return frozenset()


def font_characters(path: Path) -> frozenset[int]:
    """The code points the font file at `path` has glyphs for."""
    path = Path(path)
    return _cmap(str(path), path.stat().st_mtime)


def system_font_files() -> list[str]:
    """The font files weasyprint's fontconfig knows (the same library and configuration it lays out with);
    [] where weasyprint's native libraries cannot load (then no PDF is made, and nothing needs checking)."""
    try:
        from weasyprint.text.ffi import ffi, fontconfig
    except (OSError, ImportError):
        return []
    config = fontconfig.FcInitLoadConfigAndFonts()
    try:
        fonts = fontconfig.FcConfigGetFonts(config, fontconfig.FcSetSystem)
        name = ffi.new("FcChar8 **")
        files = []
        for index in range(fonts.nfont if fonts != ffi.NULL else 0):
            if fontconfig.FcPatternGetString(fonts.fonts[index], b"file", 0, name) == fontconfig.FcResultMatch:
                files.append(ffi.string(name[0]).decode("utf-8", "surrogateescape"))
        return sorted(set(files))
    finally:
        fontconfig.FcConfigDestroy(config)


def missing_glyphs(texts: Mapping[str, str], fonts: Iterable[Path],
                   fallback_files: Iterable[str] | None = None) -> dict[str, list[str]]:
    """{character: [where, ...]} for each character of `texts` ({where: text}) that neither `fonts` (read
    first: the bundled and user fonts) nor the fallback fonts (default: fontconfig's) have."""
    where_used: dict[str, list[str]] = {}
    for where, text in texts.items():
        for ch in sorted(drawn_characters(text)):
            where_used.setdefault(ch, []).append(where)
    missing = set(where_used)
    for characters in _maps(fonts, fallback_files):
        missing = {ch for ch in missing if ord(ch) not in characters}
        if not missing:
            return {}
    return {ch: where_used[ch] for ch in sorted(missing)}


def _maps(fonts: Iterable[Path], fallback_files: Iterable[str] | None) -> Iterator[frozenset[int]]:
    """The character maps of `fonts`, then of the fallbacks: a generator, so that system fonts are only read
    while characters are still missing (a Latin book reads Andika alone)."""
    for path in fonts:
        yield font_characters(Path(path))
    for path in system_font_files() if fallback_files is None else fallback_files:
        if Path(path).is_file():
            yield font_characters(Path(path))


def _pages(places: list[str]) -> str:
    return ", ".join(dict.fromkeys(places))


def refusal(missing: Mapping[str, list[str]]) -> str:
    """One line: which characters no font draws, where they are, and the fix (font packages or --font)."""
    by_script: dict[str, list[str]] = {}
    for ch in missing:
        by_script.setdefault(script_of(ch), []).append(ch)
    parts = []
    for script, characters in by_script.items():
        shown = " ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in characters[:_SHOWN])
        more = f" and {len(characters) - _SHOWN} more" if len(characters) > _SHOWN else ""
        places = _pages([place for ch in characters for place in missing[ch]])
        parts.append(f"{script}: {shown}{more} on {places}")
    debian = " ".join(dict.fromkeys(FONT_PACKAGES[s][0] for s in by_script))
    fedora = " ".join(dict.fromkeys(FONT_PACKAGES[s][1] for s in by_script))
    return (f"no font on this machine has glyphs for {len(missing)} characters of the book, which would print "
            f"as empty boxes ({'; '.join(parts)}); install fonts that have them (Debian/Ubuntu: apt install "
            f"{debian}; Fedora: dnf install {fedora}; macOS has them built in) or give a TrueType/OpenType font "
            "that has them, embedded in the book: make --font FILE, or in ComfyUI Save Storybook's font input "
            "(a file in models/fonts)")


def check_glyphs(texts: Mapping[str, str], fonts: Iterable[Path]) -> None:
    """Raise StorybookError (`refusal`) if a character of `texts` has no glyph in any font the PDF can use."""
    missing = missing_glyphs(texts, fonts)
    if missing:
        raise StorybookError(refusal(missing))
