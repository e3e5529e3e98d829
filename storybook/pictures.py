"""How each picture is shown: the colour around it, and whether it is scaled crisply or smoothly.

A picture that fills a page whose shape is not its own leaves a strip beside it; painting that strip with
the colour of the picture's own border makes the picture look as if it reached the page edges, without
cropping any of it (the shapes world puts objects near the edges, so cropping would lose them).

Pictures far below print resolution are scaled without interpolation: the bundled model's 32 px pictures
are flat-coloured shapes, and smoothing them up 40 times gives a blur, while square pixels stay sharp
(pixel art is printed the same way). Pictures only somewhat below print resolution, such as Stable
Diffusion's 512 px photos on an A5 page, are smoothed, since their pixels are detail, not flat areas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageStat

MIN_DPI = 300  # print resolution: preflight warns below it
# Below this effective resolution (an eighth of print resolution: every pixel an 8x8 block or larger)
# a picture is scaled nearest-neighbour.
CRISP_BELOW_DPI = MIN_DPI / 8
WHITE = "#ffffff"


@dataclass(frozen=True)
class PictureLook:
    """What the layout needs to know about one picture."""

    pixels: tuple[int, int]
    edge_colour: str  # CSS hex colour: the mean of the picture's outermost pixels


def crisp(pixels: tuple[int, int], printed_width_mm: float) -> bool:
    """True if a picture `pixels` wide, printed `printed_width_mm` wide, is to be scaled nearest-neighbour."""
    return pixels[0] / (printed_width_mm / 25.4) < CRISP_BELOW_DPI


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
