"""The book's typeface: Andika (SIL, Open Font License), bundled and embedded, with system fallbacks.

Andika was designed for children learning to read (single-storey a and g, clear I/l/1), so it suits a
picture book, and it covers Latin, Greek and Cyrillic in full. Bundling it means a book looks the same on
every machine and in every viewer: the PDF embeds it, and the book folder and the EPUB carry a copy for
the HTML preview and e-readers. Scripts it lacks (Hebrew, Arabic, CJK, emoji) fall back, glyph by glyph,
to the fonts fontconfig finds, named in FALLBACK in order of preference. Emoji are left to fontconfig's
own fallback (which finds Noto Color Emoji): naming an emoji font in the list makes Pango draw digits
with it, since digits may start emoji sequences.

A user's own font (`--font FILE`, `BookOptions.fonts`) is copied into the book's fonts/ folder and comes
right after Andika in the list: Andika keeps drawing what it has, the user's font draws what Andika lacks
(a script no system font on the machine covers), and the PDF embeds the subset it used.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from storybook.errors import StorybookError

FONT_SOURCE = Path(__file__).parent / "fonts"
FONT_FOLDER = "fonts"  # inside a book folder and an EPUB
FAMILY = "Andika"
LICENCE = "OFL.txt"
FALLBACK = ("Noto Sans", "DejaVu Sans", "Noto Sans Hebrew", "Noto Naskh Arabic", "Noto Sans CJK SC",
            "Noto Sans CJK JP", "WenQuanYi Zen Hei")


@dataclass(frozen=True)
class FontFace:
    """One file of the family and the CSS weight and style it provides."""

    file: str
    weight: str
    style: str
    family: str = FAMILY


FACES = (
    FontFace("Andika-Regular.ttf", "normal", "normal"),
    FontFace("Andika-Bold.ttf", "bold", "normal"),
    FontFace("Andika-Italic.ttf", "normal", "italic"),
)
FONT_FILES = (*(face.file for face in FACES), LICENCE)  # what a book's fonts/ folder holds


USER_FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc", ".woff", ".woff2")


def user_family(file: str) -> str:
    """The CSS family name a user font file is declared under (its own name could clash with a system font)."""
    return f"Storybook user {Path(file).stem}"


def faces(user_fonts: Sequence[str] = ()) -> tuple[FontFace, ...]:
    """The @font-face rules of a book: Andika's faces, then each user font file (any weight and style)."""
    return (*FACES, *(FontFace(file, "normal", "normal", user_family(file)) for file in user_fonts))


def font_families(user_fonts: Sequence[str] = ()) -> tuple[str, ...]:
    """The font families in order of preference: the bundled family first, then the user's fonts, then the
    fallbacks (the CSS templates quote each and end the list with the generic sans-serif)."""
    return (FAMILY, *(user_family(file) for file in user_fonts), *FALLBACK)


def check_user_font(path: Path) -> str:
    """The file name under which a `--font FILE` is kept in the book; raises StorybookError if it is not a
    font file fontTools can read, or its name is one of the bundled font's."""
    from storybook.glyphs import font_characters

    path = Path(path)
    if not path.is_file():
        raise StorybookError(f"--font {path}: no such file (give a TrueType or OpenType font file)")
    if path.suffix.lower() not in USER_FONT_SUFFIXES or not font_characters(path):
        raise StorybookError(f"--font {path}: not a readable TrueType/OpenType font (give a .ttf, .otf or .ttc file)")
    if path.name in FONT_FILES:
        raise StorybookError(f"--font {path}: the bundled font has a file of this name; rename your copy")
    return path.name


def copy_fonts(folder: Path, user_fonts: Mapping[str, Path] | None = None) -> list[Path]:
    """Copy the font files, their licence and the user's fonts ({name in the book: source file}) into
    `folder/fonts/`; returns the paths written."""
    target = Path(folder) / FONT_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    sources = {**{name: FONT_SOURCE / name for name in FONT_FILES}, **(user_fonts or {})}
    written = []
    for name, source in sources.items():
        shutil.copyfile(source, target / name)
        written.append(target / name)
    return written
