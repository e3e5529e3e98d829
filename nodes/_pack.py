"""The pack's own libraries and the small ComfyUI plumbing every node shares.

Users clone this repository into ``ComfyUI/custom_nodes/`` and install only ``requirements.txt``: the
``minigpt5_core`` and ``storybook`` packages beside ``nodes/`` are then not installed. ComfyUI imports the
pack under a mangled module name, so ``import minigpt5_core`` would fail and a relative import would load
a second copy under another name. ``pack_module`` loads the folder beside ``nodes/`` under its real
top-level name (once; an already imported or ``pip install -e .`` copy is reused), so the library's own
absolute imports and ``isinstance`` checks keep working. Nothing else of the pack becomes importable.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parent.parent


def pack_module(name: str):
    """``minigpt5_core`` or ``storybook``: the copy shipped beside ``nodes/``."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    init = PACK_ROOT / name / "__init__.py"
    if not init.is_file():  # an installed copy (e.g. a wheel of the project without the pack folder)
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def core():
    return pack_module("minigpt5_core")


def core_module(name: str):
    """A submodule of the shipped ``minigpt5_core``, e.g. ``core_module("layout")`` (torch-free)."""
    return importlib.import_module(f"{core().__name__}.{name}")


def storybook():
    return pack_module("storybook")


def storybook_module(name: str):
    """A submodule of the shipped ``storybook``, e.g. ``storybook_module("errors")``."""
    return importlib.import_module(f"{storybook().__name__}.{name}")


class TokenProgress:
    """``on_token`` callback for minigpt5_core: a ComfyUI progress bar and an interrupt check per token.

    ``on_token(n)`` receives the number of tokens generated so far; raising from it aborts generation,
    which is how ComfyUI's cancel button stops a long generation within one token.
    """

    def __init__(self, total: int):
        import comfy.utils

        self.total = max(1, int(total))
        self.bar = comfy.utils.ProgressBar(self.total)

    def __call__(self, n: int) -> None:
        import comfy.model_management

        comfy.model_management.throw_exception_if_processing_interrupted()
        self.bar.update_absolute(min(int(n), self.total), self.total)

    def done(self) -> None:
        self.bar.update_absolute(self.total, self.total)


def images_to_pil(images) -> list:
    """ComfyUI IMAGE (float [B,H,W,C] in 0..1) -> list of PIL images, in batch order."""
    import numpy as np
    from PIL import Image

    if images is None:
        return []
    arrays = (images.detach().float().cpu().clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
    out = []
    for a in arrays:
        if a.shape[-1] == 1:
            a = a[..., 0]
        out.append(Image.fromarray(a))
    return out


def to_conditioning(embeds):
    """(B,77,D) float tensor -> ComfyUI CONDITIONING ``[[cond, {"pooled_output": zeros(B, D)}]]`` on CPU.

    SD 2.x ignores pooled_output, but other nodes (e.g. conditioning combiners) expect it to be there.
    """
    import torch
    import comfy.model_management

    device = comfy.model_management.intermediate_device()
    cond = embeds.detach().to(device=device, dtype=torch.float32).contiguous()
    pooled = torch.zeros(cond.shape[0], cond.shape[-1], dtype=torch.float32, device=device)
    return [[cond, {"pooled_output": pooled}]]
