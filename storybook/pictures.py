"""How each picture is shown: what fills the frame around it, and whether it is scaled crisply or smoothly.

A picture that fills a frame whose shape is not its own leaves strips beside it (`--fit contain`, the
default: nothing of the picture is cropped; the shapes world puts objects near the edges). The strips show a
blurred, enlarged copy of the picture itself (its "backdrop", a small JPEG beside it in the book), so colours
and gradients run on past the picture's edge instead of stopping at a flat bar; under it, the mean colour of
the picture's border is the fallback a viewer without the backdrop shows. `--fit cover` crops instead, around
the centre or the page's focal point, and preflight says how much.

Whether a picture is pixel art is decided from the picture, not from the layout: a tiny source (the bundled
model draws 32 px flat-coloured shapes) is scaled with square pixels, since smoothing it up 40 times gives a
blur; anything larger (VIST's 256 px photos, Stable Diffusion's 512 px) is detail, and is smoothed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageStat

MIN_DPI = 300  # print resolution: preflight warns below it
PIXEL_ART_MAX_PX = 64  # a picture no larger than this either way is pixel art: scaled with square pixels
WHITE = "#ffffff"
BACKDROP_FOLDER = "backdrops"  # inside a book folder: the blurred copies that fill the frame around a picture
_BACKDROP_PX = 48  # the blurred copy is drawn this small (it has no detail) and smoothed up by the viewer
_BACKDROP_BLUR = 4.0


@dataclass(frozen=True)
class PictureLook:
    """What the layout needs to know about one picture."""

    pixels: tuple[int, int]
    edge_colour: str  # CSS hex colour: the mean of the picture's outermost pixels


def pixel_art(pixels: tuple[int, int]) -> bool:
    """True if a picture of `pixels` (width, height) is to be scaled nearest-neighbour (square pixels)."""
    return max(pixels) <= PIXEL_ART_MAX_PX


def backdrop_path(image: str) -> str:
    """Where the backdrop of picture `image` (a path relative to the book folder) is kept in the book."""
    return f"{BACKDROP_FOLDER}/{image}.jpg"


def write_backdrop(source: Path | Image.Image, target: Path) -> Path:
    """Write the blurred copy of a picture that fills its frame around it (a small JPEG: it has no detail)."""
    from PIL import ImageFilter

    image = source if isinstance(source, Image.Image) else Image.open(source)
    try:
        small = image.convert("RGB")
        small.thumbnail((_BACKDROP_PX, _BACKDROP_PX), Image.Resampling.BOX)
        # Pad with the picture's own edge pixels before blurring, so the blur does not pull in black.
        margin = int(2 * _BACKDROP_BLUR)
        padded = Image.new("RGB", (small.width + 2 * margin, small.height + 2 * margin))
        padded.paste(small.resize(padded.size, Image.Resampling.NEAREST))
        padded.paste(small, (margin, margin))
        blurred = padded.filter(ImageFilter.GaussianBlur(_BACKDROP_BLUR)).crop(
            (margin, margin, margin + small.width, margin + small.height))
        target.parent.mkdir(parents=True, exist_ok=True)
        blurred.save(target, "JPEG", quality=80)
    finally:
        if image is not source:
            image.close()
    return target


def _edge_colour(image: Image.Image) -> str:
    rgb = image.convert("RGB")
    w, h = rgb.size
    strips = [rgb.crop(box) for box in ((0, 0, w, 1), (0, h - 1, w, h), (0, 0, 1, h), (w - 1, 0, w, h))]
    sums, count = [0.0, 0.0, 0.0], 0
    for strip in strips:
        stat = ImageStat.Stat(strip)
        n = strip.width * strip.height
        sums = [s + m * n for s, m in zip(sums, stat.mean)]
        count += n
    return "#" + "".join(f"{round(s / count):02x}" for s in sums)


def look_at(source: Path | Image.Image) -> PictureLook:
    """Read a picture (a file or an image in memory) once for its size and edge colour."""
    if isinstance(source, Image.Image):
        return PictureLook(source.size, _edge_colour(source))
    with Image.open(source) as image:
        return PictureLook(image.size, _edge_colour(image))
