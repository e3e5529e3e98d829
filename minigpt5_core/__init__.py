"""MiniGPT-5 as a library: an LLM that writes text and "generative vokens" that become pictures.

    from minigpt5_core import MiniGPT5, MiniGPT5Config
    model = MiniGPT5.from_pretrained("path/to/model")
    result = model.generate("A fox finds a lantern.", force_image=True, seed=0)
    positive, negative = model.conditioning(result)     # (N,77,D), (1,77,D)
    pictures = model.render_images(result, seed=0)

The layers (ARCHITECTURE.md): small torch-free modules (`config`, `errors`, `prompts`, `tokens`, `layout`);
`io` (files) below `modeling` (the model, the centre); at the edge `train`, `convert`, `data`, `evaluate`
and the toy `shapes` world, which import the centre and never the other way. This package never imports
ComfyUI or the storybook.

The names below are imported on first use, so that `import minigpt5_core.data` or `.layout` (torch-free)
does not pay for torch, transformers and diffusers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_PUBLIC = {
    "ConsistencySettings": ".modeling.consistency",
    "ImageGenerator": ".modeling.diffusion",
    "InterleavedResult": ".modeling.generation",
    "TextSegment": ".modeling.generation",
    "VokenSegment": ".modeling.generation",
    "MiniGPT5": ".modeling.model",
    "StoryResult": ".modeling.story",
    "LossOutput": ".train.losses",
    "MiniGPT5Config": ".config",
    "MiniGPT5Error": ".errors",
    "NoPictureError": ".errors",
    "TrainingSample": ".prompts",
    "cc3m_sample": ".prompts",
    "mmdialog_sample": ".prompts",
    "vist_samples": ".prompts",
}

__all__ = [
    "ConsistencySettings", "ImageGenerator", "InterleavedResult", "LossOutput", "MiniGPT5", "MiniGPT5Config", "MiniGPT5Error",
    "NoPictureError", "StoryResult", "TextSegment", "TrainingSample", "VokenSegment", "cc3m_sample",
    "mmdialog_sample", "vist_samples",
]

if TYPE_CHECKING:
    from .config import MiniGPT5Config
    from .errors import MiniGPT5Error, NoPictureError
    from .modeling.consistency import ConsistencySettings
    from .modeling.diffusion import ImageGenerator
    from .modeling.generation import InterleavedResult, TextSegment, VokenSegment
    from .modeling.model import MiniGPT5
    from .modeling.story import StoryResult
    from .prompts import TrainingSample, cc3m_sample, mmdialog_sample, vist_samples
    from .train.losses import LossOutput


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


# Before any submodule imports diffusers or transformers (see notices.py for what is dropped and why).
from .notices import drop_library_notices  # noqa: E402

drop_library_notices()
