"""Pictures at print resolution: every page's picture enlarged by an upscale model before layout.

Stable Diffusion draws 512 px, 60 dpi across an 8.5 in page; print wants 300. ComfyUI users already keep
upscale models (ESRGAN, Real-ESRGAN, SwinIR, ...) in `models/upscale_models/`, and `spandrel`, the library
ComfyUI itself loads them with, recognises the architecture from the weights alone. So `make --upscale FILE`
takes the same file and the same loader, and the book records which file (name, hash, scale) in story.json,
so that `redraw` enlarges a new picture the same way.

spandrel is an optional extra (`pip install minigpt5-storybook[upscale]`): it is imported only here, only
when a book asks for upscaling, and its absence is one line saying what to install.

Tiling: the picture is cut into overlapping tiles of `Tiling.tile` input pixels, each tile is enlarged on its
own and the tiles are blended with weights that fall off linearly across the overlap, so no seam shows. The
overlap, 32 px, is ComfyUI's own for these models (Upscale Image (using Model)); its tile, 512 px, we halve: a
4x ESRGAN's activations at the output scale are 64 channels of (4 x tile)^2 float32 pixels, about 1 GB each at
512 px but 0.27 GB at 256 px, so a 512 -> 2048 px pass (3 x 3 tiles) fits a small GPU or a CPU's memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from storybook.errors import StorybookError
from storybook.filehash import cached_file_sha256
from storybook.manifest import UpscaleInfo

if TYPE_CHECKING:
    import torch

    from storybook.book import StoryInput

INSTALL_HINT = "pip install 'minigpt5-storybook[upscale]' (or: pip install spandrel)"
MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


@dataclass(frozen=True)
class Tiling:
    """How a picture is cut for the model: `tile` input pixels per side, neighbours sharing `overlap`."""

    tile: int = 256
    overlap: int = 32

    def __post_init__(self) -> None:
        if self.tile < 16 or not 0 <= self.overlap < self.tile // 2:
            raise StorybookError(f"tile {self.tile} px with overlap {self.overlap} px: use a tile of at least "
                                 "16 px and an overlap under half the tile")


def _spandrel() -> Any:
    """Import spandrel, or say what to install. spandrel imports torchvision at import time (for
    architectures we do not use), so a missing or broken torchvision is reported as such."""
    try:
        import spandrel
    except ModuleNotFoundError as e:
        if e.name == "spandrel":
            raise StorybookError(f"--upscale needs the spandrel package, which is not installed: {INSTALL_HINT}") \
                from None
        if (e.name or "").startswith("torchvision"):
            raise StorybookError("--upscale needs spandrel, which needs torchvision, which is not installed: "
                                 "install the torchvision build that matches your torch (see pytorch.org; "
                                 "every ComfyUI install has one)") from None
        raise
    except (ImportError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorybookError(f"--upscale needs spandrel, which could not be imported ({first}); this usually "
                             "means torchvision does not match torch: install the torchvision build that "
                             "matches your torch (see pytorch.org)") from None
    return spandrel


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of an upscale model file: safetensors, or a pickle read with weights_only=True (a
    pickle from the internet can run code when unpickled; weights_only refuses anything but tensors)."""
    import pickle

    import torch

    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise StorybookError(f"{path} cannot be read as safetensors ({e}); re-download it") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise StorybookError(f"{path} holds more than tensors, and is only read with torch.load(weights_only="
                             "True) for safety; use a .safetensors or a plain-tensor .pth of the model") from None
    except (RuntimeError, OSError, EOFError) as e:
        raise StorybookError(f"{path} cannot be read as a PyTorch file ({str(e).splitlines()[0]}); it may be "
                             "a TorchScript file or truncated: use the .pth or .safetensors release") from None
    if not isinstance(data, dict):
        raise StorybookError(f"{path} holds no state dict; is it an upscale model?")
    return data


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of `tile` pixels start along a side of `length`, evenly spread so that neighbours
    overlap by at least `overlap`; one tile when the side fits in one."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _ramp(length: int, fade: int) -> np.ndarray:
    """Blend weights along one side of a tile: rising linearly over `fade` pixels at both ends."""
    position = np.arange(length, dtype=np.float32)
    edge = np.minimum(position + 1, length - position)
    return np.minimum(edge / (fade + 1), 1.0) if fade else np.ones(length, dtype=np.float32)


def upscale_array(run: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, scale: int,
                  tiling: Tiling = Tiling(), on_tile: Callable[[], None] | None = None) -> np.ndarray:
    """Enlarge `pixels` (H, W, C float32, 0..1) `scale` times by running `run` on overlapping tiles
    (h, w, C -> h*scale, w*scale, C) and blending them; returns (H*scale, W*scale, C)."""
    height, width, channels = pixels.shape
    out = np.zeros((height * scale, width * scale, channels), dtype=np.float32)
    weight = np.zeros((height * scale, width * scale, 1), dtype=np.float32)
    fade = tiling.overlap * scale
    for top in tile_starts(height, tiling.tile, tiling.overlap):
        for left in tile_starts(width, tiling.tile, tiling.overlap):
            tile = pixels[top:top + tiling.tile, left:left + tiling.tile]
            result = run(tile)
            h, w = result.shape[:2]
            mask = (_ramp(h, fade)[:, None] * _ramp(w, fade)[None, :])[..., None]
            out[top * scale:top * scale + h, left * scale:left * scale + w] += result * mask
            weight[top * scale:top * scale + h, left * scale:left * scale + w] += mask
            if on_tile is not None:
                on_tile()
    return out / weight


def _load_descriptor(path: Path) -> Any:
    """The file's model as spandrel describes it (on the CPU); StorybookError if it is not an image upscaler."""
    if not path.is_file():
        raise StorybookError(f"--upscale {path}: no such file; give an upscale model such as "
                             "RealESRGAN_x4plus.pth (ComfyUI keeps them in models/upscale_models/)")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise StorybookError(f"--upscale {path}: not a model file (use {', '.join(MODEL_SUFFIXES)})")
    spandrel = _spandrel()
    state = spandrel.canonicalize_state_dict(read_weights(path))
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise StorybookError(f"--upscale {path}: spandrel does not recognise this model's architecture; use "
                             "an ESRGAN, Real-ESRGAN, SwinIR, HAT, DAT or other model spandrel supports") from None
    except (RuntimeError, KeyError, ValueError) as e:
        raise StorybookError(f"--upscale {path}: the weights do not fit the architecture they look like "
                             f"({str(e).splitlines()[0]}); the file may be damaged") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.input_channels not in (1, 3):
        raise StorybookError(f"--upscale {path}: a {descriptor.architecture.name} {descriptor.purpose} model, "
                             "not an image upscaler of RGB or grey pictures")
    return descriptor


def _info(path: Path, descriptor: Any) -> UpscaleInfo:
    return UpscaleInfo(model=path.name, sha256="sha256:" + cached_file_sha256(path), scale=descriptor.scale,
                       architecture=descriptor.architecture.name)


def describe(path: str | Path) -> UpscaleInfo:
    """What a book records of an upscale model file (e.g. one ComfyUI's Upscale Image node used). Each save of a
    ComfyUI graph asks again: the answer is kept until the file changes (its size or modification time)."""
    stat = Path(path).stat()
    return replace(_described(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=8)
def _described(path: str, size: int, mtime_ns: int) -> UpscaleInfo:
    """`size` and `mtime_ns` are unused but part of the cache's key: a changed file is described again."""
    return _info(Path(path), _load_descriptor(Path(path)))


class Upscaler:
    """An upscale model loaded with spandrel, and the record of it a book keeps."""

    def __init__(self, descriptor: Any, info: UpscaleInfo, tiling: Tiling):
        self.descriptor, self.info, self.tiling = descriptor, info, tiling

    @classmethod
    def load(cls, path: str | Path, tiling: Tiling = Tiling()) -> Upscaler:
        """Load an upscale model file (raises StorybookError saying what is wrong with it). Runs on the
        GPU when torch has one, else on the CPU, in float32."""
        import torch

        path = Path(path)
        descriptor = _load_descriptor(path)
        descriptor.to(torch.device("cuda" if torch.cuda.is_available() else "cpu")).eval()
        return cls(descriptor, _info(path, descriptor), tiling)

    def _run(self, tile: np.ndarray) -> np.ndarray:
        """One tile through the model, padded to the model's size requirements and cropped back."""
        import torch
        import torch.nn.functional as F

        h, w = tile.shape[:2]
        pad_w, pad_h = self.descriptor.size_requirements.get_padding(w, h)
        x = torch.from_numpy(np.ascontiguousarray(tile)).permute(2, 0, 1).unsqueeze(0).to(self.descriptor.device)
        if pad_w or pad_h:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        with torch.inference_mode():
            y = self.descriptor(x)
        scale = self.descriptor.scale
        return y[0, :, :h * scale, :w * scale].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()

    def tiles(self, size: tuple[int, int]) -> int:
        """How many tiles a picture of `size` (width, height) is cut into."""
        return len(tile_starts(size[0], self.tiling.tile, self.tiling.overlap)) * \
            len(tile_starts(size[1], self.tiling.tile, self.tiling.overlap))

    def upscale(self, image: Image.Image, on_tile: Callable[[], None] | None = None) -> Image.Image:
        """`image` enlarged `scale` times; an alpha channel is enlarged smoothly beside the colours."""
        mode = "L" if self.descriptor.input_channels == 1 else "RGB"
        pixels = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        enlarged = upscale_array(self._run, pixels, self.descriptor.scale, self.tiling, on_tile)
        rgb = (enlarged * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        result = Image.fromarray(rgb[..., 0] if rgb.shape[2] == 1 else rgb)
        if "A" in image.getbands():
            alpha = image.getchannel("A").resize(result.size, Image.Resampling.LANCZOS)
            result = result.convert("RGBA")
            result.putalpha(alpha)
        return result


def open_picture(source: Path | Image.Image) -> Image.Image:
    """A picture in memory, read whole from its file if need be (so the file is closed again)."""
    if isinstance(source, Image.Image):
        return source
    with Image.open(source) as image:
        image.load()
        return image


def upscale_pictures(source: StoryInput, upscaler: Upscaler, *, progress: bool = False) -> None:
    """Enlarge every picture of `source` in place and record the model in its story; each page's
    provenance keeps the picture's size before. A book already enlarged is refused: twice would be
    16x the pixels of a blurrier picture."""
    story = source.story
    if story.upscale is not None:
        raise StorybookError(f"this book's pictures were already upscaled {story.upscale.scale}x with "
                             f"{story.upscale.model}; make it again without --upscale, or from the original "
                             "pictures")
    names = list(dict.fromkeys(page.image for page in story.pages))
    pictures = {name: open_picture(source.images[name]) for name in names}
    bar = tqdm(total=sum(upscaler.tiles(p.size) for p in pictures.values()), desc="upscale", unit="tile",
               disable=None if progress else True)
    with bar:
        for name, picture in pictures.items():
            source.images[name] = upscaler.upscale(picture, bar.update)
    for page in story.pages:
        page.provenance["upscaled_from"] = list(pictures[page.image].size)
    story.upscale = upscaler.info


def check_same_upscaler(recorded: UpscaleInfo | None, upscaler: Upscaler | None, where: str) -> None:
    """For `redraw`: a new picture is enlarged exactly as the book's others were, or not at all."""
    if recorded is None and upscaler is not None:
        raise StorybookError(f"the pictures of {where} are not upscaled, so a redrawn page must not be either; "
                             "leave out --upscale (or upscale the whole book with make --manifest BOOK --out "
                             "BOOK --upscale FILE)")
    if recorded is not None and upscaler is None:
        raise StorybookError(f"the pictures of {where} were upscaled {recorded.scale}x with {recorded.model}; "
                             f"pass --upscale PATH/{recorded.model} so the redrawn page matches them")
    if recorded is not None and upscaler is not None and upscaler.info.sha256 != recorded.sha256:
        raise StorybookError(f"the pictures of {where} were upscaled with {recorded.model} ({recorded.sha256[:19]}"
                             f"...), but --upscale {upscaler.info.model} is a different file "
                             f"({upscaler.info.sha256[:19]}...); pass the same model file")
