"""Image input: preprocessing and the frozen encoder (ViT -> Q-Former -> projection).

The official model uses EVA ViT-g/14 + BLIP-2's Q-Former + MiniGPT-4's `llama_proj`; transformers'
BLIP-2 vision model and Q-Former have the same structure (`post_layernorm` is LAVIS' `ln_vision`),
so each image becomes `num_query_tokens` (32) embeddings in the LLM's input space.

Two preprocessing paths, as the official code has them: `pad` (examples/playground.py: the picture on a
white square, then resize) for prompts, and `crop` (its dataset and evaluation loaders: resize the short
side, centre-crop) for reproducing the official training and evaluation inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from einops import rearrange
from PIL import Image
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel, Blip2VisionConfig, Blip2VisionModel

from ..config import VisionConfig
from ..errors import MiniGPT5Error

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# LAVIS' ln_vision is a plain torch LayerNorm (default eps); EVA's own block norms use 1e-6.
LN_VISION_EPS = 1e-5
PREPROCESS_MODES = ("pad", "crop")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparent pixels become white, as a printed page would show them."""
    if not isinstance(image, Image.Image):
        raise MiniGPT5Error(f"expected a PIL image, got {type(image).__name__}")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def expand_to_square(image: Image.Image, color: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """The picture on a `color` square, offset by the floor of half the difference (the official
    `expand2square`; PIL's ImageOps.pad rounds instead and shifts odd differences by one pixel)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new(image.mode, (side, side), color)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def center_crop_square(image: Image.Image, size: int) -> Image.Image:
    """Resize the short side to `size` (bilinear), then cut the centre `size` x `size`, as torchvision's
    Resize(size) + CenterCrop(size) do in the official dataset and evaluation loaders."""
    width, height = image.size
    if width <= height:
        new_w, new_h = size, int(size * height / width)
    else:
        new_w, new_h = int(size * width / height), size
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR) if (new_w, new_h) != image.size else image
    left, top = int(round((new_w - size) / 2.0)), int(round((new_h - size) / 2.0))
    return resized.crop((left, top, left + size, top + size))


def preprocess_images(images: Sequence[Image.Image], size: int, mode: str = "pad") -> torch.Tensor:
    """Square, resize to `size` (bilinear), CLIP-normalise: -> float32 (B, 3, size, size).

    `pad` (default) keeps the whole picture visible to the encoder on a white square, as the official
    playground does; `crop` centre-crops as the official dataset/evaluation path does.
    """
    if mode not in PREPROCESS_MODES:
        raise MiniGPT5Error(f"unknown preprocessing mode {mode!r}; choose one of {', '.join(PREPROCESS_MODES)}")
    if len(images) == 0:
        raise MiniGPT5Error("preprocess_images got no images")
    arrays = []
    for image in images:
        rgb = to_rgb(image)
        if rgb.width == 0 or rgb.height == 0:
            raise MiniGPT5Error("an input image has zero width or height")
        if mode == "pad":
            resized = expand_to_square(rgb).resize((size, size), Image.Resampling.BILINEAR)
        else:
            resized = center_crop_square(rgb, size)
        arrays.append(np.asarray(resized, dtype=np.float32) / 255.0)
    pixels = torch.from_numpy(np.stack(arrays))
    pixels = (pixels - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    return rearrange(pixels, "b h w c -> b c h w").contiguous()


class ImageEncoder(nn.Module):
    """(B, 3, S, S) pixels -> (B, num_query_tokens, llm_hidden) input embeddings for the LLM."""

    def __init__(self, cfg: VisionConfig, llm_hidden_size: int):
        super().__init__()
        self.cfg = cfg
        self.vision_model = Blip2VisionModel(
            Blip2VisionConfig(
                image_size=cfg.image_size, patch_size=cfg.patch_size, hidden_size=cfg.hidden_size,
                intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_layers,
                num_attention_heads=cfg.num_heads, qkv_bias=True, layer_norm_eps=1e-6,
            )
        )
        # the config's eps also sets post_layernorm's, which stands for ln_vision (torch's default eps)
        self.vision_model.post_layernorm.eps = LN_VISION_EPS
        self.query_tokens = nn.Parameter(torch.zeros(1, cfg.num_query_tokens, cfg.qformer_hidden_size))
        nn.init.normal_(self.query_tokens, std=0.02)
        self.qformer = Blip2QFormerModel(
            Blip2QFormerConfig(
                hidden_size=cfg.qformer_hidden_size, num_hidden_layers=cfg.qformer_layers,
                num_attention_heads=cfg.qformer_heads, intermediate_size=cfg.qformer_intermediate_size,
                cross_attention_frequency=cfg.qformer_cross_attention_frequency,
                encoder_hidden_size=cfg.hidden_size,
            )
        )
        self.proj = nn.Linear(cfg.qformer_hidden_size, llm_hidden_size)

    def query_states(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pixels -> (B, num_query_tokens, qformer_hidden): the Q-Former output before projection."""
        dtype = self.proj.weight.dtype
        image_states = self.vision_model(pixel_values=pixel_values.to(dtype)).last_hidden_state
        queries = self.query_tokens.expand(image_states.shape[0], -1, -1)
        return self.qformer(query_embeds=queries, encoder_hidden_states=image_states).last_hidden_state

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.proj(self.query_states(pixel_values))
