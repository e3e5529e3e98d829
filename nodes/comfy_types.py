"""ComfyUI's types and callbacks <-> the libraries' ones: IMAGE to PIL pictures, voken features to
CONDITIONING, and progress bars with interrupt checks for the libraries' progress callbacks.

The one place that knows ComfyUI's conventions, so the node modules only wire library calls together.
torch, numpy and ComfyUI are imported inside the functions: the pack imports without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from PIL import Image


def models_subfolder(key: str) -> list[str]:
    """Register ``<models_dir>/<key>`` under ComfyUI's folder key ``key`` and return every folder of that key.

    ``add_model_folder_path`` appends (and ignores a path it already has): paths a user set in
    extra_model_paths.yaml for the same key stay, first when the yaml was read before the pack loaded (as
    main.py does)."""
    import os

    import folder_paths

    folder_paths.add_model_folder_path(key, os.path.join(folder_paths.models_dir, key))
    return folder_paths.get_folder_paths(key)


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


class ConversionProgress:
    """``progress`` callback of ``minigpt5_core.convert``: a ComfyUI progress bar over the tensors written, and an
    interrupt check per tensor (an interrupted conversion leaves nothing behind: the folder is written atomically)."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int, what: str) -> None:
        import comfy.model_management
        import comfy.utils

        comfy.model_management.throw_exception_if_processing_interrupted()
        if self.bar is None:
            self.bar = comfy.utils.ProgressBar(total)
        self.bar.update_absolute(done, total)


def images_to_pil(images: torch.Tensor | None) -> list[Image.Image]:
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


def to_conditioning(embeds: torch.Tensor) -> list:
    """(B,77,D) float tensor -> ComfyUI CONDITIONING ``[[cond, {"pooled_output": zeros(B, D)}]]`` on CPU.

    SD 2.x ignores pooled_output, but other nodes (e.g. conditioning combiners) expect it to be there.
    """
    import torch
    import comfy.model_management

    device = comfy.model_management.intermediate_device()
    cond = embeds.detach().to(device=device, dtype=torch.float32).contiguous()
    pooled = torch.zeros(cond.shape[0], cond.shape[-1], dtype=torch.float32, device=device)
    return [[cond, {"pooled_output": pooled}]]
