"""The book's typeface: Andika (SIL, Open Font License), bundled and embedded, with system fallbacks.

Andika was designed for children learning to read (single-storey a and g, clear I/l/1), so it suits a
picture book, and it covers Latin, Greek and Cyrillic in full. Bundling it means a book looks the same on
every machine and in every viewer: the PDF embeds it, and the book folder and the EPUB carry a copy for
the HTML preview and e-readers. Scripts it lacks (Hebrew, Arabic, CJK, emoji) fall back, glyph by glyph,
to the fonts fontconfig finds, named in FALLBACK in order of preference. Emoji are left to fontconfig's
own fallback (which finds Noto Color Emoji): naming an emoji font in the list makes Pango draw digits
with it, since digits may start emoji sequences.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

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


FACES = (
    FontFace("Andika-Regular.ttf", "normal", "normal"),
    FontFace("Andika-Bold.ttf", "bold", "normal"),
    FontFace("Andika-Italic.ttf", "normal", "italic"),
)
FONT_FILES = (*(face.file for face in FACES), LICENCE)  # what a book's fonts/ folder holds


def font_families() -> tuple[str, ...]:
    """The font families in order of preference: the bundled family first, then the fallbacks (the CSS
    templates quote each and end the list with the generic sans-serif)."""
    return (FAMILY, *FALLBACK)


def copy_fonts(folder: Path) -> list[Path]:
    """Copy the font files and their licence into `folder/fonts/`; returns the paths written."""
    target = Path(folder) / FONT_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FONT_FILES:
        shutil.copyfile(FONT_SOURCE / name, target / name)
        written.append(target / name)
    return written
