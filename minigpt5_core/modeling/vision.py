"""Image input: preprocessing and the frozen encoder (ViT -> Q-Former -> projection).

The official model uses EVA ViT-g/14 + BLIP-2's Q-Former + MiniGPT-4's `llama_proj`; transformers'
BLIP-2 vision model and Q-Former have the same structure (`post_layernorm` is LAVIS' `ln_vision`),
so each image becomes `num_query_tokens` (32) embeddings in the LLM's input space.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from einops import rearrange
from PIL import Image, ImageOps
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel, Blip2VisionConfig, Blip2VisionModel

from ..config import VisionConfig
from ..errors import MiniGPT5Error

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparent pixels become white, as a printed page would show them."""
    if not isinstance(image, Image.Image):
        raise MiniGPT5Error(f"expected a PIL image, got {type(image).__name__}")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def preprocess_images(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """Pad to square with white, resize (bilinear), CLIP-normalise: -> float32 (B, 3, size, size).

    Padding instead of cropping keeps the whole picture visible to the encoder, as the official code does.
    """
    if len(images) == 0:
        raise MiniGPT5Error("preprocess_images got no images")
    arrays = []
    for image in images:
        rgb = to_rgb(image)
        if rgb.width == 0 or rgb.height == 0:
            raise MiniGPT5Error("an input image has zero width or height")
        square = ImageOps.pad(rgb, (max(rgb.size),) * 2, color=(255, 255, 255))
        resized = square.resize((size, size), Image.Resampling.BILINEAR)
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
