"""MiniGPT-5 as a library: an LLM that writes text and "generative vokens" that become pictures.

    from minigpt5_core import MiniGPT5, MiniGPT5Config
    model = MiniGPT5.from_pretrained("path/to/model")
    result = model.generate("A fox finds a lantern.", force_image=True, seed=0)
    positive, negative = model.conditioning(result)     # (N,77,D), (1,77,D)
    pictures = model.render_images(result, seed=0)

This package never imports ComfyUI or the storybook (see ARCHITECTURE.md).
"""

from .config import MiniGPT5Config
from .diffusion import ImageGenerator
from .errors import MiniGPT5Error
from .generation import InterleavedResult, TextSegment, VokenSegment
from .model import LossOutput, MiniGPT5
from .prompts import TrainingSample, cc3m_sample, mmdialog_sample, vist_samples

__all__ = [
    "ImageGenerator",
    "InterleavedResult",
    "LossOutput",
    "MiniGPT5",
    "MiniGPT5Config",
    "MiniGPT5Error",
    "TextSegment",
    "TrainingSample",
    "VokenSegment",
    "cc3m_sample",
    "mmdialog_sample",
    "vist_samples",
]
